import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compareArms, countVerdicts, rates, winRateByBucket, winRateStats } from '../../../judges/metrics.js';
import type { Judgment, Verdict } from '../../../judges/types.js';
import { Rng } from '../../../rlhf/rng.js';
import { assertClose } from '../rlhf/close.js';

const seeded = (seed: number) => {
  const rng = new Rng(seed);
  return () => rng.next();
};
const repeat = (v: Verdict, k: number): Verdict[] => Array.from({ length: k }, () => v);

describe('win/tie/loss rates', () => {
  it('counts errors apart and leaves them out of every rate', () => {
    const c = countVerdicts(['A', 'A', 'A', 'B', 'tie', 'error']);
    assert.deepEqual(c, { wins: 3, ties: 1, losses: 1, errors: 1, n: 5 });
    assert.deepEqual(rates(c), { winRate: 3 / 5, lossRate: 1 / 5, adjustedWinRate: 3.5 / 5 });
  });

  it('gives null rates and intervals when there is no opinion at all', () => {
    const s = winRateStats(['error', 'error'], { rng: seeded(1) });
    assert.deepEqual(
      [s.n, s.errors, s.winRate, s.lossRate, s.adjustedWinRate, s.ci.winRate, s.ci.adjustedWinRate],
      [0, 2, null, null, null, null, null],
    );
  });
});

describe('bootstrap intervals', () => {
  const verdicts: Verdict[] = [...repeat('A', 60), ...repeat('tie', 10), ...repeat('B', 30), ...repeat('error', 5)];

  it('are the same for the same seed and differ for another', () => {
    const a = winRateStats(verdicts, { rng: seeded(7) });
    const b = winRateStats(verdicts, { rng: seeded(7) });
    const c = winRateStats(verdicts, { rng: seeded(8) });
    assert.deepEqual(a, b);
    assert.notDeepEqual(a.ci, c.ci);
    assert.deepEqual([a.ci.level, a.ci.iterations], [0.95, 2000]);
  });

  it('contain the point estimates and match the normal approximation for n = 100', () => {
    const s = winRateStats(verdicts, { rng: seeded(3) });
    assert.deepEqual([s.winRate, s.lossRate, s.adjustedWinRate], [0.6, 0.3, 0.65]);
    for (const [point, ci] of [
      [s.winRate, s.ci.winRate],
      [s.lossRate, s.ci.lossRate],
      [s.adjustedWinRate, s.ci.adjustedWinRate],
    ] as const) {
      assert.ok(ci !== null && point !== null);
      assert.ok(ci[0] < point && point < ci[1], `${point} in ${ci}`);
    }
    // Wald half-width 1.96·sqrt(p(1−p)/n) = 0.0960 for p = 0.6, n = 100; the bootstrap agrees to within sampling noise.
    const half = 1.96 * Math.sqrt((0.6 * 0.4) / 100);
    assertClose(s.ci.winRate![0], 0.6 - half, 0.02);
    assertClose(s.ci.winRate![1], 0.6 + half, 0.02);
  });

  it('collapse to the point when every verdict is the same, and honour level', () => {
    const s = winRateStats(repeat('A', 20), { rng: seeded(1), iterations: 100 });
    assert.deepEqual([s.ci.winRate, s.ci.lossRate, s.ci.adjustedWinRate], [[1, 1], [0, 0], [1, 1]]);
    const wide = winRateStats(verdicts, { rng: seeded(5), level: 0.99 });
    const narrow = winRateStats(verdicts, { rng: seeded(5), level: 0.5 });
    assert.ok(wide.ci.winRate![1] - wide.ci.winRate![0] > narrow.ci.winRate![1] - narrow.ci.winRate![0]);
  });
});

const j = (pairId: string, judge: string, armA: string, armB: string, verdict: Verdict): Judgment => ({
  pairId,
  judge,
  armA,
  armB,
  verdict,
  detail: { kind: 'oracle', goldA: 0, goldB: 0, tolerance: 0 },
});

describe('compareArms', () => {
  it('groups by judge and ordered arms, in order of first appearance', () => {
    const rows = compareArms(
      [
        j('1', 'oracle', 'ppo-cr', 'sft', 'A'),
        j('1', 'llm:m@pair-v1', 'ppo-cr', 'sft', 'tie'),
        j('2', 'oracle', 'ppo-cr', 'sft', 'B'),
        j('1', 'oracle', 'ppo-cr', 'ppo', 'A'),
        j('3', 'oracle', 'ppo-cr', 'sft', 'A'),
        j('2', 'llm:m@pair-v1', 'ppo-cr', 'sft', 'error'),
      ],
      { rng: seeded(1), iterations: 50 },
    );
    assert.deepEqual(
      rows.map((r) => [r.judge, r.armA, r.armB, r.stats.wins, r.stats.ties, r.stats.losses, r.stats.errors]),
      [
        ['oracle', 'ppo-cr', 'sft', 2, 0, 1, 0],
        ['llm:m@pair-v1', 'ppo-cr', 'sft', 0, 1, 0, 1],
        ['oracle', 'ppo-cr', 'ppo', 1, 0, 0, 0],
      ],
    );
  });
});

describe('winRateByBucket', () => {
  it('computes the same statistics per bucket, buckets in natural order', () => {
    const rows = [
      { verdict: 'A' as Verdict, difficulty: 'hard' },
      { verdict: 'B' as Verdict, difficulty: '10' },
      { verdict: 'A' as Verdict, difficulty: '2' },
      { verdict: 'tie' as Verdict, difficulty: '2' },
      { verdict: 'A' as Verdict, difficulty: '10' },
      { verdict: 'A' as Verdict, difficulty: 'easy' },
    ];
    const out = winRateByBucket(rows, (r) => r.difficulty, { rng: seeded(1), iterations: 50 });
    assert.deepEqual(
      out.map((b) => [b.bucket, b.stats.n, b.stats.winRate, b.stats.adjustedWinRate]),
      [
        ['2', 2, 0.5, 0.75],
        ['10', 2, 0.5, 0.5],
        ['easy', 1, 1, 1],
        ['hard', 1, 1, 1],
      ],
    );
  });
});
