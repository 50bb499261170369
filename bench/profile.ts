// Where a step's time goes: kernels by name (count, total time), the
// heaviest (kernel, shapes) pairs, and how much of the wall time the kernels
// account for. The rest is JavaScript: tape bookkeeping, tidy scopes, tensor
// creation. On tfjs-node the kernels are timed at the addon's executeOp
// (every op, native.ts's included); elsewhere tf.profile times them.
//
// On a shared machine one profiled step catches preemptions that inflate
// random kernels tenfold, so the step is profiled several times and each
// kernel (by position in the step: the sequence is deterministic) gets the
// median of its times.
import * as tf from '@tensorflow/tfjs';
import { median } from './stats.js';

export interface KernelStat {
  name: string;
  count: number;
  ms: number;
}

export interface ShapeStat extends KernelStat {
  inputShapes: string;
}

/** What both sides report: tf.profile here, torch.profiler in torch_model.py (leaf aten ops as kernels). */
export interface StepProfile {
  runs: number;
  wallMs: number;
  kernels: number;
  kernelMs: number;
  byKernel: KernelStat[];
}

export interface KernelProfile extends StepProfile {
  /** What timed the kernels: the addon's executeOp (tfjs-node, every op) or tf.profile (tfjs's kernels only). */
  timer: 'executeOp' | 'tf.profile';
  /** Most bytes held by tensors during a profiled call (tf.profile's peakBytes), MiB. */
  peakMiB: number;
  /** Median wall time of the same call unprofiled (tf.profile's bookkeeping inflates wallMs). */
  plainWallMs?: number;
  /** Profiled calls whose kernel times were combined (per-kernel medians). */
  runs: number;
  /** Median wall time of a profiled call (profiling adds some overhead). */
  wallMs: number;
  /** Backend kernels dispatched per call. */
  kernels: number;
  /** Sum of (median) backend kernel times. */
  kernelMs: number;
  byKernel: KernelStat[];
  topShapes: ShapeStat[];
  /**
   * tf.customGrad forward functions (named 'forward' or 'unnamed scope'):
   * tf.profile records them like kernels, but their time includes the real
   * kernels inside, so they are kept apart from the sums above.
   */
  scopes: KernelStat[];
}

interface Entry {
  name: string;
  inputShapes: string;
  ms: number;
}

async function profileOnce(fn: () => Promise<unknown>): Promise<{ wallMs: number; peakBytes: number; entries: Entry[] }> {
  const t0 = performance.now();
  const info = await tf.profile(async () => {
    await fn();
    return [] as tf.Tensor[];
  });
  const wallMs = performance.now() - t0;
  const entries: Entry[] = [];
  for (const k of info.kernels) {
    const t = await k.kernelTimeMs;
    entries.push({ name: k.name, inputShapes: JSON.stringify(k.inputShapes), ms: typeof t === 'number' ? t : 0 });
  }
  return { wallMs, peakBytes: info.peakBytes, entries };
}

interface NodeBinding {
  executeOp(name: string, attrs: unknown[], inputIds: number[], numOutputs: number): { shape: number[] }[];
  tensorDataSync(id: number): unknown;
}

/**
 * On tfjs-node, every op (tfjs's kernels and rlhf/native.ts's direct ones
 * alike) is one call of the addon's executeOp, and TensorFlow's eager CPU
 * executor runs the kernel inside that call. Timing the calls therefore sees
 * what tf.profile cannot: the native ops, with their C-API dispatch, and host
 * reads (`tensorDataSync`, listed as "(host read)"). Entries are keyed by the
 * first output's shape, since input shapes are not at hand there.
 */
async function profileBindingOnce(backend: { binding: NodeBinding }, fn: () => Promise<unknown>): Promise<{ wallMs: number; entries: Entry[] }> {
  const entries: Entry[] = [];
  const binding = backend.binding;
  // The addon's exports are read-only: the backend gets a stand-in that times two of them.
  const timed: Partial<NodeBinding> = {
    executeOp(name, attrs, ids, n) {
      const t0 = performance.now();
      const out = binding.executeOp(name, attrs, ids, n);
      entries.push({ name, inputShapes: `→ ${JSON.stringify(out[0]?.shape ?? [])}`, ms: performance.now() - t0 });
      return out;
    },
    tensorDataSync(id) {
      const t0 = performance.now();
      const out = binding.tensorDataSync(id);
      entries.push({ name: '(host read)', inputShapes: '', ms: performance.now() - t0 });
      return out;
    },
  };
  // (a Proxy may not change read-only properties either, so a plain copy).
  const standIn: Record<string, unknown> = {};
  for (const key of Object.getOwnPropertyNames(binding)) {
    const v = (binding as unknown as Record<string, unknown>)[key];
    standIn[key] = typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(binding) : v;
  }
  backend.binding = Object.assign(standIn, timed) as unknown as NodeBinding;
  const t0 = performance.now();
  try {
    await fn();
  } finally {
    backend.binding = binding;
  }
  return { wallMs: performance.now() - t0, entries };
}

export async function profileKernels(fn: () => Promise<unknown>, opts: { runs?: number; plainRuns?: number; top?: number } = {}): Promise<KernelProfile> {
  const { runs = 3, plainRuns = 0, top = 15 } = opts;
  const plain: number[] = [];
  for (let i = 0; i < plainRuns; i++) {
    const t0 = performance.now();
    await fn();
    plain.push(performance.now() - t0);
  }
  const binding = tf.getBackend() === 'tensorflow' ? (tf.backend() as unknown as { binding: NodeBinding }) : undefined;
  const all: { wallMs: number; peakBytes?: number; entries: Entry[] }[] = [];
  // tfjs-node: one tf.profile call for the memory peak, then the op timings from the binding.
  const peakBytes = binding ? (await profileOnce(fn)).peakBytes : 0;
  for (let i = 0; i < runs; i++) all.push(binding ? await profileBindingOnce(binding, fn) : await profileOnce(fn));
  const first = all[0]?.entries ?? [];
  // Same kernel sequence every call (it should be): per-position medians; else the first call alone.
  const aligned = all.every((r) => r.entries.length === first.length && r.entries.every((e, i) => e.name === first[i]?.name));
  const entries = aligned ? first.map((e, i) => ({ ...e, ms: median(all.map((r) => (r.entries[i] as Entry).ms)) })) : first;

  const backend = tf.getBackend();
  const byName = new Map<string, KernelStat>();
  const byShape = new Map<string, ShapeStat>();
  const scopes = new Map<string, KernelStat>();
  const add = <T extends KernelStat>(m: Map<string, T>, key: string, make: () => T, ms: number) => {
    const s = m.get(key) ?? make();
    s.count++;
    s.ms += ms;
    m.set(key, s);
  };
  let kernelMs = 0;
  let kernels = 0;
  for (const e of entries) {
    if (!binding && !tf.getKernel(e.name, backend)) {
      add(scopes, e.name, () => ({ name: e.name, count: 0, ms: 0 }), e.ms);
      continue;
    }
    kernels++;
    kernelMs += e.ms;
    add(byName, e.name, () => ({ name: e.name, count: 0, ms: 0 }), e.ms);
    add(byShape, `${e.name} ${e.inputShapes}`, () => ({ name: e.name, inputShapes: e.inputShapes, count: 0, ms: 0 }), e.ms);
  }
  const desc = (a: KernelStat, b: KernelStat) => b.ms - a.ms;
  return {
    runs: aligned ? runs : 1,
    wallMs: median(all.map((r) => r.wallMs)),
    ...(plain.length ? { plainWallMs: median(plain) } : {}),
    timer: binding ? 'executeOp' : 'tf.profile',
    peakMiB: Math.max(peakBytes, ...all.map((r) => r.peakBytes ?? 0)) / 2 ** 20,
    kernels,
    kernelMs,
    byKernel: [...byName.values()].sort(desc),
    topShapes: [...byShape.values()].sort(desc).slice(0, top),
    scopes: [...scopes.values()].sort(desc),
  };
}

/**
 * The fixed cost of one op on the active backend: median µs of an Add of two
 * 1-element tensors (dispatch, tensor bookkeeping, no arithmetic to speak
 * of). kernels per step × this = the floor that fusing ops would lift.
 */
export function dispatchMicros(n = 2000): number {
  const a = tf.tensor1d([1]);
  const b = tf.tensor1d([2]);
  const times: number[] = [];
  for (let rep = 0; rep < 5; rep++) {
    const t0 = performance.now();
    for (let i = 0; i < n; i++) tf.add(a, b).dispose();
    times.push(((performance.now() - t0) * 1e3) / n);
  }
  tf.dispose([a, b]);
  return median(times);
}
