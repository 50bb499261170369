// Advantage (or reward) whitening over every token of every row of a batch,
// as TRL's `masked_whiten` and OpenRLHF's global advantage normalisation:
//   x̂ = (x − μ) / sqrt(σ² + eps),   μ, σ² over all tokens at once.
//
// Variance: biased (divide by n) by default, as OpenRLHF
// (experience_maker.py, `var = ((adv - mean)**2 * mask).sum() / num_actions`).
// TRL's masked_whiten uses the unbiased (n − 1) estimate; pass
// `unbiased: true` for that. With thousands of tokens per batch the two differ
// by a factor of sqrt(n/(n−1)) ≈ 1; with tiny unit-test batches they do not.

export interface WhitenOptions {
  /** false: add the mean back after scaling (TRL's shift_mean=False, used for rewards). Default true. */
  shiftMean?: boolean;
  /** Added to the variance under the square root. Default 1e-8 (TRL, OpenRLHF). */
  eps?: number;
  /** Divide the sum of squares by n − 1 instead of n. Default false. */
  unbiased?: boolean;
}

export function whiten(rows: number[][], opts: WhitenOptions = {}): number[][] {
  const shiftMean = opts.shiftMean ?? true;
  const eps = opts.eps ?? 1e-8;
  const unbiased = opts.unbiased ?? false;

  let n = 0;
  let sum = 0;
  for (const row of rows) for (const x of row) {
    n++;
    sum += x;
  }
  if (n === 0) return rows.map(() => []);
  if (unbiased && n < 2) throw new RangeError('whiten: unbiased variance needs at least 2 tokens');
  const mu = sum / n;
  let ss = 0;
  for (const row of rows) for (const x of row) ss += (x - mu) * (x - mu);
  const variance = ss / (unbiased ? n - 1 : n);
  const scale = 1 / Math.sqrt(variance + eps);
  return rows.map((row) => row.map((x) => (shiftMean ? (x - mu) * scale : (x - mu) * scale + mu)));
}
