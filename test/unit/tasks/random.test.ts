import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createRng } from '../../../tasks/random.js';

describe('createRng', () => {
  it('gives the same sequence for the same seed and stream', () => {
    const a = createRng(7, 'eval');
    const b = createRng(7, 'eval');
    const xs = Array.from({ length: 50 }, () => a.next());
    assert.deepEqual(Array.from({ length: 50 }, () => b.next()), xs);
  });

  it('gives different sequences for different seeds or streams', () => {
    const first = (seed: number, stream: string) => Array.from({ length: 5 }, ((r) => () => r.next())(createRng(seed, stream)));
    assert.notDeepEqual(first(7, 'eval'), first(8, 'eval'));
    assert.notDeepEqual(first(7, 'eval'), first(7, 'rl'));
  });

  it('draws uniforms in [0, 1) with mean ≈ 1/2 and integers in range', () => {
    const r = createRng(1);
    let sum = 0;
    const n = 20000;
    const counts = [0, 0, 0, 0, 0, 0];
    for (let i = 0; i < n; i++) {
      const u = r.next();
      assert.ok(u >= 0 && u < 1);
      sum += u;
      counts[r.int(6)]!++;
    }
    // mean of n uniforms: sd = sqrt(1/12/n) = 0.00204; allow 5 sd
    assert.ok(Math.abs(sum / n - 0.5) < 0.0102, `mean ${sum / n}`);
    // each face ~ Bin(20000, 1/6): mean 3333, sd 52.7; allow 5 sd
    for (const c of counts) assert.ok(Math.abs(c - n / 6) < 264, `counts ${counts}`);
    for (let i = 0; i < 1000; i++) {
      const k = r.intBetween(3, 8);
      assert.ok(Number.isInteger(k) && k >= 3 && k <= 8);
    }
  });

  it('weighted() follows the weights and shuffle() permutes', () => {
    const r = createRng(2);
    const counts = [0, 0, 0];
    for (let i = 0; i < 10000; i++) counts[r.weighted([0.2, 0, 0.8])]!++;
    assert.equal(counts[1], 0);
    // Bin(10000, 0.2): mean 2000, sd 40; allow 5 sd
    assert.ok(Math.abs(counts[0]! - 2000) < 200, `counts ${counts}`);
    const xs = [1, 2, 3, 4, 5, 6, 7, 8];
    const s = r.shuffle(xs);
    assert.deepEqual([...s].sort(), xs);
    assert.deepEqual(xs, [1, 2, 3, 4, 5, 6, 7, 8], 'input not mutated');
  });

  it('rejects bad arguments', () => {
    assert.throws(() => createRng(Number.NaN), /seed/);
    assert.throws(() => createRng(1).int(0), /positive integer/);
    assert.throws(() => createRng(1).pick([]), /empty/);
    assert.throws(() => createRng(1).weighted([0, 0]), /sum to > 0/);
  });
});
