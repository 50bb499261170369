import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fitLogistic1d, lengthControlledWinRate, type LengthRow } from '../../../judges/metrics.js';
import type { Verdict } from '../../../judges/types.js';
import { assertClose } from '../rlhf/close.js';

const rows = (k: number, verdict: Verdict, lenA: number, lenB: number): LengthRow[] => Array.from({ length: k }, () => ({ verdict, lenA, lenB }));

describe('length-controlled win rate', () => {
  it('equals the adjusted win rate when lengths do not differ', () => {
    const data = [...rows(6, 'A', 100, 100), ...rows(2, 'tie', 50, 50), ...rows(2, 'B', 80, 80), ...rows(3, 'error', 1, 900)];
    const r = lengthControlledWinRate(data);
    assertClose(r.lcWinRate!, 0.7, 1e-9);
    assert.equal(r.rawWinRate, 0.7);
    assert.deepEqual([r.n, r.sdDeltaLen, r.converged], [10, 0, true]);
    assertClose(r.w1, 0, 1e-12);
    const dropped = lengthControlledWinRate(data, { ties: 'drop' });
    assertClose(dropped.lcWinRate!, 0.75, 1e-9);
    assert.equal(dropped.n, 8);
  });

  // A wins 24 of the 30 pairs where it is longer and 4 of the 10 where it is shorter.
  const lengthBiased = [...rows(24, 'A', 300, 100), ...rows(6, 'B', 300, 100), ...rows(4, 'A', 100, 300), ...rows(6, 'B', 100, 300)];

  it('matches the closed-form MLE without a penalty', () => {
    // Two values of x = ±c: σ(w0 ± w1·c) = 0.8 and 0.4, so w0 = (logit 0.8 + logit 0.4)/2 = ½·ln(8/3).
    const r = lengthControlledWinRate(lengthBiased, { l2: 0 });
    assert.ok(r.converged);
    assertClose(r.w0, 0.5 * Math.log(8 / 3), 1e-9);
    assertClose(r.lcWinRate!, 1 / (1 + Math.sqrt(3 / 8)), 1e-9);
    assert.equal(r.rawWinRate, 0.7);
  });

  it('is below the raw rate when the winner is systematically longer', () => {
    const r = lengthControlledWinRate(lengthBiased);
    assert.ok(r.converged);
    assert.ok(r.w1 > 0);
    assert.ok(r.lcWinRate! < 0.7 && r.lcWinRate! > 1 / (1 + Math.sqrt(3 / 8)), String(r.lcWinRate));
  });

  it('is above the raw rate when the arm is mostly shorter under a judge that likes length', () => {
    // A is shorter in 30 pairs and wins 12 of them; longer in 10 and wins 8: raw 0.5.
    const shorter = [...rows(12, 'A', 100, 300), ...rows(18, 'B', 100, 300), ...rows(8, 'A', 300, 100), ...rows(2, 'B', 300, 100)];
    const r = lengthControlledWinRate(shorter);
    assert.equal(r.rawWinRate, 0.5);
    assert.ok(r.w1 > 0);
    assert.ok(r.lcWinRate! > 0.5, String(r.lcWinRate));
    assertClose(lengthControlledWinRate(shorter, { l2: 0 }).lcWinRate!, 1 / (1 + Math.sqrt(3 / 8)), 1e-9);
  });

  it('the penalty pulls the estimate toward the raw rate', () => {
    const lc = (l2: number) => lengthControlledWinRate(lengthBiased, { l2 }).lcWinRate!;
    assert.ok(lc(0) < lc(1) && lc(1) < lc(100) && lc(100) < 0.7);
  });

  it('handles no usable rows and one-sided outcomes', () => {
    assert.equal(lengthControlledWinRate(rows(2, 'error', 1, 2)).lcWinRate, null);
    assert.equal(lengthControlledWinRate([...rows(3, 'A', 10, 1), ...rows(2, 'A', 1, 10)]).lcWinRate, 1);
    assert.equal(lengthControlledWinRate([...rows(3, 'B', 10, 1), ...rows(2, 'tie', 1, 10)], { ties: 'drop' }).lcWinRate, 0);
  });
});

describe('fitLogistic1d', () => {
  it('fits soft labels: y = ½ everywhere gives w0 = w1 = 0', () => {
    const fit = fitLogistic1d([-1, -0.5, 0.5, 1], [0.5, 0.5, 0.5, 0.5], 0);
    assert.ok(fit.converged);
    assertClose(fit.w0, 0, 1e-12);
    assertClose(fit.w1, 0, 1e-12);
  });

  it('sets the gradient to zero at the optimum (penalised)', () => {
    const x = [-0.9, -0.2, 0.1, 0.4, 0.8, 0.95];
    const y = [0, 1, 0, 1, 1, 0.5];
    const l2 = 0.3;
    const { w0, w1 } = fitLogistic1d(x, y, l2);
    let g0 = 0;
    let g1 = l2 * w1;
    x.forEach((xi, i) => {
      const r = 1 / (1 + Math.exp(-(w0 + w1 * xi))) - y[i]!;
      g0 += r;
      g1 += r * xi;
    });
    assertClose(g0, 0, 1e-9);
    assertClose(g1, 0, 1e-9);
  });
});
