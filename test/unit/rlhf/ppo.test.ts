import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { setup, slowTest } from './helpers.js';
import { Rng } from '../../../rlhf/rng.js';
import { Tokenizer } from '../../../rlhf/tokenizer.js';
import { PolicyModel, ValueModel } from '../../../rlhf/model.js';
import { SftTrainer, sftBatch } from '../../../rlhf/sft.js';
import { encodePrompt } from '../../../rlhf/batch.js';
import { generate } from '../../../rlhf/sampling.js';
import { baselineStats, type BaselineStats } from '../../../rlhf/contrastive.js';
import { PpoTrainer, type PpoConfig, type PpoMetrics, type PpoPrompt, type RewardFn } from '../../../rlhf/ppo.js';

await setup();

// Task: the prompt is one letter; SFT answers three letters, each the prompt
// letter with probability 1/2 + 1/8, else another. Gold reward = (# of the
// first three letters equal to the prompt letter)/3, −0.5 unless the answer
// has exactly three letters: "ccc" for "c" is the best answer (1.0), SFT
// averages about 0.6. The reward function adds a per-prompt offset, as a
// Bradley-Terry reward model may (research/science-notes.md).
const LETTERS = 'abcd';
const OFFSET: Record<string, number> = { a: 2, b: -1, c: 0.5, d: -2 };
const gold = (prompt: string, response: string) =>
  [...response].slice(0, 3).filter((c) => c === prompt).length / 3 - ([...response].length === 3 ? 0 : 0.5);
const rewardFn: RewardFn = (samples) => samples.map((s) => gold(s.prompt, s.response) + (OFFSET[s.prompt] as number));

const tok = Tokenizer.fit([LETTERS]);
const CFG = { vocabSize: tok.vocabSize, contextLength: 12, dModel: 32, nHeads: 2, nLayers: 2 };
const PROMPTS: PpoPrompt[] = Array.from({ length: 32 }, (_, i) => ({ id: LETTERS[i % 4] as string, text: LETTERS[i % 4] as string }));

async function sftPolicy(): Promise<PolicyModel> {
  const model = new PolicyModel(CFG, new Rng('ppo-sft'));
  const trainer = new SftTrainer(model, { schedule: { peakLr: 1e-2, warmupSteps: 5, totalSteps: 60 } });
  const rng = new Rng('ppo-sft-data');
  const letter = () => LETTERS[rng.int(4)] as string;
  const pair = () => {
    const p = letter();
    const ch = () => (rng.next() < 0.5 ? p : letter());
    return { prompt: p, response: ch() + ch() + ch() };
  };
  for (let s = 0; s < 60; s++) await trainer.step(sftBatch(tok, Array.from({ length: 32 }, pair), CFG.contextLength));
  trainer.dispose();
  return model;
}

function config(rewardMode: 'raw' | 'contrastive'): PpoConfig {
  return {
    rewardMode,
    generation: { maxNewTokens: 5 },
    kl: { kind: 'fixed', coef: 0.05 },
    gamma: 1,
    lambda: 0.95,
    ppoEpochs: 2,
    miniBatchSize: 16,
    policyOptim: { schedule: { peakLr: 1e-3, totalSteps: 1, decay: 'constant' }, optimizer: { weightDecay: 0 } },
    valueOptim: { schedule: { peakLr: 3e-3, totalSteps: 1, decay: 'constant' }, optimizer: { weightDecay: 0 } },
  };
}

let sft: PolicyModel | undefined;
async function sharedSft(): Promise<PolicyModel> {
  sft ??= await sftPolicy();
  return sft;
}

async function runArm(rewardMode: 'raw' | 'contrastive', iterations: number) {
  const base = await sharedSft();
  const policy = base.clone();
  const reference = base.clone();
  const value = new ValueModel(CFG, new Rng('value'));
  value.copyFrom(base);
  let baselines: Map<string, BaselineStats> | undefined;
  if (rewardMode === 'contrastive') {
    // Offline: k = 8 SFT samples per prompt, scored once.
    const g = await generate(base, [...LETTERS].flatMap((l) => Array(8).fill(encodePrompt(tok, l))), new Rng('baseline'), { maxNewTokens: 5 });
    const scores = await rewardFn(g.responses.map((r, i) => ({ promptId: LETTERS[Math.floor(i / 8)]!, prompt: LETTERS[Math.floor(i / 8)]!, response: tok.decode(r), promptIds: [], responseIds: r, finished: true })));
    baselines = new Map([...LETTERS].map((l, j) => [l, baselineStats(l, scores.slice(8 * j, 8 * j + 8))]));
  }
  const trainer = new PpoTrainer({ policy, reference, value, tokenizer: tok, rewardFn, config: config(rewardMode), seed: 'ppo', baselines });
  const history = [];
  for (let it = 0; it < iterations; it++) {
    const { metrics, rollouts } = await trainer.step(PROMPTS);
    history.push({ metrics, gold: rollouts.reduce((s, r) => s + gold(r.prompt, r.response), 0) / rollouts.length, rollouts });
  }
  trainer.dispose();
  for (const m of [policy, reference, value]) m.dispose();
  if (process.env.CRLHF_TEST_LOG) console.log(rewardMode, report(history));
  return history;
}

function report(h: Awaited<ReturnType<typeof runArm>>): string {
  return h.map((x) => `${x.gold.toFixed(2)}/kl ${x.metrics.klMean.toFixed(2)}`).join(' ');
}

test('PPO (raw rewards) raises the gold reward and keeps the KL to the reference bounded', slowTest(), async () => {
  const h = await runArm('raw', 16);
  const start = (h[0]!.gold + h[1]!.gold) / 2;
  const end = h.slice(-4).reduce((s, x) => s + x.gold, 0) / 4;
  assert.ok(end > start + 0.2 && end > 0.75, `gold ${report(h)}`);
  for (const x of h) assert.ok(x.metrics.klMean < 3, `KL ${report(h)}`);
  const m = h.at(-1)!.metrics;
  assert.ok(m.logprobMismatch < 1e-4, `sampling log-probs agree with the forward pass (${m.logprobMismatch})`);
  assert.equal(m.updates, 4);
  assert.ok(m.rolloutMs > 0 && m.updateMs > 0 && m.forwardMs > 0);
  assertPhaseTimings(m);
  // Raw mode: the reward is the score.
  assert.equal(m.rewardMean, m.scoreMean);
});

test('PPO with contrastive rewards raises the gold reward too; the reward is the score minus the baseline mean', slowTest(), async () => {
  const h = await runArm('contrastive', 16);
  const start = (h[0]!.gold + h[1]!.gold) / 2;
  const end = h.slice(-4).reduce((s, x) => s + x.gold, 0) / 4;
  assert.ok(end > start + 0.2 && end > 0.75, `gold ${report(h)}`);
  for (const x of h) assert.ok(x.metrics.klMean < 3, `KL ${report(h)}`);
  for (const r of h[0]!.rollouts) assert.ok(Math.abs(r.reward - (r.score - r.baseline!)) < 1e-12);
  // The per-prompt offsets (std ≈ 1.5) are gone from the contrastive reward.
  assert.ok(h[0]!.metrics.rewardStd < h[0]!.metrics.scoreStd / 2, `reward std ${h[0]!.metrics.rewardStd} vs score std ${h[0]!.metrics.scoreStd}`);
});

test('PPO stops an iteration early once approx KL exceeds the threshold, and fails loudly on bad inputs', async () => {
  const small = { ...CFG, dModel: 16, nLayers: 1 };
  const policy = new PolicyModel(small, new Rng(1));
  const value = new ValueModel(small, new Rng(2));
  const make = (cfg: Partial<PpoConfig>, fn: RewardFn = rewardFn) =>
    new PpoTrainer({ policy, reference: policy.clone(), value, tokenizer: tok, rewardFn: fn, config: { ...config('raw'), ppoEpochs: 4, miniBatchSize: 4, ...cfg }, seed: 3 });
  const early = make({ earlyStopApproxKl: 1e-9, policyOptim: { schedule: { peakLr: 1e-2, totalSteps: 1, decay: 'constant' } } });
  const { metrics } = await early.step(PROMPTS.slice(0, 8));
  assert.equal(metrics.earlyStopped, true);
  assert.ok(metrics.updates <= 2, `updates ${metrics.updates}`);
  const full = make({});
  assert.equal((await full.step(PROMPTS.slice(0, 8))).metrics.updates, 8);
  const contrastive = make({ rewardMode: 'contrastive' });
  await assert.rejects(contrastive.step(PROMPTS.slice(0, 2)), /no baseline for prompt "a"/);
  const short = make({}, () => [1]);
  await assert.rejects(short.step(PROMPTS.slice(0, 2)), /returned 1 scores for 2 samples/);
  const nan = make({}, (s) => s.map(() => NaN));
  await assert.rejects(nan.step(PROMPTS.slice(0, 2)), /reward for prompt "a" is NaN/);
  for (const t of [early, full, contrastive, short, nan]) {
    t.dispose();
    t.reference.dispose();
  }
  policy.dispose();
  value.dispose();
});

test('PPO iterations leave no tensors behind', async () => {
  const small = { ...CFG, dModel: 16, nLayers: 1 };
  const policy = new PolicyModel(small, new Rng(1));
  const reference = policy.clone();
  const value = new ValueModel(small, new Rng(2));
  const trainer = new PpoTrainer({ policy, reference, value, tokenizer: tok, rewardFn, config: { ...config('raw'), generation: { maxNewTokens: 3 } }, seed: 1 });
  await trainer.step(PROMPTS.slice(0, 8));
  const n0 = tf.memory().numTensors;
  for (let i = 0; i < 3; i++) await trainer.step(PROMPTS.slice(0, 8));
  assert.equal(tf.memory().numTensors, n0);
  trainer.dispose();
  for (const m of [policy, reference, value]) m.dispose();
});

test('PPO with old log-probs and entropies from the rollout equals the run that recomputes them with a forward pass (float32 tolerance)', async () => {
  const run = async (recomputeOldLogprobs: boolean) => {
    const policy = new PolicyModel(CFG, new Rng('reuse'));
    const value = new ValueModel(CFG, new Rng('reuse:v'));
    value.copyFrom(policy);
    const trainer = new PpoTrainer({ policy, reference: policy.clone(), value, tokenizer: tok, rewardFn, config: { ...config('raw'), recomputeOldLogprobs }, seed: 'reuse' });
    const out = [];
    for (let i = 0; i < 2; i++) out.push(await trainer.step(PROMPTS.slice(0, 8)));
    const weights = Array.from(await policy.p('h.0.mlp.wfc').data());
    trainer.dispose();
    for (const m of [trainer.policy, trainer.reference, trainer.value]) m.dispose();
    return { out, weights };
  };
  const reuse = await run(false);
  const recompute = await run(true);
  for (let i = 0; i < 2; i++) {
    const [a, b] = [reuse.out[i]!, recompute.out[i]!];
    assert.deepEqual(a.rollouts.map((r) => r.response), b.rollouts.map((r) => r.response), `iteration ${i} rollouts`);
    for (const k of ['scoreMean', 'klMean', 'entropyMean', 'policyLoss', 'valueLoss', 'approxKl', 'explainedVariance'] as const) {
      assert.ok(Math.abs(a.metrics[k] - b.metrics[k]) <= 1e-4 + 1e-4 * Math.abs(b.metrics[k]), `iteration ${i} ${k}: ${a.metrics[k]} vs ${b.metrics[k]}`);
    }
    assert.ok(a.metrics.logprobMismatch < 1e-4 && b.metrics.logprobMismatch < 1e-4, `mismatch ${a.metrics.logprobMismatch} / ${b.metrics.logprobMismatch}`);
    assert.ok(a.metrics.advantageMs >= 0 && a.metrics.forwardMs > 0 && a.metrics.updateMs > 0);
    assertPhaseTimings(a.metrics);
  }
  for (let j = 0; j < reuse.weights.length; j++) assert.ok(Math.abs(reuse.weights[j]! - recompute.weights[j]!) < 1e-4, `weight ${j}`);
});

/** The phase timings are consecutive intervals of one iteration: none negative, together within its total. */
function assertPhaseTimings(m: PpoMetrics): void {
  const phases = [m.rolloutMs, m.scoringMs, m.forwardMs, m.advantageMs, m.updateMs];
  assert.ok(phases.every((x) => Number.isFinite(x) && x >= 0), `phase timings ${phases}`);
  const sum = phases.reduce((a, b) => a + b, 0);
  assert.ok(sum <= m.totalMs + 1e-6, `phases ${sum} ms within the iteration's ${m.totalMs} ms`);
}
