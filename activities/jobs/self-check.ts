// The doctor's compute job: proves the tensor backend works in a compute host,
// and that a retried job resumes from its last heartbeat.
import { setTimeout as sleep } from 'node:timers/promises';
import { hostname } from 'node:os';
import type { JobContext } from './types.js';

interface Progress {
  step: number;
  acc: number;
}

export interface SelfCheckInput {
  steps: number;
  stepMs: number;
  /** Milliseconds of synchronous tensor work per step (no yielding), to prove the worker stays responsive. */
  blockMs?: number;
}

export async function selfCheck(input: SelfCheckInput, ctx: JobContext) {
  const { initBackend } = await import('../../rlhf/backend.js');
  const tf = await import('@tensorflow/tfjs');
  const backend = await initBackend();
  const resumed = ctx.heartbeatDetails as Progress | undefined;
  let step = resumed?.step ?? 0;
  let acc = resumed?.acc ?? 0;
  while (step < input.steps) {
    if (ctx.signal.aborted) throw new Error('cancelled');
    if (input.blockMs) {
      const until = Date.now() + input.blockMs;
      const a = tf.randomNormal([128, 128], 0, 1, 'float32', step);
      while (Date.now() < until) tf.tidy(() => tf.matMul(a, a).dataSync());
      a.dispose();
    }
    if (input.stepMs) await sleep(input.stepMs);
    acc = (acc * 31 + step + 1) % 1_000_003;
    step++;
    ctx.heartbeat({ step, acc } satisfies Progress);
  }
  const check = tf.tidy(() => tf.matMul(tf.tensor2d([[1, 2], [3, 4]]), tf.tensor2d([[5], [6]])).dataSync());
  return {
    steps: step,
    resumedFrom: resumed?.step ?? 0,
    attempt: ctx.attempt,
    digest: acc,
    matmulOk: check[0] === 17 && check[1] === 39,
    backend,
    host: `${hostname()}:${process.pid}`,
  };
}
