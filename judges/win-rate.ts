// Win/tie/loss statistics as MT-Bench reports them (fastchat/llm_judge
// show_result.py): errors are counted but left out of every rate, win rate =
// W/(W+T+L), loss rate = L/(W+T+L), adjusted win rate = (W + T/2)/(W+T+L);
// with percentile-bootstrap confidence intervals over pairs.
import type { Judgment, Verdict } from './types.js';

export interface VerdictCounts {
  wins: number;
  ties: number;
  losses: number;
  errors: number;
  /** W + T + L: the denominator of every rate. */
  n: number;
}

export interface Rates {
  /** null when n = 0. */
  winRate: number | null;
  lossRate: number | null;
  adjustedWinRate: number | null;
}

export type Interval = [lo: number, hi: number];

export interface WinRateStats extends VerdictCounts, Rates {
  ci: {
    level: number;
    iterations: number;
    /** null when n = 0. */
    winRate: Interval | null;
    lossRate: Interval | null;
    adjustedWinRate: Interval | null;
  };
}

export interface BootstrapOptions {
  /** Uniform [0, 1) source; seed it from the run config so intervals are reproducible. */
  rng: () => number;
  /** Bootstrap resamples; 2000 by default. */
  iterations?: number;
  /** Coverage of the interval; 0.95 by default. */
  level?: number;
}

export function countVerdicts(verdicts: Iterable<Verdict>): VerdictCounts {
  let wins = 0;
  let ties = 0;
  let losses = 0;
  let errors = 0;
  for (const v of verdicts) {
    if (v === 'A') wins++;
    else if (v === 'B') losses++;
    else if (v === 'tie') ties++;
    else errors++;
  }
  return { wins, ties, losses, errors, n: wins + ties + losses };
}

export function rates(c: Pick<VerdictCounts, 'wins' | 'ties' | 'losses'>): Rates {
  const n = c.wins + c.ties + c.losses;
  if (n === 0) return { winRate: null, lossRate: null, adjustedWinRate: null };
  return { winRate: c.wins / n, lossRate: c.losses / n, adjustedWinRate: (c.wins + 0.5 * c.ties) / n };
}

/** Quantile q of ascending `sorted` by linear interpolation between order statistics (Hyndman & Fan type 7, R's default). */
export function quantileSorted(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) throw new RangeError('quantile of an empty sample');
  const h = (sorted.length - 1) * q;
  const lo = Math.floor(h);
  const a = sorted[lo] as number;
  const b = sorted[Math.min(lo + 1, sorted.length - 1)] as number;
  return a + (h - lo) * (b - a);
}

/**
 * Percentile bootstrap: resample the n non-error verdicts with replacement
 * `iterations` times and take the (1±level)/2 quantiles of each rate.
 */
export function winRateStats(verdicts: readonly Verdict[], opts: BootstrapOptions): WinRateStats {
  const iterations = opts.iterations ?? 2000;
  const level = opts.level ?? 0.95;
  const counts = countVerdicts(verdicts);
  const point = rates(counts);
  const ci: WinRateStats['ci'] = { level, iterations, winRate: null, lossRate: null, adjustedWinRate: null };
  if (counts.n === 0) return { ...counts, ...point, ci };

  // 2 = win, 1 = tie, 0 = loss: the three rates follow from the counts of a resample.
  const codes = verdicts.filter((v) => v !== 'error').map((v) => (v === 'A' ? 2 : v === 'tie' ? 1 : 0));
  const n = codes.length;
  const win = new Float64Array(iterations);
  const loss = new Float64Array(iterations);
  const adjusted = new Float64Array(iterations);
  for (let it = 0; it < iterations; it++) {
    let w = 0;
    let t = 0;
    for (let i = 0; i < n; i++) {
      const code = codes[Math.floor(opts.rng() * n)];
      if (code === 2) w++;
      else if (code === 1) t++;
    }
    win[it] = w / n;
    loss[it] = (n - w - t) / n;
    adjusted[it] = (w + 0.5 * t) / n;
  }
  const lo = (1 - level) / 2;
  const hi = 1 - lo;
  const interval = (xs: Float64Array): Interval => {
    xs.sort();
    return [quantileSorted(xs, lo), quantileSorted(xs, hi)];
  };
  ci.winRate = interval(win);
  ci.lossRate = interval(loss);
  ci.adjustedWinRate = interval(adjusted);
  return { ...counts, ...point, ci };
}

export interface ArmComparison {
  judge: string;
  armA: string;
  armB: string;
  stats: WinRateStats;
}

/**
 * One row per (judge, armA, armB), in order of first appearance. Arms are
 * taken as given: a judgment with the arms the other way round is a different
 * comparison, so callers keep the canonical order (A = candidate).
 */
export function compareArms(judgments: readonly Judgment[], opts: BootstrapOptions): ArmComparison[] {
  const groups = new Map<string, { judge: string; armA: string; armB: string; verdicts: Verdict[] }>();
  for (const j of judgments) {
    const key = JSON.stringify([j.judge, j.armA, j.armB]);
    let g = groups.get(key);
    if (!g) {
      g = { judge: j.judge, armA: j.armA, armB: j.armB, verdicts: [] };
      groups.set(key, g);
    }
    g.verdicts.push(j.verdict);
  }
  return [...groups.values()].map(({ verdicts, ...who }) => ({ ...who, stats: winRateStats(verdicts, opts) }));
}

export interface BucketStats {
  bucket: string;
  stats: WinRateStats;
}

/** The same statistics per bucket (e.g. prompt difficulty), buckets in ascending order of their names. */
export function winRateByBucket<T extends { verdict: Verdict }>(
  rows: readonly T[],
  bucketOf: (row: T) => string,
  opts: BootstrapOptions,
): BucketStats[] {
  const groups = new Map<string, Verdict[]>();
  for (const row of rows) {
    const b = bucketOf(row);
    const list = groups.get(b);
    if (list) list.push(row.verdict);
    else groups.set(b, [row.verdict]);
  }
  return [...groups.keys()]
    .sort((x, y) => x.localeCompare(y, 'en', { numeric: true }))
    .map((bucket) => ({ bucket, stats: winRateStats(groups.get(bucket) ?? [], opts) }));
}
