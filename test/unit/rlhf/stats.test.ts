import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { bootstrapMeanCI, explainedVariance, mean, quantile, std, variance } from '../../../rlhf/stats.js';
import { assertClose } from './close.js';

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('moments', () => {
  it('mean, population variance and std', () => {
    // [1,2,3,4]: μ = 2.5, Σdev² = 2.25+0.25+0.25+2.25 = 5, σ² = 5/4
    assert.equal(mean([1, 2, 3, 4]), 2.5);
    assert.equal(variance([1, 2, 3, 4]), 1.25);
    assert.equal(std([1, 2, 3, 4]), Math.sqrt(1.25));
    assert.equal(variance([7]), 0);
    assert.throws(() => mean([]), /empty/);
  });
});

describe('explainedVariance', () => {
  it('is 1 − Var(R − V)/Var(R) over all tokens', () => {
    // R = [1.5, 2, 2], V = [1, 2, 3]; R − V = [0.5, 0, −1]
    // Var(R − V) = (0.25 + 0 + 1)/3 − (−1/6)² = 15/36 − 1/36 = 14/36
    // Var(R) = (2.25 + 4 + 4)/3 − (5.5/3)² = 30.75/9 − 30.25/9 = 0.5/9 = 2/36
    // EV = 1 − 14/2 = −6
    assertClose(explainedVariance([[1, 2], [3]], [[1.5, 2], [2]]), -6, 1e-12);
    assert.equal(explainedVariance([[1, 2], [3]], [[1, 2], [3]]), 1);
  });

  it('is NaN for constant returns and rejects ragged mismatches', () => {
    assert.ok(Number.isNaN(explainedVariance([[1, 2]], [[3, 3]])));
    assert.throws(() => explainedVariance([[1, 2]], [[3]]), /row 0/);
    assert.throws(() => explainedVariance([[1]], []), /rows/);
  });
});

describe('quantile', () => {
  // sorted: [−1, 0, 0.5, 1, 2, 3, 4, 7], n − 1 = 7
  const xs = [0.5, 2, -1, 4, 0, 7, 1, 3];
  it('interpolates linearly (numpy default)', () => {
    assert.equal(quantile(xs, 0), -1);
    assert.equal(quantile(xs, 1), 7);
    assert.equal(quantile(xs, 0.5), 1.5); // h = 3.5 → 1 + 0.5·(2 − 1)
    assertClose(quantile(xs, 0.25), 0.375); // h = 1.75 → 0 + 0.75·0.5
    assertClose(quantile(xs, 0.9), 4.9); // h = 6.3 → 4 + 0.3·3
    assert.equal(quantile([5], 0.3), 5);
    assert.deepEqual(xs, [0.5, 2, -1, 4, 0, 7, 1, 3], 'input not mutated');
  });
  it('rejects q outside [0, 1] and empty input', () => {
    assert.throws(() => quantile(xs, 1.1), /q must be in/);
    assert.throws(() => quantile([], 0.5), /empty/);
  });
});

describe('bootstrapMeanCI', () => {
  it('takes percentile bounds of resampled means (scripted rng)', () => {
    // xs = [0, 10], 3 resamples of 2 draws, index = ⌊u·2⌋:
    //   u = 0, 0.5 → [0, 10] → 5;  u = 0.5, 0.5 → 10;  u = 0, 0 → 0
    // sorted means [0, 5, 10]; α = 0.5: q = 0.25 → h = 0.5 → 2.5; q = 0.75 → h = 1.5 → 7.5
    const us = [0, 0.5, 0.5, 0.5, 0, 0];
    let i = 0;
    const ci = bootstrapMeanCI([0, 10], () => us[i++]!, 3, 0.5);
    assert.deepEqual(ci, { mean: 5, lo: 2.5, hi: 7.5, alpha: 0.5, iters: 3 });
  });

  it('is reproducible with a seeded rng and brackets the mean', () => {
    const xs = [1, 4, 2, 8, 5, 7, 3, 6, 9, 0];
    const a = bootstrapMeanCI(xs, mulberry32(42), 500, 0.05);
    const b = bootstrapMeanCI(xs, mulberry32(42), 500, 0.05);
    assert.deepEqual(a, b);
    assert.equal(a.mean, 4.5);
    assert.ok(a.lo < 4.5 && 4.5 < a.hi, JSON.stringify(a));
    // The bootstrap SE of the mean is σ/√n = 2.8723/3.1623 ≈ 0.908, so the 95% bounds sit near 4.5 ∓ 1.78.
    assert.ok(a.lo > 2 && a.hi < 7, JSON.stringify(a));
  });

  it('rejects bad arguments', () => {
    assert.throws(() => bootstrapMeanCI([], Math.random), /empty/);
    assert.throws(() => bootstrapMeanCI([1], Math.random, 0), /iters/);
    assert.throws(() => bootstrapMeanCI([1], Math.random, 10, 1), /alpha/);
  });
});
