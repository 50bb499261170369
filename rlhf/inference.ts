// The transformer's forward pass for decoding only (no gradients), with as
// few kernels per token as the backends allow: at these sizes a decoding
// step is per-op overhead (~10–20 µs each on tfjs-node) more than
// arithmetic, so the step is rewritten around fewer, larger ops:
//
// - LayerNorm gains and biases are folded into the matmul that follows
//   (LN(x)·W + b = x̂·(γ⊙W) + (β·W + b)), and 1/sqrt(headDim) into the query
//   columns, once per session: each LayerNorm is then one normalisation
//   kernel (TensorFlow's _MklLayerNorm where the build has it).
// - tfjs-node runs TensorFlow kernels directly (native.ts), skipping tfjs's
//   op wrappers; other backends run the same ops through tfjs. `generate` on
//   tfjs-node goes one step further (decode-native.ts: raw handles, no tfjs
//   tensors at all); this class serves Transformer.step and the other backends.
// - The additive attention bias is built on the host (no mask arithmetic on
//   device) and left out when no key is masked.
//
// Numbers agree with Transformer.forward to float32 rounding (the folding
// reorders products); tests compare both paths.
import * as tf from '@tensorflow/tfjs';
import type { KVCache, ResolvedConfig, Transformer } from './model.js';
import * as native from './native.js';
import { GELU_A, GELU_C, tidy } from './ops.js';

/** Weights for decoding: folded ones owned by the session, the rest the model's own. */
export interface Layer {
  wqkv: tf.Tensor; // [d, 3d], γ1-scaled rows, q columns scaled by 1/sqrt(hd)
  bqkv: tf.Tensor; // [3d]
  wo: tf.Tensor;
  bo: tf.Tensor;
  wfc: tf.Tensor; // [d, 4d], γ2-scaled rows; [d, 4d + 16] with zero columns where padMlp applies
  bfc: tf.Tensor;
  wproj: tf.Tensor; // [4d, d], or [4d + 16, d] with zero rows (owned by the session then)
  bproj: tf.Tensor;
}

/**
 * The MLP's hidden width padded by STRIDE_PAD zero units: wfc and bfc get
 * zero columns, wproj zero rows, so GELU(0) = 0 meets zero weights and the
 * output is the same up to float32 summation order. A hidden width that is
 * a multiple of 512 makes wfc's rows a multiple of 2 KiB apart, and the
 * products then alias cache sets: x·Wfc at d = 512 and 4 rows took 279 µs,
 * padded 144; at 256 rows 12.4 ms, padded 5.9 (native.ts, paddedWeightGrad).
 */
function padMlp(wfc: tf.Tensor, bfc: tf.Tensor, wproj: tf.Tensor): Pick<Layer, 'wfc' | 'bfc' | 'wproj'> {
  return {
    wfc: native.padColumns(wfc),
    bfc: native.padColumns(bfc),
    wproj: tf.pad(wproj, [
      [0, native.STRIDE_PAD],
      [0, 0],
    ]),
  };
}

/** Ops the decoding pass needs, on TensorFlow's kernels or through tfjs. */
interface Kernels {
  /** x·W + b. */
  linear(x: tf.Tensor, w: tf.Tensor, b: tf.Tensor): tf.Tensor;
  add(a: tf.Tensor, b: tf.Tensor): tf.Tensor;
  reshape(x: tf.Tensor, shape: number[]): tf.Tensor;
  transpose0213(x: tf.Tensor): tf.Tensor;
  /** Three equal parts along axis 1. */
  split3(x: tf.Tensor): tf.Tensor[];
  /** Concatenation along axis 2 (cached time columns). */
  concatTime(a: tf.Tensor, b: tf.Tensor): tf.Tensor;
  /** Batched a·bᵀ over the last two axes. */
  bmmNT(a: tf.Tensor, b: tf.Tensor): tf.Tensor;
  bmm(a: tf.Tensor, b: tf.Tensor): tf.Tensor;
  softmax(x: tf.Tensor): tf.Tensor;
  gelu(x: tf.Tensor): tf.Tensor;
  /** (x − mean)/sqrt(var + eps) along the last axis of a 2-D x. */
  normalize(x: tf.Tensor, eps: number): tf.Tensor;
  gather(table: tf.Tensor, ids: tf.Tensor): tf.Tensor;
}

const tfjsKernels: Kernels = {
  linear: (x, w, b) => tf.add(tf.matMul(x, w), b),
  add: (a, b) => tf.add(a, b),
  reshape: (x, s) => tf.reshape(x, s),
  transpose0213: (x) => tf.transpose(x, [0, 2, 1, 3]),
  split3: (x) => tf.split(x, 3, 1),
  concatTime: (a, b) => tf.concat([a, b], 2),
  bmmNT: (a, b) => tf.matMul(a, b, false, true),
  bmm: (a, b) => tf.matMul(a, b),
  softmax: (x) => tf.softmax(x),
  gelu: (x) => tf.mul(x, tf.sigmoid(tf.mul(x, tf.add(tf.mul(tf.square(x), 2 * GELU_C * GELU_A), 2 * GELU_C)))),
  normalize: (x, eps) => {
    const mean = tf.mean(x, -1, true);
    const xc = tf.sub(x, mean);
    return tf.mul(xc, tf.rsqrt(tf.add(tf.mean(tf.square(xc), -1, true), eps)));
  },
  gather: (table, ids) => tf.gather(table, ids),
};

function nativeKernels(): Kernels {
  const { attr } = native;
  const T = attr.float32();
  const i32 = (name: string) => attr.int32(name);
  const mkl = native.hasMklLayerNorm();
  const scalar = (v: number) => native.scalarConst(v);
  // Attribute lists built once per session (the binding only reads them).
  const a = {
    T: [T],
    transpose: [T, i32('Tperm')],
    split3: [T, i32('Tlen'), attr.int('num_split', 3)],
    concat2: [T, attr.int('N', 2), i32('Tidx')],
    mean: [T, i32('Tidx'), attr.bool('keep_dims', true)],
    gather: [attr.float32('Tparams'), i32('Tindices'), i32('Taxis'), attr.int('batch_dims', 0)],
  };
  return {
    linear: (x, w, b) => native.linear(x, w, b),
    add: (x, y) => native.run('AddV2', a.T, [x, y]),
    reshape: (x, s) => native.reshape(x, s),
    transpose0213: (x) => native.run('Transpose', a.transpose, [x, native.intConst([0, 2, 1, 3])]),
    split3: (x) => {
      const n = (x.shape[1] as number) / 3;
      return native.runN('SplitV', a.split3, [x, native.intConst([n, n, n]), native.intScalar(1)], 3);
    },
    concatTime: (x, y) => native.run('ConcatV2', a.concat2, [x, y, native.intScalar(2)]),
    bmmNT: (x, y) => native.batchMatMul(x, y, false, true),
    bmm: (x, y) => native.batchMatMul(x, y),
    softmax: (x) => native.run('Softmax', a.T, [x]),
    gelu: (x) => {
      const z = native.mul(x, native.add(native.mul(native.run('Square', a.T, [x]), scalar(2 * GELU_C * GELU_A)), scalar(2 * GELU_C)));
      return native.mul(x, native.run('Sigmoid', a.T, [z]));
    },
    normalize: mkl
      ? (x, eps) => {
          const d = x.shape[1] as number;
          return native.mklLayerNorm(x, native.filled(d, 1), native.filled(d, 0), eps);
        }
      : (x, eps) => {
          const mean = (t: tf.Tensor) => native.run('Mean', a.mean, [t, native.intScalar(-1)]);
          const xc = native.run('Sub', a.T, [x, mean(x)]);
          const v = mean(native.run('Square', a.T, [xc]));
          return native.mul(xc, native.run('Rsqrt', a.T, [native.add(v, scalar(eps))]));
        },
    gather: (table, ids) => native.run('GatherV2', a.gather, [table, ids, native.intScalar(0)]),
  };
}

/**
 * A model's weights prepared for decoding, valid while the model's weights
 * are unchanged (`isCurrent`). Methods create tensors in the caller's tidy.
 */
export class InferenceSession {
  private readonly k: Kernels;
  private readonly cfg: ResolvedConfig;
  private readonly layers: Layer[];
  private readonly wte: tf.Tensor;
  private readonly wpe: tf.Tensor;
  /** [d, V]: logits = LN_f(x)·wteᵀ with the final gain and bias folded in. */
  private readonly wlogits: tf.Tensor;
  private readonly blogits: tf.Tensor;
  /** Each weight's storage when the session was built (tf.Variable.assign replaces it). */
  private readonly stamp: object[];
  /** Whether the layers' wproj are the session's padded copies. */
  private readonly ownsProj: boolean;
  private readonly model: Transformer;

  constructor(model: Transformer) {
    this.model = model;
    this.cfg = model.config;
    this.k = native.nodeBackend() ? nativeKernels() : tfjsKernels;
    this.stamp = weightStamp(model);
    const { dModel: d, nHeads: H, nLayers: L } = this.cfg;
    const qScale = 1 / Math.sqrt(d / H);
    const padHidden = native.padsStrides() && native.aliasedWidth(4 * d);
    this.ownsProj = padHidden;
    const built = tidy(() => {
      const colScale = tf.tensor1d(Float32Array.from({ length: 3 * d }, (_, j) => (j < d ? qScale : 1)));
      // LN(x)·W + b with LN(x) = x̂⊙γ + β  →  x̂·(γ⊙W) + (β·W + b), columns scaled.
      const fold = (g: tf.Tensor, beta: tf.Tensor, w: tf.Tensor, b: tf.Tensor, scale?: tf.Tensor) => {
        let wf = tf.mul(tf.reshape(g, [-1, 1]), w);
        let bf = tf.add(tf.reshape(tf.matMul(tf.reshape(beta, [1, -1]), w), [-1]), b);
        if (scale) {
          wf = tf.mul(wf, scale);
          bf = tf.mul(bf, scale);
        }
        return [wf, bf] as const;
      };
      const p = (name: string) => model.p(name);
      const layers: Layer[] = [];
      for (let l = 0; l < L; l++) {
        const q = `h.${l}.`;
        const [wqkv, bqkv] = fold(p(q + 'ln1.g'), p(q + 'ln1.b'), p(q + 'attn.wqkv'), p(q + 'attn.bqkv'), colScale);
        const [wfc, bfc] = fold(p(q + 'ln2.g'), p(q + 'ln2.b'), p(q + 'mlp.wfc'), p(q + 'mlp.bfc'));
        const mlp = padHidden ? padMlp(wfc, bfc, p(q + 'mlp.wproj')) : { wfc, bfc, wproj: p(q + 'mlp.wproj') };
        layers.push({ wqkv, bqkv, wo: p(q + 'attn.wo'), bo: p(q + 'attn.bo'), ...mlp, bproj: p(q + 'mlp.bproj') });
      }
      const [wlogits, blogits] = fold(p('lnf.g'), p('lnf.b'), tf.transpose(p('wte')), tf.zeros([this.cfg.vocabSize]));
      return { layers, wlogits, blogits };
    });
    this.layers = built.layers;
    this.wte = model.p('wte');
    this.wpe = model.p('wpe');
    this.wlogits = built.wlogits;
    this.blogits = built.blogits;
    // Built inside whatever tidy the caller is in: the session outlives it.
    for (const t of this.owned()) tf.keep(t);
  }

  private owned(): tf.Tensor[] {
    return [...this.layers.flatMap((w) => [w.wqkv, w.bqkv, w.wfc, w.bfc, ...(this.ownsProj ? [w.wproj] : [])]), this.wlogits, this.blogits];
  }

  /** The prepared weights (owned by the session or the model: do not dispose). */
  weights(): { layers: readonly Readonly<Layer>[]; wte: tf.Tensor; wpe: tf.Tensor; wlogits: tf.Tensor; blogits: tf.Tensor; config: ResolvedConfig } {
    return { layers: this.layers, wte: this.wte, wpe: this.wpe, wlogits: this.wlogits, blogits: this.blogits, config: this.cfg };
  }

  /** False once any of the model's weights has been reassigned (training, copyFrom, a checkpoint). */
  isCurrent(): boolean {
    return sameWeights(this.model, this.stamp);
  }

  /**
   * Forward pass over `T` new positions per row, after `cache` (if any).
   * ids/positions: int32 [B·T]; bias: additive attention bias [B, 1, T, Tk]
   * (Tk = cached + T), or null when every key is visible (and T = 1).
   * Returns the final normalised hidden states x̂ [B·T, d] (before the final
   * gain/bias, which `logits` applies) and the cache extended by T columns.
   */
  forward(ids: tf.Tensor, positions: tf.Tensor, B: number, T: number, bias: tf.Tensor | null, cache?: KVCache): { hidden: tf.Tensor; cache: KVCache } {
    const { k } = this;
    const { nHeads: H, dModel: d, layerNormEps: eps } = this.cfg;
    const hd = d / H;
    let x = k.add(k.gather(this.wte, ids), k.gather(this.wpe, positions)); // [B·T, d]
    const layers: KVCache['layers'] = [];
    this.layers.forEach((w, l) => {
      // Attention: with T = 1 the [B, 3H, 1, hd] layout is a reshape of qkv, no transpose.
      const qkv = k.linear(k.normalize(x, eps), w.wqkv, w.bqkv); // [B·T, 3d]
      const heads = T === 1 ? k.reshape(qkv, [B, 3 * H, 1, hd]) : k.transpose0213(k.reshape(qkv, [B, T, 3 * H, hd]));
      const [q, kNew, vNew] = k.split3(heads) as [tf.Tensor, tf.Tensor, tf.Tensor]; // [B, H, T, hd]
      const past = cache?.layers[l];
      const keys = past ? k.concatTime(past.k, kNew) : kNew;
      const values = past ? k.concatTime(past.v, vNew) : vNew;
      let scores = k.bmmNT(q, keys); // [B, H, T, Tk]
      if (bias) scores = k.add(scores, bias);
      const y = k.bmm(k.softmax(scores), values); // [B, H, T, hd]
      const merged = T === 1 ? k.reshape(y, [B, d]) : k.reshape(k.transpose0213(y), [B * T, d]);
      x = k.add(x, k.linear(merged, w.wo, w.bo));
      // MLP.
      const h = k.gelu(k.linear(k.normalize(x, eps), w.wfc, w.bfc));
      x = k.add(x, k.linear(h, w.wproj, w.bproj));
      layers.push({ k: keys as tf.Tensor4D, v: values as tf.Tensor4D });
    });
    return { hidden: k.normalize(x, eps), cache: { layers, length: (cache?.length ?? 0) + T } };
  }

  /** Logits [N, V] from `forward`'s normalised hidden states. */
  logits(hidden: tf.Tensor): tf.Tensor2D {
    return this.k.linear(hidden, this.wlogits, this.blogits) as tf.Tensor2D;
  }

  /** Final-LayerNorm output (gain and bias applied) from `forward`'s hidden states, as Transformer.forward returns it. */
  finalHidden(hidden: tf.Tensor): tf.Tensor2D {
    return tf.add(tf.mul(hidden, this.model.p('lnf.g')), this.model.p('lnf.b')) as tf.Tensor2D;
  }

  dispose(): void {
    tf.dispose(this.owned());
  }
}

/** Additive attention bias on the host: 0 where a query may see a key, MASKED elsewhere. */
export const MASKED = -1e9;

/**
 * [B, 1, T, Tk] bias for T new positions after `past` cached columns: key j
 * is visible to new position i when keyMask[b, j] = 1 and j ≤ past + i.
 * Returns null when nothing is masked.
 */
export function attentionBias(keyMask: ArrayLike<number>, B: number, T: number, past: number): Float32Array | null {
  const Tk = past + T;
  const out = new Float32Array(B * T * Tk);
  let any = false;
  for (let b = 0; b < B; b++) {
    for (let i = 0; i < T; i++) {
      const row = (b * T + i) * Tk;
      for (let j = 0; j < Tk; j++) {
        if (j > past + i || keyMask[b * Tk + j] === 0) {
          out[row + j] = MASKED;
          any = true;
        }
      }
    }
  }
  return any ? out : null;
}

/**
 * The identities of a model's weight buffers, in params order. Every write
 * (training, copyFrom, a checkpoint) replaces a variable's buffer, so an
 * unchanged stamp means unchanged weights without reading them.
 */
export function weightStamp(model: { params: Map<string, tf.Variable> }): object[] {
  return [...model.params.values()].map((v) => v.dataId);
}

export function sameWeights(model: { params: Map<string, tf.Variable> }, stamp: readonly object[]): boolean {
  let i = 0;
  for (const v of model.params.values()) if (v.dataId !== stamp[i++]) return false;
  return i === stamp.length;
}
