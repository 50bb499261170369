// Seeded PRNG for the synthetic tasks: sfc32 (Chris Doty-Humphrey's Small
// Fast Counting generator, PractRand-clean, 128-bit state) seeded through
// xmur3 string hashing, as in bryc's "PRNGs in JavaScript" notes.
// Kept local on purpose: the task data must not change when rlhf/ changes.
//
// Each split draws from its own named stream (`createRng(seed, 'eval')`), so
// changing the size of one split does not reshuffle the others.

export interface Rng {
  /** Uniform in [0, 1), 32 bits of resolution. */
  next(): number;
  /** Uniform integer in [0, n). */
  int(n: number): number;
  /** Uniform integer in [lo, hi] (inclusive). */
  intBetween(lo: number, hi: number): number;
  pick<T>(xs: readonly T[]): T;
  /** true with probability p. */
  bernoulli(p: number): boolean;
  /** Draws an index i with probability weights[i]/Σweights. */
  weighted(weights: readonly number[]): number;
  /** Fisher-Yates, returns a new array. */
  shuffle<T>(xs: readonly T[]): T[];
}

/** xmur3: a 32-bit string hash whose successive calls give independent seed words. */
function xmur3(str: string): () => number {
  let h = 1779033703 ^ str.length;
  for (let i = 0; i < str.length; i++) {
    h = Math.imul(h ^ str.charCodeAt(i), 3432918353);
    h = (h << 13) | (h >>> 19);
  }
  return () => {
    h = Math.imul(h ^ (h >>> 16), 2246822507);
    h = Math.imul(h ^ (h >>> 13), 3266489909);
    return (h ^= h >>> 16) >>> 0;
  };
}

function sfc32(a: number, b: number, c: number, d: number): () => number {
  return () => {
    a >>>= 0;
    b >>>= 0;
    c >>>= 0;
    d >>>= 0;
    let t = (a + b) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    d = (d + 1) | 0;
    t = (t + d) | 0;
    c = (c + t) | 0;
    return (t >>> 0) / 4294967296;
  };
}

export function createRng(seed: number, stream = ''): Rng {
  if (!Number.isFinite(seed)) throw new RangeError(`createRng: seed must be a finite number, got ${seed}`);
  const h = xmur3(`${seed}/${stream}`);
  const next = sfc32(h(), h(), h(), h());
  for (let i = 0; i < 15; i++) next(); // mix the initial state

  const int = (n: number): number => {
    if (!Number.isInteger(n) || n < 1) throw new RangeError(`Rng.int: n must be a positive integer, got ${n}`);
    return Math.floor(next() * n);
  };
  return {
    next,
    int,
    intBetween: (lo, hi) => lo + int(hi - lo + 1),
    pick: <T>(xs: readonly T[]): T => {
      if (xs.length === 0) throw new RangeError('Rng.pick: empty array');
      return xs[int(xs.length)]!;
    },
    bernoulli: (p) => next() < p,
    weighted: (weights) => {
      const total = weights.reduce((s, w) => s + w, 0);
      if (!(total > 0)) throw new RangeError('Rng.weighted: weights must sum to > 0');
      let u = next() * total;
      for (let i = 0; i < weights.length; i++) {
        u -= weights[i]!;
        if (u < 0) return i;
      }
      return weights.length - 1;
    },
    shuffle: <T>(xs: readonly T[]): T[] => {
      const out = [...xs];
      for (let i = out.length - 1; i > 0; i--) {
        const j = int(i + 1);
        [out[i], out[j]] = [out[j]!, out[i]!];
      }
      return out;
    },
  };
}
