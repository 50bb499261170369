// The decoding loop on tfjs-node, on TensorFlow handles directly: the same
// computation as InferenceSession.forward (folded weights), with
//
// - every intermediate a raw TensorFlow handle (native.RawScope), so an op
//   costs the binding call and nothing else, and one host read per step;
// - the key/value cache held as handles across steps: with the fused
//   kernels (infra/kernels) allocated once at its full width and written in
//   place by CrlhfDecodeAttention, which also does the step's whole attention
//   (one op per layer where there were eight); otherwise grown by one
//   ConcatV2 per layer and side. (Resource variables written in place,
//   ResourceStridedSliceAssign + ReadVariableOp, measured slower: ~80 µs per
//   resource op against ~60 µs per concatenation at these sizes.)
import type * as tf from '@tensorflow/tfjs';
import type { InferenceSession, Layer } from './inference.js';
import * as native from './native.js';
import { GELU_A, GELU_C } from './ops.js';

/**
 * Rows × d from which _MklLayerNorm beats the six plain ops on a two-thread
 * pool (measured: 2,048–65,536 elements 0.25 ms against 0.10–0.14 ms;
 * 131,072 elements 0.26 ms against 0.42 ms).
 */
const MKL_LN_MIN_ELEMENTS = 1 << 17;

/**
 * Most rows for which the MLP's first product and its GELU run as one
 * oneDNN kernel: it saves six ops per layer, but oneDNN's tanh is slow per
 * element (4×256·256×1024: 153 against 480 µs unfused; 64 rows: 1.51
 * against 1.17 ms).
 */
const FUSED_GELU_MAX_ROWS = 16;

export class NativeDecoder {
  /** Cache handles per layer, [B, H, columns, hd]; owned here (native.freeRaw). */
  private keys: number[] = [];
  private values: number[] = [];
  private readonly a;
  private readonly w;
  private readonly mkl = native.hasMklLayerNorm();
  private readonly fusedGelu = native.hasFusedGelu();
  /** One intra-op thread: no pool to wake (parallel/pool.ts's ranks on tensorflow). */
  private readonly oneThread = native.intraOpThreads() === 1;

  /** The cache's full width when CrlhfDecodeAttention writes it in place, else undefined (grown by concatenation). */
  private readonly width: number | undefined;

  /** B rows decoded in lock-step; the cache will hold up to `width` columns (prompt + new tokens). */
  constructor(
    session: InferenceSession,
    private readonly B: number,
    width: number,
  ) {
    this.width = native.hasFusedKernels() ? width : undefined;
    this.w = session.weights();
    const { attr } = native;
    const T = attr.float32();
    const i32 = (name: string) => attr.int32(name);
    this.a = {
      T: [T],
      reshape: [T, i32('Tshape')],
      transpose: [T, i32('Tperm')],
      split3: [T, i32('Tlen'), attr.int('num_split', 3)],
      gather: [attr.float32('Tparams'), i32('Tindices'), i32('Taxis'), attr.int('batch_dims', 0)],
      matmul: [T, attr.bool('transpose_a', false), attr.bool('transpose_b', false)],
      biasAdd: [T, attr.string('data_format', 'NHWC')],
      ln: [T, attr.float('epsilon', this.w.config.layerNormEps)],
      pad: [T, i32('Tpaddings')],
      softmax1: [attr.float('scale', 1)],
      norm: [attr.float('epsilon', this.w.config.layerNormEps)],
      mean: [T, i32('Tidx'), attr.bool('keep_dims', true)],
      concat2: [T, attr.int('N', 2), i32('Tidx')],
    };
  }

  /**
   * The prompt pass: ids/positions [B·P] (left-padded rows), bias [B, 1, P, P]
   * (causal and padding) or null. Starts the cache with the P prompt columns
   * and returns the logits [B, V] at each row's last prompt position.
   */
  prefill(ids: Int32Array, positions: Int32Array, P: number, bias: Float32Array | null): Float32Array {
    const s = new native.RawScope();
    try {
      const { B } = this;
      const { nHeads: H, dModel: d } = this.w.config;
      const hd = d / H;
      const biasId = bias && s.upload([B, 1, P, P], bias);
      const mkl = this.useMkl(B * P);
      // P query rows per head: oneDNN's kernels from a few rows on (native.ts).
      const qk = native.batchMatMulKernel(P, false, true);
      const pv = native.batchMatMulKernel(P, false, false);
      let x = this.embed(s, s.upload([B * P], ids), s.upload([B * P], positions));
      this.w.layers.forEach((w, l) => {
        const qkv = this.linear(s, this.normalize(s, x, mkl), w.wqkv, w.bqkv);
        const heads = s.op1('Transpose', this.a.transpose, [s.op1('Reshape', this.a.reshape, [qkv, native.intConst([B, P, 3 * H, hd])]), native.intConst([0, 2, 1, 3])]);
        const [q, k, v] = s.op('SplitV', this.a.split3, [heads, native.intConst([H, H, H]), native.intScalar(1)], 3) as [number, number, number];
        this.keys[l] = s.keep(this.cacheOf(s, k, P));
        this.values[l] = s.keep(this.cacheOf(s, v, P));
        const scores = s.op1(qk.op, qk.attrs, [q, k]);
        const probs =
          biasId === null
            ? s.op1('Softmax', this.a.T, [scores])
            : this.width !== undefined
              ? s.op1('CrlhfAttentionSoftmax', this.a.softmax1, [scores, biasId])
              : s.op1('Softmax', this.a.T, [s.op1('AddV2', this.a.T, [scores, biasId])]);
        const y = s.op1(pv.op, pv.attrs, [probs, v]);
        const merged = s.op1('Reshape', this.a.reshape, [s.op1('Transpose', this.a.transpose, [y, native.intConst([0, 2, 1, 3])]), native.intConst([B * P, d])]);
        x = this.block(s, w, x, merged, mkl, B * P);
      });
      const last = s.op1('GatherV2', this.a.gather, [x, s.upload([B], Int32Array.from({ length: B }, (_, i) => i * P + P - 1)), native.intScalar(0)]);
      return this.logits(s, last, this.useMkl(B));
    } finally {
      s.dispose();
    }
  }

  /**
   * One token per row, appended as cache column t: ids/positions [B], bias
   * [B, 1, 1, t + 1] (0 where a key is visible) or null when none is masked.
   * Returns the logits [B, V].
   */
  step(ids: Int32Array, positions: Int32Array, t: number, bias: Float32Array | null): Float32Array {
    const s = new native.RawScope();
    try {
      if (this.width !== undefined) return this.fusedStep(s, ids, positions, t, bias);
      const { B } = this;
      const { nHeads: H, dModel: d } = this.w.config;
      const hd = d / H;
      const biasId = bias && s.upload([B, 1, 1, t + 1], bias);
      const mkl = this.useMkl(B);
      // One query row per head: Eigen's kernels (native.ts).
      const qk = native.batchMatMulKernel(1, false, true);
      const pv = native.batchMatMulKernel(1, false, false);
      let x = this.embed(s, s.upload([B], ids), s.upload([B], positions));
      this.w.layers.forEach((w, l) => {
        const qkv = this.linear(s, this.normalize(s, x, mkl), w.wqkv, w.bqkv);
        // With one position per row, [B, 3H, 1, hd] is a reshape of qkv.
        const heads = s.op1('Reshape', this.a.reshape, [qkv, native.intConst([B, 3 * H, 1, hd])]);
        const [q, k, v] = s.op('SplitV', this.a.split3, [heads, native.intConst([H, H, H]), native.intScalar(1)], 3) as [number, number, number];
        const keys = s.keep(s.op1('ConcatV2', this.a.concat2, [this.keys[l] as number, k, native.intScalar(2)]));
        const values = s.keep(s.op1('ConcatV2', this.a.concat2, [this.values[l] as number, v, native.intScalar(2)]));
        native.freeRaw(this.keys[l] as number);
        native.freeRaw(this.values[l] as number);
        this.keys[l] = keys;
        this.values[l] = values;
        let scores = s.op1(qk.op, qk.attrs, [q, keys]);
        if (biasId !== null) scores = s.op1('AddV2', this.a.T, [scores, biasId]);
        const y = s.op1(pv.op, pv.attrs, [s.op1('Softmax', this.a.T, [scores]), values]);
        x = this.block(s, w, x, s.op1('Reshape', this.a.reshape, [y, native.intConst([B, d])]), mkl, B);
      });
      return this.logits(s, x, mkl);
    } finally {
      s.dispose();
    }
  }

  /**
   * step with the fused kernels: the attention one op per layer
   * (CrlhfDecodeAttention, the cache written in place), and each residual add
   * and the normalisation after it one op (CrlhfAddNormalize; _MklLayerNorm
   * took ~50 µs for a few rows, most of it fixed cost).
   */
  private fusedStep(s: native.RawScope, ids: Int32Array, positions: Int32Array, t: number, bias: Float32Array | null): Float32Array {
    const { B } = this;
    const biasId = s.upload([B, t + 1], bias ?? new Float32Array(B * (t + 1)));
    let x = this.embed(s, s.upload([B], ids), s.upload([B], positions));
    let xn = s.op1('CrlhfNormalize', this.a.norm, [x]);
    this.w.layers.forEach((w, l) => {
      const qkv = this.linear(s, xn, w.wqkv, w.bqkv);
      const att = native.decodeAttention(s, qkv, this.keys[l] as number, this.values[l] as number, biasId);
      const [x1, x1n] = s.op('CrlhfAddNormalize', this.a.norm, [x, this.linear(s, att, w.wo, w.bo)], 2) as [number, number];
      const h = this.geluLinear(s, x1n, w, B);
      [x, xn] = s.op('CrlhfAddNormalize', this.a.norm, [x1, this.linear(s, h, w.wproj, w.bproj)], 2) as [number, number];
    });
    return s.read(this.linear(s, xn, this.w.wlogits, this.w.blogits)).slice();
  }

  /** The prompt's keys or values [B, H, P, hd] as the cache: as they are, or zero-padded to the full width for fusedStep. */
  private cacheOf(s: native.RawScope, kv: number, P: number): number {
    if (this.width === undefined) return kv;
    const paddings = native.intConst([0, 0, 0, 0, 0, this.width - P, 0, 0], [4, 2]);
    return s.op1('PadV2', this.a.pad, [kv, paddings, native.scalarConst(0)]);
  }

  dispose(): void {
    for (const id of [...this.keys, ...this.values]) native.freeRaw(id);
    this.keys = [];
    this.values = [];
  }

  private embed(s: native.RawScope, ids: number, positions: number): number {
    const g = (table: tf.Tensor, idx: number) => s.op1('GatherV2', this.a.gather, [s.of(table), idx, native.intScalar(0)]);
    return s.op1('AddV2', this.a.T, [g(this.w.wte, ids), g(this.w.wpe, positions)]);
  }

  /** Residual attention output, then the MLP: x + o, then + mlp(LN(·)). */
  private block(s: native.RawScope, w: Readonly<Layer>, x: number, merged: number, mkl: boolean, rows: number): number {
    const x1 = s.op1('AddV2', this.a.T, [x, this.linear(s, merged, w.wo, w.bo)]);
    const h = this.geluLinear(s, this.normalize(s, x1, mkl), w, rows);
    return s.op1('AddV2', this.a.T, [x1, this.linear(s, h, w.wproj, w.bproj)]);
  }

  /** GELU(x·Wfc + bfc). */
  private geluLinear(s: native.RawScope, x: number, w: Readonly<Layer>, rows: number): number {
    if (this.fusedGelu && rows <= FUSED_GELU_MAX_ROWS) return s.op1('_MklNativeFusedMatMul', native.fusedGeluAttrs(), [x, s.of(w.wfc), s.of(w.bfc)]);
    const u = this.linear(s, x, w.wfc, w.bfc);
    // GELU as x·σ(x·(2c + 2ca·x²)).
    const z = s.op1('Mul', this.a.T, [u, s.op1('AddV2', this.a.T, [s.op1('Mul', this.a.T, [s.op1('Square', this.a.T, [u]), native.scalarConst(2 * GELU_C * GELU_A)]), native.scalarConst(2 * GELU_C)])]);
    return s.op1('Mul', this.a.T, [u, s.op1('Sigmoid', this.a.T, [z])]);
  }

  private linear(s: native.RawScope, x: number, w: tf.Tensor, b: tf.Tensor): number {
    if (native.hasFusedMatMul()) return s.op1('_FusedMatMul', native.fusedLinearAttrs(), [x, s.of(w), s.of(b)]);
    return s.op1('BiasAdd', this.a.biasAdd, [s.op1('MatMul', this.a.matmul, [x, s.of(w)]), s.of(b)]);
  }

  /**
   * _MklLayerNorm is one kernel, but on a multi-threaded pool it pays
   * ~0.2 ms to wake the pool's threads whatever the size (8×256: 0.25 ms on
   * two threads, 0.05 ms on one): there it is worth it for many rows only.
   */
  private useMkl(rows: number): boolean {
    return this.mkl && (this.oneThread || rows * this.w.config.dModel >= MKL_LN_MIN_ELEMENTS);
  }

  private normalize(s: native.RawScope, x: number, mkl: boolean): number {
    const d = this.w.config.dModel;
    if (mkl) return s.op1('_MklLayerNorm', this.a.ln, [x, native.filled(d, 1), native.filled(d, 0)]);
    const mean = (t: number) => s.op1('Mean', this.a.mean, [t, native.intScalar(-1)]);
    const xc = s.op1('Sub', this.a.T, [x, mean(x)]);
    const v = mean(s.op1('Square', this.a.T, [xc]));
    return s.op1('Mul', this.a.T, [xc, s.op1('Rsqrt', this.a.T, [s.op1('AddV2', this.a.T, [v, native.scalarConst(this.w.config.layerNormEps)])])]);
  }

  private logits(s: native.RawScope, x: number, mkl: boolean): Float32Array {
    return s.read(this.linear(s, this.normalize(s, x, mkl), this.w.wlogits, this.w.blogits)).slice();
  }
}
