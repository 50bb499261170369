import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  clipReward,
  emptyRunningMoments,
  normalizeScores,
  runningStd,
  shapeTokenRewards,
  updateRunningMoments,
} from '../../../rlhf/shaping.js';
import { assertAllClose, assertClose } from './close.js';

// logp = [−1, −2, −0.5], ref = [−1.5, −1, −0.5], β = 0.1, score = 2
// logr = ref − logp = [−0.5, 1, 0]
const base = { score: 2, logprobs: [-1, -2, -0.5], refLogprobs: [-1.5, -1, -0.5], klCoef: 0.1 };

describe('shapeTokenRewards', () => {
  it('k1 (default): KL_t = logp − ref, score on the last token', () => {
    // kl = [0.5, −1, 0]; rewards = −0.1·kl + [0, 0, 2] = [−0.05, 0.1, 2]
    const r = shapeTokenRewards(base);
    assertAllClose(r.kl, [0.5, -1, 0]);
    assertAllClose(r.rewards, [-0.05, 0.1, 2]);
    assert.deepEqual(shapeTokenRewards({ ...base, estimator: 'k1' }), r);
  });

  it('k2: KL_t = ½(logp − ref)²', () => {
    // kl = [0.125, 0.5, 0]; rewards = [−0.0125, −0.05, 2]
    const r = shapeTokenRewards({ ...base, estimator: 'k2' });
    assertAllClose(r.kl, [0.125, 0.5, 0]);
    assertAllClose(r.rewards, [-0.0125, -0.05, 2]);
  });

  it('k3: KL_t = exp(ref − logp) − 1 − (ref − logp)', () => {
    // logr=−0.5: e^−0.5 − 1 + 0.5 = 0.6065306597 − 0.5 = 0.1065306597
    // logr=1:    e − 1 − 1 = 0.7182818285
    // logr=0:    0
    const r = shapeTokenRewards({ ...base, estimator: 'k3' });
    assertAllClose(r.kl, [0.1065306597, 0.7182818285, 0], 1e-10);
    assertAllClose(r.rewards, [-0.01065306597, -0.07182818285, 2], 1e-11);
  });

  it('with β = 0 the rewards are the score on the last token only', () => {
    assertAllClose(shapeTokenRewards({ ...base, klCoef: 0 }).rewards, [0, 0, 2]);
  });

  it('puts the score on a one-token response', () => {
    // kl = −1 − (−1.5) = 0.5; reward = −0.1·0.5 + 3 = 2.95
    assertAllClose(shapeTokenRewards({ score: 3, logprobs: [-1], refLogprobs: [-1.5], klCoef: 0.1 }).rewards, [2.95]);
  });

  it('rejects empty responses, length mismatches, negative β and non-finite scores', () => {
    assert.throws(() => shapeTokenRewards({ ...base, logprobs: [], refLogprobs: [] }), /empty response/);
    assert.throws(() => shapeTokenRewards({ ...base, refLogprobs: [-1] }), /3 logprobs but 1 refLogprobs/);
    assert.throws(() => shapeTokenRewards({ ...base, klCoef: -0.1 }), /klCoef/);
    assert.throws(() => shapeTokenRewards({ ...base, score: Number.NaN }), /score must be finite/);
  });
});

describe('clipReward', () => {
  it('clips to [−clip, clip] and leaves the score alone without a clip', () => {
    assert.equal(clipReward(12, 10), 10);
    assert.equal(clipReward(-12, 10), -10);
    assert.equal(clipReward(3, 10), 3);
    assert.equal(clipReward(123), 123);
    assert.throws(() => clipReward(1, 0), /clip must be > 0/);
  });
});

describe('normalizeScores', () => {
  it("'none' returns a copy and passes the state through", () => {
    const state = { count: 2, mean: 1, m2: 3 };
    const out = normalizeScores([1, 5], 'none', state);
    assert.deepEqual(out, { scores: [1, 5], state });
  });

  it("'batch' standardises with the batch's population std", () => {
    // [1,2,3,4]: μ = 2.5, σ² = 1.25 → (x − 2.5)/sqrt(1.25)
    const s = 1 / Math.sqrt(1.25);
    const out = normalizeScores([1, 2, 3, 4], 'batch', undefined, { eps: 0 });
    assertAllClose(out.scores, [-1.5 * s, -0.5 * s, 0.5 * s, 1.5 * s]);
    assert.equal(out.state, undefined);
  });

  it("'running' updates the moments first (Chan), then standardises; the state survives JSON", () => {
    // batch 1 [1,2,3]: n=3, μ=2, M2=2 → σ²=2/3 → (x−2)/sqrt(2/3) = [−1.2247448714, 0, 1.2247448714]
    const b1 = normalizeScores([1, 2, 3], 'running', undefined, { eps: 0 });
    assert.deepEqual(b1.state, { count: 3, mean: 2, m2: 2 });
    assertAllClose(b1.scores, [-1.2247448714, 0, 1.2247448714], 1e-10);
    // batch 2 [5,7]: n_b=2, μ_b=6, M2_b=2, δ=4 → n=5, μ = 2 + 4·2/5 = 3.6,
    // M2 = 2 + 2 + 16·3·2/5 = 23.2 (check: devs of [1,2,3,5,7] from 3.6 squared sum to 23.2)
    // σ² = 4.64 → [(5 − 3.6), (7 − 3.6)]/sqrt(4.64) = [1.4, 3.4]/2.1540659228
    const restored = JSON.parse(JSON.stringify(b1.state));
    const b2 = normalizeScores([5, 7], 'running', restored, { eps: 0 });
    assert.equal(b2.state!.count, 5);
    assertClose(b2.state!.mean, 3.6);
    assertClose(b2.state!.m2, 23.2, 1e-12);
    assertAllClose(b2.scores, [1.4 / Math.sqrt(4.64), 3.4 / Math.sqrt(4.64)]);
    assertClose(runningStd(b2.state!), Math.sqrt(4.64));
  });

  it('updateRunningMoments is order-independent over batches', () => {
    const a = updateRunningMoments(updateRunningMoments(emptyRunningMoments(), [1, 2, 3]), [5, 7]);
    const b = updateRunningMoments(updateRunningMoments(emptyRunningMoments(), [7]), [3, 1, 5, 2]);
    assertClose(a.mean, b.mean);
    assertClose(a.m2, b.m2, 1e-12);
    assert.deepEqual(updateRunningMoments(a, []), a);
    assert.equal(runningStd(emptyRunningMoments()), 0);
  });
});
