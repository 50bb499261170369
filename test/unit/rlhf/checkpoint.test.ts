import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { setup } from './helpers.js';
import { weightsOf } from './model-helpers.js';
import { Rng } from '../../../rlhf/rng.js';
import { Tokenizer } from '../../../rlhf/tokenizer.js';
import { PolicyModel, ValueModel } from '../../../rlhf/model.js';
import { SftTrainer, sftBatch, type SftStepResult } from '../../../rlhf/sft.js';
import {
  checkpointFromFiles,
  modelFromCheckpoint,
  restoreCheckpoint,
  saveCheckpoint,
  tokenizerFromCheckpoint,
  type Checkpoint,
} from '../../../rlhf/checkpoint.js';
import { PpoTrainer, type PpoConfig, type PpoMetrics, type RewardFn } from '../../../rlhf/ppo.js';

await setup();

const tok = Tokenizer.fit(['abcdefgh ']);
const CFG = { vocabSize: tok.vocabSize, contextLength: 16, dModel: 16, nHeads: 2, nLayers: 2 };
const SFT_CFG = { schedule: { peakLr: 3e-3, warmupSteps: 3, totalSteps: 10, minLr: 1e-4 }, maxGradNorm: 0.5 };

/** Only the bytes travel between "processes": a checkpoint is rebuilt from its files, as the storage layer returns them. */
function viaBytes(ckpt: Checkpoint): Checkpoint {
  const copy: Record<string, Uint8Array> = {};
  for (const [k, v] of Object.entries(ckpt.files)) copy[k] = new Uint8Array(v);
  return checkpointFromFiles(copy);
}

function sftData(rng: Rng) {
  const word = () => Array.from({ length: 1 + rng.int(4) }, () => 'abcdefgh'[rng.int(8)]).join('');
  return sftBatch(tok, Array.from({ length: 8 }, () => ({ prompt: word(), response: word() + ' ' + word() })), CFG.contextLength);
}

test('SFT: N steps, checkpoint, restore into fresh objects, M steps = N+M uninterrupted steps, bit for bit', async () => {
  const N = 4;
  const M = 4;
  // Uninterrupted.
  const a = new PolicyModel(CFG, new Rng('ck'));
  const ta = new SftTrainer(a, SFT_CFG);
  const dataA = new Rng('data');
  const lossesA: SftStepResult[] = [];
  for (let s = 0; s < N + M; s++) lossesA.push(await ta.step(sftData(dataA)));

  // Interrupted after N steps.
  const b = new PolicyModel(CFG, new Rng('ck'));
  const tb = new SftTrainer(b, SFT_CFG);
  const dataB = new Rng('data');
  for (let s = 0; s < N; s++) await tb.step(sftData(dataB));
  const ckpt = viaBytes(
    await saveCheckpoint({ step: tb.stepCount, models: { policy: b }, optimizers: { policy: tb.optimizer }, rngs: { data: dataB }, tokenizer: tok, extra: { note: 'sft' } }),
  );
  tb.dispose();
  b.dispose();
  assert.deepEqual(Object.keys(ckpt.files).sort(), ['meta.json', 'optimizer/policy.f32', 'weights/policy.f32']);
  assert.equal(ckpt.files['weights/policy.f32']!.byteLength, 4 * a.numParams);
  assert.equal(ckpt.files['optimizer/policy.f32']!.byteLength, 8 * a.numParams);

  // A fresh process: everything comes from the checkpoint.
  const c = modelFromCheckpoint(ckpt, 'policy') as PolicyModel;
  assert.equal(c.kind, 'policy');
  assert.deepEqual(tokenizerFromCheckpoint(ckpt).toJSON(), tok.toJSON());
  const tc = new SftTrainer(c, SFT_CFG);
  const restored = restoreCheckpoint(ckpt, { models: { policy: c }, optimizers: { policy: tc.optimizer } });
  assert.equal(restored.step, N);
  assert.deepEqual(restored.extra, { note: 'sft' });
  assert.equal(tc.stepCount, N);
  const dataC = restored.rngs.data!;
  const lossesC: SftStepResult[] = [];
  for (let s = 0; s < M; s++) lossesC.push(await tc.step(sftData(dataC)));

  assert.deepEqual(lossesC, lossesA.slice(N));
  assert.deepEqual(await weightsOf(c), await weightsOf(a));
  const [ea, ec] = [await ta.optimizer.exportState(), await tc.optimizer.exportState()];
  assert.deepEqual(ec, ea);
  for (const x of [ta, tc, a, c]) x.dispose();
});

const LETTERS = 'abcd';
const rewardFn: RewardFn = (samples) => samples.map((s) => [...s.response].filter((ch) => ch === s.prompt).length / 3 + (s.prompt === 'a' ? 1 : 0));
const PPO_CFG: PpoConfig = {
  rewardMode: 'raw',
  generation: { maxNewTokens: 4, topK: 6 },
  kl: { kind: 'adaptive', coef: 0.1, target: 0.5, horizon: 100 },
  ppoEpochs: 2,
  miniBatchSize: 4,
  scoreNormalization: 'running',
  rewardClip: 5,
  policyOptim: { schedule: { peakLr: 1e-3, warmupSteps: 2, totalSteps: 20 } },
  valueOptim: { schedule: { peakLr: 2e-3, totalSteps: 20, decay: 'linear' } },
};
const PROMPTS = Array.from({ length: 8 }, (_, i) => ({ id: `p${i}`, text: LETTERS[i % 4]! }));

function makePpo(seed: string): PpoTrainer {
  const policy = new PolicyModel(CFG, new Rng(`${seed}:policy`));
  const value = new ValueModel(CFG, new Rng(`${seed}:value`));
  value.copyFrom(policy);
  return new PpoTrainer({ policy, reference: policy.clone(), value, tokenizer: tok, rewardFn, config: PPO_CFG, seed: `${seed}:ppo` });
}

function disposePpo(t: PpoTrainer): void {
  t.dispose();
  for (const m of [t.policy, t.reference, t.value]) m.dispose();
}

/** Metrics minus wall-clock timings. */
function numbers(m: PpoMetrics): Partial<PpoMetrics> {
  const { rolloutMs: _r, scoringMs: _s, forwardMs: _f, advantageMs: _a, updateMs: _u, totalMs: _t, ...rest } = m;
  return rest;
}

test('PPO: iterations after a checkpoint/restore into fresh models equal the uninterrupted run (adaptive KL, running score moments)', async () => {
  const a = makePpo('run');
  const full = [];
  for (let i = 0; i < 3; i++) full.push(await a.step(PROMPTS));
  assert.notEqual(full[2]!.metrics.klCoef, full[0]!.metrics.klCoef, 'the adaptive β moved');

  const b = makePpo('run');
  await b.step(PROMPTS);
  const ckpt = viaBytes(await b.saveCheckpoint());
  disposePpo(b);
  assert.deepEqual(Object.keys(ckpt.meta.models).sort(), ['policy', 'reference', 'value']);

  // Different seeds everywhere: everything that matters must come from the checkpoint.
  const c = makePpo('other');
  c.loadCheckpoint(ckpt);
  assert.equal(c.iteration, 1);
  const resumed = [];
  for (let i = 0; i < 2; i++) resumed.push(await c.step(PROMPTS));

  for (let i = 0; i < 2; i++) {
    assert.deepEqual(numbers(resumed[i]!.metrics), numbers(full[i + 1]!.metrics), `iteration ${i + 2}`);
    assert.deepEqual(resumed[i]!.rollouts, full[i + 1]!.rollouts);
  }
  assert.deepEqual(await weightsOf(c.policy), await weightsOf(a.policy));
  assert.deepEqual(await weightsOf(c.value), await weightsOf(a.value));
  disposePpo(a);
  disposePpo(c);
});

test('checkpoints reject mismatched models and report what is missing', async () => {
  const m = new PolicyModel(CFG, new Rng(1));
  const ckpt = await saveCheckpoint({ step: 0, models: { policy: m } });
  const bigger = new PolicyModel({ ...CFG, dModel: 32 }, new Rng(1));
  assert.throws(() => restoreCheckpoint(ckpt, { models: { policy: bigger } }), /h\.0|wte|shape|\[/);
  assert.throws(() => restoreCheckpoint(ckpt, { models: { value: m } }), /no model "value"/);
  assert.throws(() => checkpointFromFiles({}), /meta\.json/);
  const n0 = tf.memory().numTensors;
  restoreCheckpoint(ckpt, { models: { policy: m } });
  assert.equal(tf.memory().numTensors, n0);
  m.dispose();
  bigger.dispose();
});
