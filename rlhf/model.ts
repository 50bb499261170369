// A GPT-2-style decoder-only transformer (arXiv 1706.03762; GPT-2 layout as
// in nanoGPT): token + learned position embeddings, pre-LayerNorm blocks with
// causal multi-head self-attention and a GELU MLP, a final LayerNorm, and an
// output projection tied to the token embedding. On top of one trunk:
// PolicyModel (LM logits), ValueModel (a scalar per token), RewardModel (a
// scalar per sequence, read at its last real token).
//
// Activations stay 2-D [batch·time, dModel] between blocks, so every linear
// layer is one plain matmul; attention reshapes to [batch, heads, time,
// headDim] and runs all heads in one batched matmul. Padding follows the
// layout in batch.ts (prompts left-padded, responses right-padded).
import * as tf from '@tensorflow/tfjs';
import { Rng } from './rng.js';
import { attentionWeights, embed, gelu, layerNorm, linear, matmul } from './ops.js';
import { InferenceSession, MASKED } from './inference.js';
import type { BatchTensors } from './batch.js';

export interface TransformerConfig {
  vocabSize: number;
  /** Longest sequence (prompt + response) the position table covers. */
  contextLength: number;
  dModel: number;
  nHeads: number;
  nLayers: number;
  /** MLP hidden width = mlpRatio · dModel (default 4). */
  mlpRatio?: number;
  /** default 1e-5 */
  layerNormEps?: number;
}

export type ResolvedConfig = Required<TransformerConfig>;

export function resolveConfig(c: TransformerConfig): ResolvedConfig {
  const r = { mlpRatio: 4, layerNormEps: 1e-5, ...c };
  for (const k of ['vocabSize', 'contextLength', 'dModel', 'nHeads', 'nLayers', 'mlpRatio'] as const) {
    if (!Number.isInteger(r[k]) || r[k] <= 0) throw new Error(`TransformerConfig.${k} = ${r[k]} must be a positive integer`);
  }
  if (r.dModel % r.nHeads !== 0) throw new Error(`TransformerConfig.dModel ${r.dModel} is not divisible by nHeads ${r.nHeads}`);
  return r;
}

/** Keys and values of every past position, per layer: [batch, heads, time, headDim] each. */
export interface KVCache {
  layers: { k: tf.Tensor4D; v: tf.Tensor4D }[];
  /** Cached positions (columns), pads included. */
  length: number;
}

export function disposeCache(cache: KVCache): void {
  for (const { k, v } of cache.layers) tf.dispose([k, v]);
}

const causalMasks = new Map<number, Float32Array>();

/** [T, T] lower-triangular ones, built on the host once per length (tf.linalg.bandPart is a dozen ops). */
function causalMask(T: number): Float32Array {
  let m = causalMasks.get(T);
  if (!m) {
    m = new Float32Array(T * T);
    for (let i = 0; i < T; i++) m.fill(1, i * T, i * T + i + 1);
    causalMasks.set(T, m);
  }
  return m;
}

export class Transformer {
  readonly config: ResolvedConfig;
  /** Every weight by a stable name (`h.0.attn.wqkv`, …): the unit of optimizers and checkpoints. */
  readonly params = new Map<string, tf.Variable>();
  private decoding: InferenceSession | undefined;

  constructor(config: TransformerConfig, rng: Rng) {
    this.config = resolveConfig(config);
    const { vocabSize: V, contextLength: C, dModel: d, nLayers: L, mlpRatio } = this.config;
    const std = 0.02;
    // GPT-2: residual-stream projections are scaled by 1/sqrt(2·nLayers) so the
    // residual's variance does not grow with depth.
    const resid = std / Math.sqrt(2 * L);
    this.addParam('wte', [V, d], rng, { std });
    this.addParam('wpe', [C, d], rng, { std });
    for (let l = 0; l < L; l++) {
      const p = `h.${l}.`;
      this.addParam(p + 'ln1.g', [d], rng, { value: 1 });
      this.addParam(p + 'ln1.b', [d], rng, { value: 0 });
      this.addParam(p + 'attn.wqkv', [d, 3 * d], rng, { std });
      this.addParam(p + 'attn.bqkv', [3 * d], rng, { value: 0 });
      this.addParam(p + 'attn.wo', [d, d], rng, { std: resid });
      this.addParam(p + 'attn.bo', [d], rng, { value: 0 });
      this.addParam(p + 'ln2.g', [d], rng, { value: 1 });
      this.addParam(p + 'ln2.b', [d], rng, { value: 0 });
      this.addParam(p + 'mlp.wfc', [d, mlpRatio * d], rng, { std });
      this.addParam(p + 'mlp.bfc', [mlpRatio * d], rng, { value: 0 });
      this.addParam(p + 'mlp.wproj', [mlpRatio * d, d], rng, { std: resid });
      this.addParam(p + 'mlp.bproj', [d], rng, { value: 0 });
    }
    this.addParam('lnf.g', [d], rng, { value: 1 });
    this.addParam('lnf.b', [d], rng, { value: 0 });
  }

  /**
   * Adds a weight initialised in JS from `rng.fork(name)`, so the same seed
   * gives bit-identical weights on every backend and adding a weight does not
   * change the others.
   */
  protected addParam(name: string, shape: number[], rng: Rng, init: { std?: number; value?: number }): void {
    const n = shape.reduce((a, b) => a * b, 1);
    const values = new Float32Array(n);
    if (init.std !== undefined) {
      const r = rng.fork(name);
      for (let i = 0; i < n; i++) values[i] = r.normal(0, init.std);
    } else {
      values.fill(init.value ?? 0);
    }
    this.params.set(name, tf.variable(tf.tensor(values, shape, 'float32'), true));
  }

  p(name: string): tf.Variable {
    const v = this.params.get(name);
    if (!v) throw new Error(`no parameter ${name}`);
    return v;
  }

  /** A weight as a vector / matrix, for typed op calls. */
  vec(name: string): tf.Tensor1D {
    return this.p(name) as tf.Tensor1D;
  }

  mat(name: string): tf.Tensor2D {
    return this.p(name) as tf.Tensor2D;
  }

  get numParams(): number {
    let n = 0;
    for (const v of this.params.values()) n += v.size;
    return n;
  }


  /**
   * Final hidden states [B·T, d] of a padded batch (call inside tf.tidy). With
   * `withCache`, also returns every layer's keys/values for incremental decoding.
   */
  forward(input: BatchTensors, withCache = false): { hidden: tf.Tensor2D; cache?: KVCache } {
    const [B, T] = input.ids.shape;
    const cfg = this.config;
    // Additive attention bias [B, 1, T, T]: a query sees keys at or before it
    // that are real tokens.
    const causal = tf.tensor2d(causalMask(T), [T, T]); // lower-triangular ones
    const allowed = tf.mul(causal, tf.reshape(input.keyMask, [B, 1, 1, T]));
    const bias = tf.mul(tf.sub(1, allowed), MASKED) as tf.Tensor4D;
    let x = this.embedTokens(tf.reshape(input.ids, [-1]), tf.reshape(input.positions, [-1])); // [B·T, d]
    const layers: KVCache['layers'] = [];
    for (let l = 0; l < cfg.nLayers; l++) {
      const out = this.block(l, x, bias, B, T);
      x = out.x;
      if (withCache) layers.push({ k: out.k, v: out.v });
    }
    const hidden = layerNorm(x, this.vec('lnf.g'), this.vec('lnf.b'), cfg.layerNormEps);
    return withCache ? { hidden, cache: { layers, length: T } } : { hidden };
  }

  /**
   * One decoding step for every row: ids/positions [B] int32 of the newest
   * token, keyMask [B, cache.length + 1] over cached columns plus this one.
   * Returns hidden [B, d] and the cache extended by one column (the caller
   * disposes the old one). Runs the decoding path (inference.ts) with weights
   * prepared once and kept until they change; `generate` uses that path directly.
   */
  step(ids: tf.Tensor1D, positions: tf.Tensor1D, keyMask: tf.Tensor2D, cache: KVCache): { hidden: tf.Tensor2D; cache: KVCache } {
    const B = ids.shape[0];
    const Tk = cache.length + 1;
    const bias = tf.mul(tf.sub(1, tf.reshape(keyMask, [B, 1, 1, Tk])), MASKED);
    const session = this.inference();
    const out = session.forward(ids, positions, B, 1, bias, cache);
    return { hidden: session.finalHidden(out.hidden), cache: out.cache };
  }

  /** The decoding session for the current weights: built on first use, rebuilt after any weight changed. */
  inference(): InferenceSession {
    if (!this.decoding?.isCurrent()) {
      this.decoding?.dispose();
      this.decoding = new InferenceSession(this);
    }
    return this.decoding;
  }

  private embedTokens(ids: tf.Tensor1D, positions: tf.Tensor1D): tf.Tensor2D {
    return tf.add(embed(this.mat('wte'), ids), embed(this.mat('wpe'), positions));
  }

  /** Pre-LN block: x + attn(ln1(x)), then + mlp(ln2(·)). x is [B·T, d]. */
  private block(
    l: number,
    x: tf.Tensor2D,
    bias: tf.Tensor4D,
    B: number,
    T: number,
  ): { x: tf.Tensor2D; k: tf.Tensor4D; v: tf.Tensor4D } {
    const p = `h.${l}.`;
    const eps = this.config.layerNormEps;
    const att = this.attention(l, layerNorm(x, this.vec(p + 'ln1.g'), this.vec(p + 'ln1.b'), eps), bias, B, T);
    const x1: tf.Tensor2D = tf.add(x, att.y);
    const h = gelu(linear(layerNorm(x1, this.vec(p + 'ln2.g'), this.vec(p + 'ln2.b'), eps), this.mat(p + 'mlp.wfc'), this.vec(p + 'mlp.bfc')));
    const x2: tf.Tensor2D = tf.add(x1, linear(h, this.mat(p + 'mlp.wproj'), this.vec(p + 'mlp.bproj')));
    return { x: x2, k: att.k, v: att.v };
  }

  /** Causal multi-head attention on xn [B·T, d]; returns the keys/values of these T positions (the prefill's cache). */
  private attention(
    l: number,
    xn: tf.Tensor2D,
    bias: tf.Tensor4D,
    B: number,
    T: number,
  ): { y: tf.Tensor2D; k: tf.Tensor4D; v: tf.Tensor4D } {
    const p = `h.${l}.attn.`;
    const { nHeads: H, dModel: d } = this.config;
    const hd = d / H;
    const qkv = linear(xn, this.mat(p + 'wqkv'), this.vec(p + 'bqkv')); // [B·T, 3d]
    // [B, T, 3H, hd] → [B, 3H, T, hd]; q, k, v are consecutive groups of H heads.
    const heads = tf.transpose(tf.reshape(qkv, [B, T, 3 * H, hd]), [0, 2, 1, 3]);
    const [q, k, v] = tf.split(heads, 3, 1) as [tf.Tensor4D, tf.Tensor4D, tf.Tensor4D]; // [B, H, T, hd]
    const att = attentionWeights(q, k, bias, 1 / Math.sqrt(hd)); // [B, H, T, T]
    const y = matmul(att, v); // [B, H, T, hd]
    const merged = tf.reshape(tf.transpose(y, [0, 2, 1, 3]), [B * T, d]) as tf.Tensor2D;
    return { y: linear(merged, this.mat(p + 'wo'), this.vec(p + 'bo')), k, v };
  }

  /**
   * Marks every weight non-trainable (the frozen reference policy): gradient
   * calls then skip them and an optimizer over them fails loudly.
   */
  freeze(): this {
    for (const v of this.params.values()) v.trainable = false;
    return this;
  }

  /**
   * Copies every weight whose name and shape `from` also has; returns the
   * names copied. The standard RLHF inits: reference = frozen copy of SFT,
   * value and reward models = SFT trunk with a fresh head.
   */
  copyFrom(from: Transformer): string[] {
    const copied: string[] = [];
    for (const [name, v] of this.params) {
      const src = from.params.get(name);
      if (!src) continue;
      if (src.shape.join() !== v.shape.join()) throw new Error(`copyFrom: ${name} has shape [${src.shape}] in source, [${v.shape}] here`);
      v.assign(src);
      copied.push(name);
    }
    return copied;
  }

  dispose(): void {
    this.decoding?.dispose();
    this.decoding = undefined;
    for (const v of this.params.values()) v.dispose();
    this.params.clear();
  }
}

/** Copies matching weights from one model into another (see Transformer.copyFrom). */
export function cloneWeights(from: Transformer, to: Transformer): string[] {
  return to.copyFrom(from);
}

/** Language-model head: logits = hidden · wteᵀ (tied embedding, as GPT-2). */
export class PolicyModel extends Transformer {
  readonly kind = 'policy' as const;

  /** hidden [N, d] → logits [N, V]. */
  logits(hidden: tf.Tensor2D): tf.Tensor2D {
    return matmul(hidden, this.p('wte'), true);
  }

  /** A new model with the same config and weights: the frozen reference policy. */
  clone(): PolicyModel {
    const m = new PolicyModel(this.config, new Rng('clone'));
    m.copyFrom(this);
    return m;
  }
}

/**
 * Trunk + linear scalar head. The head starts N(0, 1/(d+1)) as in
 * lm-human-preferences (arXiv 1909.08593), from `rng`'s stream for 'head.w'.
 */
abstract class ScalarHeadModel extends Transformer {
  constructor(config: TransformerConfig, rng: Rng) {
    super(config, rng);
    const d = this.config.dModel;
    this.addParam('head.w', [d, 1], rng, { std: 1 / Math.sqrt(d + 1) });
    this.addParam('head.b', [1], rng, { value: 0 });
  }

  /** hidden [N, d] → [N]. */
  head(hidden: tf.Tensor2D): tf.Tensor1D {
    return tf.reshape(linear(hidden, this.mat('head.w'), this.vec('head.b')), [-1]);
  }
}

/** Critic: V(state) for every position. */
export class ValueModel extends ScalarHeadModel {
  readonly kind = 'value' as const;
}

/** r(x, y): the scalar head read at each sequence's last real token. */
export class RewardModel extends ScalarHeadModel {
  readonly kind = 'reward' as const;

  /** hidden [B·T, d] and a [B, T] one-hot of each row's last real token → scores [B]. */
  scores(hidden: tf.Tensor2D, lastSelector: tf.Tensor2D): tf.Tensor1D {
    const [B, T] = lastSelector.shape;
    const d = this.config.dModel;
    const pooled = tf.sum(tf.mul(tf.reshape(hidden, [B, T, d]), tf.reshape(lastSelector, [B, T, 1])), 1) as tf.Tensor2D; // [B, d]
    return this.head(pooled);
  }
}

export type AnyModel = PolicyModel | ValueModel | RewardModel;

/**
 * Hidden states at the positions that predict each response token: column
 * P−1+j predicts response token j. hidden [B·T, d] → [B·R, d].
 */
export function responseHidden(hidden: tf.Tensor2D, B: number, P: number, R: number, d: number): tf.Tensor2D {
  const T = hidden.shape[0] / B;
  return tf.reshape(tf.slice(tf.reshape(hidden, [B, T, d]), [0, P - 1, 0], [B, R, d]), [B * R, d]);
}
