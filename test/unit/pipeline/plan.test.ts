import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseConfig } from '../../../config/load.js';
import { makePlan } from '../../../pipeline/plan.js';
import { epochBatch } from '../../../pipeline/batches.js';

const plan = (overrides: Record<string, unknown> = {}, runName = 'r') =>
  makePlan({ runName, storeUri: 'file:///tmp/s', taskQueue: 'q', config: parseConfig('', 'x.yaml', overrides) });

test('step hashes depend only on what each step reads', () => {
  const base = plan();
  assert.equal(plan({}, 'another-run').steps.sft.hash, base.steps.sft.hash, 'the run name is not an input');
  const ppoKnob = plan({ 'ppo.kl.coef': 0.3, 'reward.contrastive.k': 2 });
  for (const s of ['data', 'sft', 'rewardModel', 'baselineScores'] as const) assert.equal(ppoKnob.steps[s].hash, base.steps[s].hash, `${s} shared across PPO knobs`);
  assert.notEqual(ppoKnob.arms[0]!.hash, base.arms[0]!.hash);
  const rmKnob = plan({ 'reward_model.lr': 0.01 });
  assert.equal(rmKnob.steps.sft.hash, base.steps.sft.hash);
  assert.equal(rmKnob.steps.baselineShards[0]!.hash, base.steps.baselineShards[0]!.hash, 'baselines come from SFT, not the reward model');
  assert.notEqual(rmKnob.steps.baselineScores.hash, base.steps.baselineScores.hash, 'but their scores change');
  const noise = plan({ 'data.label_noise': 0.4 });
  assert.notEqual(noise.steps.data.hash, base.steps.data.hash);
  assert.equal(noise.steps.sft.hash, base.steps.sft.hash, 'label noise only flips preference labels: SFT is shared');
  assert.equal(noise.steps.baselineShards[1]!.hash, base.steps.baselineShards[1]!.hash, 'and so are the baseline samples');
  assert.notEqual(noise.steps.rewardModel.hash, base.steps.rewardModel.hash);
  assert.notEqual(plan({ 'data.sft_examples': 100 }).steps.sft.hash, base.steps.sft.hash);
});

test('real data files are part of the data identity', () => {
  const cfg = parseConfig('task: files\ndata:\n  files:\n    format: hh-rlhf\n    preferences: file:///d/p.jsonl\n', 'x.yaml');
  const at = (modified: string) =>
    makePlan({ runName: 'r', storeUri: 'file:///s', taskQueue: 'q', config: cfg, dataFingerprint: { 'file:///d/p.jsonl': { size: 10, modified } } });
  assert.notEqual(at('2026-01-01').steps.sft.hash, at('2026-01-02').steps.sft.hash);
});

test('the contrastive k changes only the contrastive arm', () => {
  const a = plan();
  const b = plan({ 'reward.contrastive.k': 2 });
  assert.equal(a.arms.find((x) => x.name === 'ppo')!.hash, b.arms.find((x) => x.name === 'ppo')!.hash);
  assert.notEqual(a.arms.find((x) => x.name === 'ppo-cr')!.hash, b.arms.find((x) => x.name === 'ppo-cr')!.hash);
});

test('batches are a pure function of (seed, step): every item once per epoch', () => {
  const items = Array.from({ length: 10 }, (_, i) => i);
  const epoch0 = [0, 1, 2, 3, 4].flatMap((s) => epochBatch(items, 2, s, 7, 'x'));
  assert.deepEqual([...epoch0].sort((x, y) => x - y), items);
  assert.deepEqual(epochBatch(items, 2, 3, 7, 'x'), epochBatch(items, 2, 3, 7, 'x'));
  assert.notDeepEqual(epochBatch(items, 2, 5, 7, 'x').concat(epochBatch(items, 2, 6, 7, 'x')), epoch0.slice(0, 4));
});
