// Win/tie/loss statistics as MT-Bench reports them (fastchat/llm_judge
// show_result.py): errors are counted but left out of every rate, win rate =
// W/(W+T+L), loss rate = L/(W+T+L), adjusted win rate = (W + T/2)/(W+T+L);
// with percentile-bootstrap confidence intervals over pairs.
import { bootstrapMeanCI } from '../rlhf/stats.js';
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
  /** Bootstrap resamples per rate; 2000 by default. */
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

/**
 * Percentile bootstrap over pairs (rlhf/stats.ts `bootstrapMeanCI`): each rate
 * is the mean of a per-pair score (win: A→1; loss: B→1; adjusted: A→1, tie→½),
 * so its interval is that of a mean over the n non-error verdicts.
 */
export function winRateStats(verdicts: readonly Verdict[], opts: BootstrapOptions): WinRateStats {
  const iterations = opts.iterations ?? 2000;
  const level = opts.level ?? 0.95;
  const counts = countVerdicts(verdicts);
  const point = rates(counts);
  const ci: WinRateStats['ci'] = { level, iterations, winRate: null, lossRate: null, adjustedWinRate: null };
  if (counts.n === 0) return { ...counts, ...point, ci };

  const opinions = verdicts.filter((v) => v !== 'error');
  const interval = (score: (v: Verdict) => number): Interval => {
    const { lo, hi } = bootstrapMeanCI(opinions.map(score), opts.rng, iterations, 1 - level);
    return [lo, hi];
  };
  ci.winRate = interval((v) => (v === 'A' ? 1 : 0));
  ci.lossRate = interval((v) => (v === 'B' ? 1 : 0));
  ci.adjustedWinRate = interval((v) => (v === 'A' ? 1 : v === 'tie' ? 0.5 : 0));
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
