// Seeded PRNG for every random draw of the library (weight init, sampling,
// minibatch order), so one seed gives the same numbers on every backend.
// sfc32 (Chris Doty-Humphrey's PractRand "small fast counting" generator):
// 128-bit state, passes PractRand/BigCrush, and four uint32s serialise into a
// checkpoint as plain JSON.

/** Serialisable generator state: four unsigned 32-bit integers. */
export type RngState = readonly [number, number, number, number];

export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  /** Numbers and strings both seed; `1` and `'1'` give the same stream. */
  constructor(seed: number | string) {
    [this.a, this.b, this.c, this.d] = hash128(String(seed));
    // The first outputs of sfc32 from a hashed state are already well mixed,
    // but the reference implementation discards some; so do we.
    for (let i = 0; i < 12; i++) this.nextUint32();
  }

  static fromState(s: RngState): Rng {
    const rng = Object.create(Rng.prototype) as Rng;
    rng.a = s[0] >>> 0;
    rng.b = s[1] >>> 0;
    rng.c = s[2] >>> 0;
    rng.d = s[3] >>> 0;
    return rng;
  }

  state(): RngState {
    return [this.a >>> 0, this.b >>> 0, this.c >>> 0, this.d >>> 0];
  }

  nextUint32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** Uniform in [0, 1) with 32 bits of resolution. */
  next(): number {
    return this.nextUint32() / 4294967296;
  }

  /** Uniform integer in [0, n), unbiased (rejection sampling), n ≤ 2^32. */
  int(n: number): number {
    if (!Number.isInteger(n) || n <= 0 || n > 4294967296) throw new RangeError(`Rng.int: n=${n} must be an integer in [1, 2^32]`);
    const limit = 4294967296 - (4294967296 % n);
    for (;;) {
      const x = this.nextUint32();
      if (x < limit) return x % n;
    }
  }

  /** Standard normal (Box-Muller; one draw per call, no cached spare, so state() is complete). */
  normal(mean = 0, std = 1): number {
    const u1 = 1 - this.next(); // (0, 1]: log(u1) is finite
    const u2 = this.next();
    return mean + std * Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
  }

  /** Fisher-Yates in place; returns the same array. */
  shuffle<T>(arr: T[]): T[] {
    for (let i = arr.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const tmp = arr[i] as T;
      arr[i] = arr[j] as T;
      arr[j] = tmp;
    }
    return arr;
  }

  /**
   * An independent stream derived from this one's current state and `label`,
   * without advancing this one: `fork('init')` and `fork('sample')` differ,
   * and the same label at the same state gives the same stream.
   */
  fork(label: string): Rng {
    const child = Object.create(Rng.prototype) as Rng;
    [child.a, child.b, child.c, child.d] = hash128(`${label}\u0000${this.state().join(',')}`);
    for (let i = 0; i < 12; i++) child.nextUint32();
    return child;
  }
}

/** cyrb128: a fast 128-bit string hash, good enough to spread seeds over sfc32's state. */
function hash128(str: string): [number, number, number, number] {
  let h1 = 1779033703;
  let h2 = 3144134277;
  let h3 = 1013904242;
  let h4 = 2773480762;
  for (let i = 0; i < str.length; i++) {
    const k = str.charCodeAt(i);
    h1 = h2 ^ Math.imul(h1 ^ k, 597399067);
    h2 = h3 ^ Math.imul(h2 ^ k, 2869860233);
    h3 = h4 ^ Math.imul(h3 ^ k, 951274213);
    h4 = h1 ^ Math.imul(h4 ^ k, 2716044179);
  }
  h1 = Math.imul(h3 ^ (h1 >>> 18), 597399067);
  h2 = Math.imul(h4 ^ (h2 >>> 22), 2869860233);
  h3 = Math.imul(h1 ^ (h3 >>> 17), 951274213);
  h4 = Math.imul(h2 ^ (h4 >>> 19), 2716044179);
  h1 ^= h2 ^ h3 ^ h4;
  h2 ^= h1;
  h3 ^= h1;
  h4 ^= h1;
  return [h1 >>> 0, h2 >>> 0, h3 >>> 0, h4 >>> 0];
}
