import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { setup, assertClose } from './helpers.js';
import { AdamW, clipByGlobalNorm } from '../../../rlhf/optim.js';
import { lrAt } from '../../../rlhf/schedule.js';

await setup();

function params(): Map<string, tf.Variable> {
  return new Map<string, tf.Variable>([
    ['w', tf.variable(tf.tensor2d([[1, -2]]))],
    ['b', tf.variable(tf.tensor1d([0.5]))],
  ]);
}

const impls = tf.getBackend() === 'tensorflow' ? (['chunked', 'fused'] as const) : (['chunked'] as const);

for (const impl of impls) test(`AdamW (${impl}): two steps match the hand-computed update (bias correction, decoupled decay on matrices only)`, async () => {
  const p = params();
  const opt = new AdamW(p, { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01, impl });
  assert.equal(opt.impl, impl);
  const step = (w: number[], b: number[]) =>
    tf.tidy(() => opt.apply(new Map<string, tf.Tensor>([['w', tf.tensor2d([w])], ['b', tf.tensor1d(b)]]), 0.1));
  step([0.5, -0.1], [0.2]);
  // Step 1: m̂ = g, v̂ = g², so the step is lr·sign(g); w also decays by lr·λ.
  assertClose(await p.get('w')!.data(), [0.899000002, -1.89800001], 1e-6, 0, 'w after 1');
  assertClose(await p.get('b')!.data(), [0.400000005], 1e-6, 0, 'b after 1');
  step([0.2, 0.3], [-0.4]);
  // Computed in float64 from the update rule (PyTorch AdamW).
  assertClose(await p.get('w')!.data(), [0.8082434839009282, -1.9455209911100655], 2e-6, 0, 'w after 2');
  assertClose(await p.get('b')!.data(), [0.43661035654603675], 2e-6, 0, 'b after 2');
  const state = await opt.exportState();
  assert.equal(state.step, 2);
  assertClose(state.m.w!, [0.065, 0.021], 1e-7, 0, 'm');
  // TensorFlow's Adam kernel weighs g² by 1 − float32(β2) = 0.00099998713
  // rather than float32(1 − β2) = 0.001: 1.3e-5 relative, the float32
  // representation of β2 itself.
  assertClose(state.v.w!, [0.00028975, 9.999e-5], 1e-9, 2e-5, 'v');
  assertClose(state.v.b!, [0.00019996], 1e-9, 2e-5, 'v_b');

  // Restoring the state into a fresh optimizer continues identically.
  const q = params();
  for (const [k, v] of p) q.get(k)!.assign(v);
  const opt2 = new AdamW(q, { weightDecay: 0.01, impl });
  opt2.loadState(state);
  const g3 = () => new Map<string, tf.Tensor>([['w', tf.tensor2d([[-0.3, 0.05]])], ['b', tf.tensor1d([0.1])]]);
  tf.tidy(() => opt.apply(g3(), 0.05));
  tf.tidy(() => opt2.apply(g3(), 0.05));
  assert.deepEqual(await q.get('w')!.data(), await p.get('w')!.data());
  assert.deepEqual(await q.get('b')!.data(), await p.get('b')!.data());
  for (const m of [p, q]) for (const v of m.values()) v.dispose();
  opt.dispose();
  opt2.dispose();
});

test('clipByGlobalNorm scales by maxNorm/(norm+1e-6) only when the norm exceeds maxNorm, and returns the pre-clip norm', async () => {
  const grads = new Map<string, tf.Tensor>([
    ['a', tf.tensor1d([3, 4])],
    ['b', tf.tensor2d([[12]])],
  ]);
  const [norm, a, b] = tf.tidy(() => {
    const c = clipByGlobalNorm(grads, 6.5);
    return [c.norm, c.grads.get('a')!, c.grads.get('b')!];
  });
  assertClose(await norm.data(), [13], 1e-5);
  const coef = 6.5 / (13 + 1e-6);
  assertClose(await a.data(), [3 * coef, 4 * coef], 1e-6);
  assertClose(await b.data(), [12 * coef], 1e-6);
  const [norm2, a2] = tf.tidy(() => {
    const c = clipByGlobalNorm(grads, 20);
    return [c.norm, c.grads.get('a')!];
  });
  assertClose(await norm2.data(), [13], 1e-5);
  assert.deepEqual(Array.from(await a2.data()), [3, 4]);
  tf.dispose([norm, a, b, norm2, a2, ...grads.values()]);
});

test('learning-rate schedule: linear warm-up, then cosine or linear decay to the floor', () => {
  const base = { peakLr: 1e-3, warmupSteps: 10, totalSteps: 110, minLr: 1e-4 };
  const cos = { ...base, decay: 'cosine' as const };
  const lin = { ...base, decay: 'linear' as const };
  const close = (a: number, b: number) => assert.ok(Math.abs(a - b) < 1e-15, `${a} vs ${b}`);
  close(lrAt(cos, 0), 1e-4);
  close(lrAt(cos, 4), 5e-4);
  close(lrAt(cos, 9), 1e-3);
  close(lrAt(cos, 10), 1e-3);
  close(lrAt(cos, 35), 1e-4 + 9e-4 * 0.5 * (1 + Math.SQRT1_2));
  close(lrAt(lin, 35), 7.75e-4);
  close(lrAt(cos, 60), 5.5e-4);
  close(lrAt(lin, 60), 5.5e-4);
  close(lrAt(cos, 110), 1e-4);
  close(lrAt(lin, 500), 1e-4);
  close(lrAt({ peakLr: 3e-4, totalSteps: 10, decay: 'constant' }, 7), 3e-4);
  close(lrAt({ peakLr: 2e-3, totalSteps: 4 }, 2), 1e-3); // no warm-up, cosine to 0
});
