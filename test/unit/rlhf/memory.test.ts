import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { setup } from './helpers.js';
import { Rng } from '../../../rlhf/rng.js';
import { Tokenizer } from '../../../rlhf/tokenizer.js';
import { PolicyModel, RewardModel, ValueModel } from '../../../rlhf/model.js';
import { SftTrainer, evaluateSft, sftBatch } from '../../../rlhf/sft.js';
import { RewardTrainer, evaluatePairs, score } from '../../../rlhf/reward-model.js';
import { generate, sequenceLogprobs, sequenceValues } from '../../../rlhf/sampling.js';
import { buildBatch, encodePrompt } from '../../../rlhf/batch.js';
import { PpoTrainer, rewardModelRewardFn } from '../../../rlhf/ppo.js';
import { restoreCheckpoint } from '../../../rlhf/checkpoint.js';

await setup();

const tok = Tokenizer.fit(['abcxyz']);
const CFG = { vocabSize: tok.vocabSize, contextLength: 16, dModel: 16, nHeads: 2, nLayers: 1 };
const PAIRS = [
  { prompt: 'ab', chosen: 'xx', rejected: 'y' },
  { prompt: 'c', chosen: 'xyz', rejected: 'zz' },
];

/** Runs `body` once to warm up, then `times` more, and asserts no tensors or bytes were left behind. */
async function flat(label: string, times: number, body: () => Promise<unknown>): Promise<void> {
  await body();
  const before = tf.memory();
  for (let i = 0; i < times; i++) await body();
  const after = tf.memory();
  assert.equal(after.numTensors, before.numTensors, `${label}: tensors ${before.numTensors} → ${after.numTensors}`);
  assert.equal(after.numBytes, before.numBytes, `${label}: bytes`);
}

test('tensor count stays flat across SFT, reward-model, generation, PPO and checkpoint calls', async () => {
  const policy = new PolicyModel(CFG, new Rng(1));
  const sft = new SftTrainer(policy, { schedule: { peakLr: 1e-3, totalSteps: 10 } });
  const batch = sftBatch(tok, PAIRS.map((p) => ({ prompt: p.prompt, response: p.chosen })), CFG.contextLength);
  await flat('SFT step + eval', 10, async () => {
    await sft.step(batch);
    await evaluateSft(policy, [batch]);
  });

  const rm = new RewardModel(CFG, new Rng(2));
  const rmTrainer = new RewardTrainer(rm, tok, { schedule: { peakLr: 1e-3, totalSteps: 10 } });
  await flat('RM step + eval + score', 10, async () => {
    await rmTrainer.step(PAIRS);
    await evaluatePairs(rm, tok, PAIRS);
    await score(rm, tok, ['ab'], ['xyz']);
  });

  const value = new ValueModel(CFG, new Rng(3));
  const prompts = ['ab', 'c', 'abc'].map((p) => encodePrompt(tok, p));
  const rng = new Rng(4);
  await flat('generate + log-probs + values', 10, async () => {
    const g = await generate(policy, prompts, rng, { maxNewTokens: 4, topP: 0.9 });
    const b = buildBatch(prompts, g.responses, CFG.contextLength);
    await sequenceLogprobs(policy, b, { entropies: true });
    await sequenceValues(value, b);
  });

  const ppo = new PpoTrainer({
    policy,
    reference: policy.clone(),
    value,
    tokenizer: tok,
    rewardFn: rewardModelRewardFn(rm),
    seed: 5,
    config: {
      rewardMode: 'raw',
      generation: { maxNewTokens: 3 },
      kl: { kind: 'fixed', coef: 0.05 },
      ppoEpochs: 2,
      miniBatchSize: 2,
      policyOptim: { schedule: { peakLr: 1e-4, totalSteps: 10 } },
      valueOptim: { schedule: { peakLr: 1e-4, totalSteps: 10 } },
    },
  });
  const ppoPrompts = ['ab', 'c', 'abc', 'x'].map((text, i) => ({ id: String(i), text }));
  await flat('PPO iteration', 4, () => ppo.step(ppoPrompts));
  await flat('checkpoint save + restore', 3, async () => {
    const ckpt = await ppo.saveCheckpoint();
    ppo.loadCheckpoint(ckpt);
    restoreCheckpoint(ckpt, { models: { policy } });
  });

  for (const x of [sft, rmTrainer, ppo]) x.dispose();
  for (const m of [policy, ppo.reference, value, rm]) m.dispose();
});
