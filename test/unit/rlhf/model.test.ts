import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { setup, assertClose } from './helpers.js';
import { randomizeWeights, weightsOf } from './model-helpers.js';
import { Rng } from '../../../rlhf/rng.js';
import { PolicyModel, RewardModel, ValueModel, cloneWeights, type TransformerConfig } from '../../../rlhf/model.js';
import { batchTensors, buildBatch, lastTokenSelector } from '../../../rlhf/batch.js';
import { sftLoss } from '../../../rlhf/sft.js';
import { namedGrads } from '../../../rlhf/optim.js';

await setup();

const CFG: TransformerConfig = { vocabSize: 7, contextLength: 10, dModel: 8, nHeads: 2, nLayers: 2 };
// Rows of different prompt and response lengths, so the check covers masking and positions.
const BATCH = buildBatch(
  [[1, 5, 3], [1, 6, 5, 4, 3]],
  [[4, 6, 2], [5, 2]],
  CFG.contextLength,
);

test('parameter count and names follow the GPT-2 layout (tied output embedding)', () => {
  const m = new PolicyModel({ vocabSize: 64, contextLength: 128, dModel: 128, nHeads: 4, nLayers: 2 }, new Rng(0));
  const d = 128;
  assert.equal(m.numParams, (64 + 128) * d + 2 * (12 * d * d + 13 * d) + 2 * d);
  assert.ok(m.params.has('h.1.attn.wqkv') && m.params.has('lnf.g') && !m.params.has('lm_head'));
  const v = new ValueModel({ vocabSize: 64, contextLength: 128, dModel: 128, nHeads: 4, nLayers: 2 }, new Rng(0));
  assert.equal(v.numParams, m.numParams + d + 1);
  m.dispose();
  v.dispose();
});

test('init: same seed, same weights; GPT-2 scales; residual projections scaled by 1/sqrt(2·nLayers)', async () => {
  const cfg = { vocabSize: 32, contextLength: 16, dModel: 64, nHeads: 4, nLayers: 3 };
  const a = await weightsOf(new PolicyModel(cfg, new Rng('init')));
  const b = await weightsOf(new PolicyModel(cfg, new Rng('init')));
  const c = await weightsOf(new PolicyModel(cfg, new Rng('other')));
  assert.deepEqual(a, b);
  assert.notDeepEqual(a['wte'], c['wte']);
  const std = (x: Float32Array) => Math.sqrt(x.reduce((s, v) => s + v * v, 0) / x.length);
  assert.ok(Math.abs(std(a['h.0.mlp.wfc']!) - 0.02) < 0.001);
  assert.ok(Math.abs(std(a['h.0.mlp.wproj']!) - 0.02 / Math.sqrt(6)) < 0.0005);
  assert.deepEqual(Array.from(a['h.0.ln1.g']!).every((x) => x === 1), true);
  assert.deepEqual(Array.from(a['h.2.attn.bqkv']!).every((x) => x === 0), true);
  // Pinned first draws: the init is computed in JS, identical on every backend.
  assertClose(a['wte']!.slice(0, 2), PINNED_WTE, 0);
});
const PINNED_WTE = [-0.038832660764455795, 0.005032687913626432];

/** Central finite differences of a scalar f along a direction, against the analytic gradient. */
async function gradCheck(params: Map<string, tf.Variable>, lossFn: () => tf.Scalar, label: string): Promise<void> {
  const names = [...params.keys()];
  const list = tf.tidy(() => {
    const r = namedGrads(lossFn, params);
    return names.map((n) => r.grads.get(n) ?? tf.zeros([0]));
  });
  const grads = new Map(names.map((n, i) => [n, list[i]!]));
  const rng = new Rng(`dir:${label}`);
  const eps = 1e-2;
  for (const [name, p] of params) {
    const g = grads.get(name)!;
    assert.equal(g.size, p.size, `${label}: no gradient for ${name}`);
    const gv = (await g.data()) as Float32Array;
    // Direction: the gradient plus an equal-norm random part, unit length.
    const gnorm = Math.hypot(...gv);
    const r = Array.from({ length: gv.length }, () => rng.normal());
    const rnorm = Math.hypot(...r);
    const u = gv.map((x, i) => x + (gnorm > 0 ? (gnorm * r[i]!) / rnorm : r[i]!));
    const unorm = Math.hypot(...u);
    for (let i = 0; i < u.length; i++) u[i]! /= unorm;
    const analytic = gv.reduce((s, x, i) => s + x * u[i]!, 0);
    const p0 = p.clone();
    const at = async (sign: number) => {
      tf.tidy(() => p.assign(tf.add(p0, tf.mul(tf.tensor(u, p.shape), sign * eps))));
      const l = tf.tidy(lossFn);
      const out = (await l.data())[0]!;
      l.dispose();
      return out;
    };
    const numeric = ((await at(1)) - (await at(-1))) / (2 * eps);
    p.assign(p0);
    p0.dispose();
    // float32 central differences agree to ~1e-4 relative here; a wrong term is off by far more.
    const tol = 3e-4 + 2e-3 * Math.abs(analytic);
    assert.ok(Math.abs(numeric - analytic) <= tol, `${label} ${name}: numeric ${numeric} vs analytic ${analytic}`);
  }
  for (const g of grads.values()) g.dispose();
}

test('finite-difference gradient check: policy LM loss through every weight (padded batch)', async () => {
  const model = new PolicyModel(CFG, new Rng('gc'));
  randomizeWeights(model, new Rng('gc:w'), 0.3);
  await gradCheck(model.params, () => sftLoss(model, BATCH), 'policy');
  model.dispose();
});

test('finite-difference gradient check: reward model score at the last real token', async () => {
  const model = new RewardModel(CFG, new Rng('gc-rm'));
  randomizeWeights(model, new Rng('gc-rm:w'), 0.3);
  const sel = lastTokenSelector(BATCH);
  const loss = () =>
    tf.tidy(() => {
      const h = model.forward(batchTensors(BATCH)).hidden;
      const s = model.scores(h, tf.tensor2d(sel, [BATCH.batchSize, BATCH.seqLen]));
      return tf.sum(tf.mul(s, tf.tensor1d([0.7, -1.3]))) as tf.Scalar;
    });
  await gradCheck(model.params, loss, 'reward');
  model.dispose();
});

test('a row\'s outputs do not depend on the padding the batch gives it', async () => {
  const model = new RewardModel(CFG, new Rng('pad'));
  randomizeWeights(model, new Rng('pad:w'), 0.3);
  const score = async (prompts: number[][], responses: number[][]) => {
    const b = buildBatch(prompts, responses, CFG.contextLength);
    const s = tf.tidy(() => model.scores(model.forward(batchTensors(b)).hidden, tf.tensor2d(lastTokenSelector(b), [b.batchSize, b.seqLen])));
    const out = Array.from(await s.data());
    s.dispose();
    return out;
  };
  const both = await score([[1, 5, 3], [1, 6, 5, 4, 3]], [[4, 6, 2], [5, 2]]);
  assertClose([(await score([[1, 5, 3]], [[4, 6, 2]]))[0]!, (await score([[1, 6, 5, 4, 3]], [[5, 2]]))[0]!], both, 2e-5);
  model.dispose();
});

test('cloneWeights: reference = exact copy; value/reward models take the trunk and keep a fresh head', async () => {
  const policy = new PolicyModel(CFG, new Rng('sft'));
  randomizeWeights(policy, new Rng('sft:w'), 0.1);
  const ref = policy.clone();
  assert.deepEqual(await weightsOf(ref), await weightsOf(policy));
  const value = new ValueModel(CFG, new Rng('v'));
  const head = Array.from(await value.p('head.w').data());
  const copied = cloneWeights(policy, value);
  assert.equal(copied.length, policy.params.size);
  const vw = await weightsOf(value);
  for (const [name, w] of Object.entries(await weightsOf(policy))) assert.deepEqual(vw[name], w, name);
  assert.deepEqual(Array.from(vw['head.w']!), head);
  // A frozen model yields no gradients, so it cannot be trained by accident.
  ref.freeze();
  assert.throws(() => tf.tidy(() => namedGrads(() => tf.sum(ref.p('wte')) as tf.Scalar, ref.params).value), /trainable/);
  // The copy is independent of the source.
  policy.p('wte').assign(tf.zerosLike(policy.p('wte')));
  assert.notDeepEqual(await ref.p('wte').data(), await policy.p('wte').data());
  for (const m of [policy, ref, value]) m.dispose();
});
