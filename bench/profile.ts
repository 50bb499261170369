// Where a step's time goes, from tf.profile: kernels by name (count, total
// time), the heaviest (kernel, input shapes) pairs, and how much of the wall
// time the kernels account for. The rest is JavaScript: tape bookkeeping,
// tidy scopes, tensor creation, host reads.
import * as tf from '@tensorflow/tfjs';

export interface KernelStat {
  name: string;
  count: number;
  ms: number;
}

export interface ShapeStat extends KernelStat {
  inputShapes: string;
}

export interface KernelProfile {
  /** Wall time of the profiled call (profiling adds some overhead). */
  wallMs: number;
  /** Kernels dispatched. */
  kernels: number;
  /** Sum of kernel times. */
  kernelMs: number;
  byKernel: KernelStat[];
  topShapes: ShapeStat[];
}

export async function profileKernels(fn: () => Promise<unknown>, top = 15): Promise<KernelProfile> {
  const t0 = performance.now();
  const info = await tf.profile(async () => {
    await fn();
    return [] as tf.Tensor[];
  });
  const wallMs = performance.now() - t0;
  const byName = new Map<string, KernelStat>();
  const byShape = new Map<string, ShapeStat>();
  let kernelMs = 0;
  for (const k of info.kernels) {
    const t = await k.kernelTimeMs;
    const ms = typeof t === 'number' ? t : 0;
    kernelMs += ms;
    const n = byName.get(k.name) ?? { name: k.name, count: 0, ms: 0 };
    n.count++;
    n.ms += ms;
    byName.set(k.name, n);
    const inputShapes = JSON.stringify(k.inputShapes);
    const key = `${k.name} ${inputShapes}`;
    const s = byShape.get(key) ?? { name: k.name, inputShapes, count: 0, ms: 0 };
    s.count++;
    s.ms += ms;
    byShape.set(key, s);
  }
  const desc = (a: KernelStat, b: KernelStat) => b.ms - a.ms;
  return {
    wallMs,
    kernels: info.kernels.length,
    kernelMs,
    byKernel: [...byName.values()].sort(desc),
    topShapes: [...byShape.values()].sort(desc).slice(0, top),
  };
}
