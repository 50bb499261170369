// Small, dependency-free statistics used by the PPO diagnostics, the
// contrastive baselines and the reports. Population (biased, divide-by-n)
// moments throughout: these describe the batch at hand, not an estimate of a
// larger population, and they match what OpenRLHF logs for reward std.

function assertNonEmpty(xs: readonly number[], what: string): void {
  if (xs.length === 0) throw new RangeError(`${what}: empty input`);
}

export function mean(xs: readonly number[]): number {
  assertNonEmpty(xs, 'mean');
  let s = 0;
  for (const x of xs) s += x;
  return s / xs.length;
}

/** Population variance, Σ(x − x̄)²/n (two-pass, for accuracy). */
export function variance(xs: readonly number[]): number {
  const m = mean(xs);
  let s = 0;
  for (const x of xs) s += (x - m) * (x - m);
  return s / xs.length;
}

/** Population standard deviation. */
export function std(xs: readonly number[]): number {
  return Math.sqrt(variance(xs));
}

/**
 * Fraction of the variance of the returns explained by the critic:
 * 1 − Var(returns − values) / Var(returns), over all tokens of all rows
 * (as in Stable-Baselines3's `explained_variance`). 1 is a perfect critic,
 * 0 is no better than a constant, negative is worse. NaN when the returns
 * have zero variance (the ratio is undefined; SB3 also returns NaN).
 */
export function explainedVariance(values: number[][], returns: number[][]): number {
  if (values.length !== returns.length) {
    throw new RangeError(`explainedVariance: ${values.length} value rows but ${returns.length} return rows`);
  }
  const diff: number[] = [];
  const ret: number[] = [];
  returns.forEach((row, i) => {
    const v = values[i]!;
    if (v.length !== row.length) {
      throw new RangeError(`explainedVariance: row ${i} has ${v.length} values but ${row.length} returns`);
    }
    row.forEach((r, t) => {
      ret.push(r);
      diff.push(r - v[t]!);
    });
  });
  const varRet = variance(ret);
  if (varRet === 0) return Number.NaN;
  return 1 - variance(diff) / varRet;
}

/**
 * q-quantile with linear interpolation between order statistics — numpy's
 * default `method='linear'` (Hyndman & Fan type 7): h = (n − 1)·q,
 * Q = x₍⌊h⌋₎ + (h − ⌊h⌋)·(x₍⌊h⌋+1₎ − x₍⌊h⌋₎) on the sorted sample (0-based).
 */
export function quantile(xs: readonly number[], q: number): number {
  assertNonEmpty(xs, 'quantile');
  if (!(q >= 0 && q <= 1)) throw new RangeError(`quantile: q must be in [0, 1], got ${q}`);
  const sorted = [...xs].sort((a, b) => a - b);
  return quantileSorted(sorted, q);
}

/** As `quantile`, on an already ascending-sorted array (no copy). */
export function quantileSorted(sorted: readonly number[], q: number): number {
  const h = (sorted.length - 1) * q;
  const lo = Math.floor(h);
  const hi = Math.min(lo + 1, sorted.length - 1);
  const xlo = sorted[lo]!;
  return xlo + (h - lo) * (sorted[hi]! - xlo);
}

export interface ConfidenceInterval {
  mean: number;
  lo: number;
  hi: number;
  alpha: number;
  iters: number;
}

/**
 * Percentile bootstrap (Efron 1979) confidence interval for the mean:
 * resample n values with replacement `iters` times, take the α/2 and 1 − α/2
 * quantiles (linear interpolation, as `quantile`) of the resampled means.
 * `rng` returns uniforms in [0, 1); pass a seeded one for reproducible reports.
 */
export function bootstrapMeanCI(
  xs: readonly number[],
  rng: () => number,
  iters = 1000,
  alpha = 0.05,
): ConfidenceInterval {
  assertNonEmpty(xs, 'bootstrapMeanCI');
  if (!Number.isInteger(iters) || iters < 1) throw new RangeError(`bootstrapMeanCI: iters must be a positive integer, got ${iters}`);
  if (!(alpha > 0 && alpha < 1)) throw new RangeError(`bootstrapMeanCI: alpha must be in (0, 1), got ${alpha}`);
  const n = xs.length;
  const means = new Array<number>(iters);
  for (let b = 0; b < iters; b++) {
    let s = 0;
    for (let i = 0; i < n; i++) {
      // min() guards against an rng that returns exactly 1.
      s += xs[Math.min(n - 1, Math.floor(rng() * n))]!;
    }
    means[b] = s / n;
  }
  means.sort((a, b) => a - b);
  return {
    mean: mean(xs),
    lo: quantileSorted(means, alpha / 2),
    hi: quantileSorted(means, 1 - alpha / 2),
    alpha,
    iters,
  };
}
