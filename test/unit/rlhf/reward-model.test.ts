import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { setup, assertClose, slowTest } from './helpers.js';
import { Rng } from '../../../rlhf/rng.js';
import { Tokenizer } from '../../../rlhf/tokenizer.js';
import { RewardModel } from '../../../rlhf/model.js';
import { bradleyTerryLoss } from '../../../rlhf/losses.js';
import { RewardTrainer, evaluatePairs, score, type PreferencePair } from '../../../rlhf/reward-model.js';

await setup();

test('Bradley-Terry loss and gradient on hand-computed numbers, stable at large margins', async () => {
  const chosen = tf.tensor1d([2, 0.5, 100, -100]);
  const rejected = tf.tensor1d([1, 1.5, 0, 0]);
  // margins d = [1, −1, 100, −100]; loss = mean softplus(−d); ∂/∂chosen_i = −σ(−d_i)/n.
  const sp1 = Math.log1p(Math.exp(-1));
  const expectLoss = (sp1 + (1 + sp1) + 0 + 100) / 4;
  const sig = (x: number) => 1 / (1 + Math.exp(-x));
  const expectGrad = [1, -1, 100, -100].map((d) => -sig(-d) / 4);
  const { value, grads } = tf.valueAndGrads((c: tf.Tensor, r: tf.Tensor) => bradleyTerryLoss(c as tf.Tensor1D, r as tf.Tensor1D))([chosen, rejected]);
  assertClose(await value.data(), [expectLoss], 1e-5, 1e-6, 'loss');
  assertClose(await grads[0]!.data(), expectGrad, 1e-7, 1e-5, 'd/dchosen');
  assertClose(await grads[1]!.data(), expectGrad.map((g) => -g), 1e-7, 1e-5, 'd/drejected');
  tf.dispose([chosen, rejected, value, ...grads]);
});

// Planted preference: responses over {a, b}; more a's is better.
function makePairs(rng: Rng, n: number): PreferencePair[] {
  const pairs: PreferencePair[] = [];
  const str = (len: number, alphabet: string) => Array.from({ length: len }, () => alphabet[rng.int(alphabet.length)]).join('');
  while (pairs.length < n) {
    const x = str(3, 'xyz');
    const y1 = str(6, 'ab');
    const y2 = str(6, 'ab');
    const a1 = y1.split('a').length;
    const a2 = y2.split('a').length;
    if (a1 === a2) continue;
    pairs.push(a1 > a2 ? { prompt: x, chosen: y1, rejected: y2 } : { prompt: x, chosen: y2, rejected: y1 });
  }
  return pairs;
}

test('the reward model learns a planted preference (held-out pairwise accuracy > 0.9)', slowTest(), async () => {
  const rng = new Rng('rm-task');
  const train = makePairs(rng, 640);
  const heldOut = makePairs(rng, 200);
  const tok = Tokenizer.fit(['xyzab']);
  const model = new RewardModel({ vocabSize: tok.vocabSize, contextLength: 16, dModel: 32, nHeads: 2, nLayers: 2 }, new Rng('rm'));
  const before = await evaluatePairs(model, tok, heldOut);
  const trainer = new RewardTrainer(model, tok, { schedule: { peakLr: 3e-3, warmupSteps: 5, totalSteps: 40, minLr: 3e-4 }, optimizer: { weightDecay: 0 } });
  let last = await trainer.step(train.slice(0, 16));
  // Counted after the first step, which splits the optimizer's moments over
  // the data-parallel ranks (parallel/sharded.ts): this thread keeps fewer.
  const n0 = tf.memory().numTensors;
  for (let s = 1; s < 40; s++) last = await trainer.step(train.slice((s % 40) * 16, (s % 40) * 16 + 16));
  assert.equal(tf.memory().numTensors, n0, 'no tensors leak across steps');
  const after = await evaluatePairs(model, tok, heldOut);
  assert.ok(after.accuracy > 0.9, `held-out accuracy ${after.accuracy} (before ${before.accuracy}), last train loss ${last.loss}`);
  assert.ok(after.meanMargin > before.meanMargin && after.meanMargin > 0.5, `margin ${after.meanMargin}`);
  assert.ok(after.loss < 0.4, `held-out loss ${after.loss}`);
  // score() agrees with the gold preference on a clear case, and is batched consistently.
  const s = await score(model, tok, ['xyz', 'xyz', 'zzz'], ['aaaaaa', 'bbbbbb', 'aaaaab'], { batchSize: 2 });
  assert.ok(s[0]! > s[1]!, `scores ${s}`);
  const single = await score(model, tok, ['zzz'], ['aaaaab']);
  assertClose(single, [s[2]!], 1e-5);
  trainer.dispose();
  model.dispose();
});
