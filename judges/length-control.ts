// Length-controlled win rate in the spirit of AlpacaEval 2
// (tatsu-lab/alpaca_eval, metrics/glm_winrate.py; Dubois et al. 2024,
// arXiv 2404.04475): fit P(A wins) = σ(w0 + w1·tanh(Δlen / sd(Δlen))) and
// report σ(w0), the win rate the judge would give at equal length. PPO tends
// to lengthen answers and judges like long answers, so the raw rate flatters.
//
// Differences from AlpacaEval, on purpose: no instruction-difficulty term and
// no "gamed baseline" data (we have neither), an L2 penalty on w1 alone instead
// of cross-validated L1, fitted by Newton's method. The intercept is not
// penalised, so with no length differences σ(w0) equals the raw rate exactly.
// Ties are soft labels y = ½ (the same loss as half a win plus half a loss),
// so by default the raw rate it reduces to is the adjusted win rate.
import type { Verdict } from './types.js';

export interface LengthRow {
  verdict: Verdict;
  /** Lengths of arm A's and arm B's responses (characters, as AlpacaEval, or tokens). */
  lenA: number;
  lenB: number;
}

export interface LengthControlOptions {
  /** L2 penalty on w1; 1 by default. */
  l2?: number;
  /** 'half': a tie is half a win and half a loss (default); 'drop': ties are left out. */
  ties?: 'half' | 'drop';
  maxIterations?: number;
}

export interface LengthControlResult {
  /** σ(w0); null when no rows are usable. */
  lcWinRate: number | null;
  /** The rate the model reduces to without length: (W + T/2)/(W+T+L), or W/(W+L) with ties dropped. */
  rawWinRate: number | null;
  w0: number;
  w1: number;
  /** Sample standard deviation of lenA − lenB over the rows used. */
  sdDeltaLen: number;
  n: number;
  iterations: number;
  converged: boolean;
}

const sigmoid = (z: number): number => 1 / (1 + Math.exp(-z));

export interface LogisticFit {
  w0: number;
  w1: number;
  iterations: number;
  converged: boolean;
}

/**
 * Minimise −Σ [y log p + (1−y) log(1−p)] + (l2/2)·w1², p = σ(w0 + w1·x), by
 * Newton's method with step halving (the loss is convex, halving only guards
 * against overshooting from a poor start). y may be fractional.
 */
export function fitLogistic1d(x: readonly number[], y: readonly number[], l2: number, maxIterations = 100): LogisticFit {
  const loss = (w0: number, w1: number): number => {
    let s = 0.5 * l2 * w1 * w1;
    x.forEach((xi, i) => {
      const z = w0 + w1 * xi;
      const yi = y[i] as number;
      // log(1 + e^z) computed stably; loss = log(1+e^z) − y·z.
      s += Math.max(z, 0) + Math.log1p(Math.exp(-Math.abs(z))) - yi * z;
    });
    return s;
  };
  let w0 = 0;
  let w1 = 0;
  let current = loss(w0, w1);
  for (let it = 1; it <= maxIterations; it++) {
    let g0 = 0;
    let g1 = l2 * w1;
    let h00 = 0;
    let h01 = 0;
    let h11 = l2;
    x.forEach((xi, i) => {
      const p = sigmoid(w0 + w1 * xi);
      const r = p - (y[i] as number);
      const v = p * (1 - p);
      g0 += r;
      g1 += r * xi;
      h00 += v;
      h01 += v * xi;
      h11 += v * xi * xi;
    });
    const det = h00 * h11 - h01 * h01;
    if (!(det > 0)) return { w0, w1, iterations: it, converged: false };
    const d0 = (h11 * g0 - h01 * g1) / det;
    const d1 = (h00 * g1 - h01 * g0) / det;
    let step = 1;
    let next = loss(w0 - d0, w1 - d1);
    while (next > current && step > 1e-8) {
      step /= 2;
      next = loss(w0 - step * d0, w1 - step * d1);
    }
    w0 -= step * d0;
    w1 -= step * d1;
    current = next;
    if (Math.max(Math.abs(step * d0), Math.abs(step * d1)) < 1e-10) return { w0, w1, iterations: it, converged: true };
  }
  return { w0, w1, iterations: maxIterations, converged: false };
}

export function lengthControlledWinRate(rows: readonly LengthRow[], opts: LengthControlOptions = {}): LengthControlResult {
  const l2 = opts.l2 ?? 1;
  const ties = opts.ties ?? 'half';
  const used = rows.filter((r) => r.verdict !== 'error' && (ties === 'half' || r.verdict !== 'tie'));
  const n = used.length;
  const empty = { lcWinRate: null, rawWinRate: null, w0: 0, w1: 0, sdDeltaLen: 0, n, iterations: 0, converged: true };
  if (n === 0) return empty;

  const y = used.map((r): number => (r.verdict === 'A' ? 1 : r.verdict === 'tie' ? 0.5 : 0));
  const rawWinRate = y.reduce((s, v) => s + v, 0) / n;
  const delta = used.map((r) => r.lenA - r.lenB);
  const mean = delta.reduce((s, d) => s + d, 0) / n;
  const sdDeltaLen = n > 1 ? Math.sqrt(delta.reduce((s, d) => s + (d - mean) ** 2, 0) / (n - 1)) : 0;
  // All wins (or all losses) send w0 to ±∞; the answer is the raw rate whatever
  // the lengths, and w0, w1 are left at 0 rather than infinities JSON cannot hold.
  if (rawWinRate === 0 || rawWinRate === 1) return { ...empty, lcWinRate: rawWinRate, rawWinRate, sdDeltaLen };

  const x = delta.map((d) => (sdDeltaLen > 0 ? Math.tanh(d / sdDeltaLen) : 0));
  const fit = fitLogistic1d(x, y, l2, opts.maxIterations);
  return { lcWinRate: sigmoid(fit.w0), rawWinRate, w0: fit.w0, w1: fit.w1, sdDeltaLen, n, iterations: fit.iterations, converged: fit.converged };
}
