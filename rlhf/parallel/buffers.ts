// A model's parameters in the flat shared buffers of the data-parallel ranks
// (params order, float32): weights and gradients out to a buffer, weights
// back in, and a part's gradients summed over the ranks' buffers. The main
// thread (pool.ts, sharded.ts) and the workers (worker.ts) use the same
// layout through these.
import * as tf from '@tensorflow/tfjs';
import { sumOfSquares } from '../optim.js';
import { readInto } from '../native.js';

type Params = Map<string, tf.Variable>;

/** Each parameter's offset in a flat buffer, params order. */
export function paramOffsets(params: Params): number[] {
  const out: number[] = [];
  let o = 0;
  for (const v of params.values()) {
    out.push(o);
    o += v.size;
  }
  return out;
}

/** The parameters with `pick(i)` written into `buf`. */
export function writeWeights(params: Params, offsets: readonly number[], buf: Float32Array, pick: (i: number) => boolean = () => true): void {
  [...params.values()].forEach((v, i) => {
    if (pick(i)) readInto(v, buf.subarray(offsets[i], (offsets[i] as number) + v.size));
  });
}

/** The parameters with `pick(i)` loaded from `buf`. */
export function readWeights(params: Params, offsets: readonly number[], buf: Float32Array, pick: (i: number) => boolean = () => true): void {
  tf.tidy(() => {
    [...params.values()].forEach((v, i) => {
      if (!pick(i)) return;
      const o = offsets[i] as number;
      v.assign(tf.tensor(buf.subarray(o, o + v.size), v.shape, 'float32'));
    });
  });
}

/** The gradients of the parameters with `pick(i)` written into `buf`, zeros where a parameter has none. */
export function writeGrads(params: Params, offsets: readonly number[], grads: Map<string, tf.Tensor>, buf: Float32Array, pick: (i: number) => boolean): void {
  [...params].forEach(([name, v], i) => {
    if (!pick(i)) return;
    const o = offsets[i] as number;
    const g = grads.get(name);
    if (g) readInto(g, buf.subarray(o, o + v.size));
    else buf.fill(0, o, o + v.size);
  });
}

/**
 * Parameters [from, to)'s gradients summed over ranks [0, contributors) in
 * rank order (so every run adds them the same way): rank `rank`'s from
 * `own` (zeros where missing), the others' from `buffers` (rank order). The
 * sums are the caller's to dispose; Σg² over them comes back on the host.
 */
export function sumPart(
  params: Params,
  offsets: readonly number[],
  [from, to]: [number, number],
  rank: number,
  own: Map<string, tf.Tensor>,
  buffers: readonly Float32Array[],
  contributors: number,
): { summed: Map<string, tf.Tensor>; sumSquares: number } {
  const list = [...params];
  const summed = new Map<string, tf.Tensor>();
  try {
    for (let i = from; i < to; i++) {
      const [name, v] = list[i] as [string, tf.Variable];
      const o = offsets[i] as number;
      const g = tf.tidy(() => {
        let sum: tf.Tensor | undefined;
        for (let k = 0; k < contributors; k++) {
          const part = k === rank ? (own.get(name) ?? tf.zerosLike(v)) : tf.tensor((buffers[k] as Float32Array).subarray(o, o + v.size), v.shape, 'float32');
          sum = sum ? tf.add(sum, part) : tf.clone(part);
        }
        return sum ?? tf.zerosLike(v);
      });
      summed.set(name, g);
    }
    const total = tf.tidy(() => sumOfSquares([...summed.values()]));
    const sumSquares = total.dataSync()[0] as number;
    total.dispose();
    return { summed, sumSquares };
  } catch (err) {
    tf.dispose([...summed.values()]);
    throw err;
  }
}
