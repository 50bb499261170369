// AdamW (Loshchilov & Hutter, arXiv 1711.05101: weight decay decoupled from
// the adaptive step; Adam's bias correction from arXiv 1412.6980) and
// global-norm gradient clipping (arXiv 1211.5063), written out so the
// optimizer state is ours to checkpoint and the update matches PyTorch's
// torch.optim.AdamW step for step.
import * as tf from '@tensorflow/tfjs';

export interface AdamWConfig {
  beta1?: number; // default 0.9
  beta2?: number; // default 0.999
  eps?: number; // default 1e-8
  /** Decoupled decay coefficient λ: p ← p − lr·λ·p (default 0.01, as PyTorch). */
  weightDecay?: number;
  /**
   * Which weights decay. Default: matrices (rank ≥ 2: linear weights and
   * embeddings), not biases or LayerNorm gains, as in nanoGPT/GPT-2.
   */
  decays?: (name: string, v: tf.Variable) => boolean;
}

export interface AdamWState {
  step: number;
  /** First and second moments by parameter name, float32 in parameter shape. */
  m: Record<string, Float32Array>;
  v: Record<string, Float32Array>;
}

export class AdamW {
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly weightDecay: number;
  /** Completed update steps; bias correction uses step + 1 for the next one. */
  step = 0;
  private readonly params: Map<string, tf.Variable>;
  private readonly names: string[];
  private readonly sizes: number[];
  // Moments of all parameters as two flat vectors, and a 0/1 decay mask in the
  // same layout: the update is ~15 ops on flat vectors instead of ~15 per
  // parameter (tfjs-node pays ~50 µs per op, which dominated small models).
  private readonly m: tf.Variable;
  private readonly v: tf.Variable;
  private readonly decayMask: tf.Tensor1D;

  constructor(params: Map<string, tf.Variable>, cfg: AdamWConfig = {}) {
    this.beta1 = cfg.beta1 ?? 0.9;
    this.beta2 = cfg.beta2 ?? 0.999;
    this.eps = cfg.eps ?? 1e-8;
    this.weightDecay = cfg.weightDecay ?? 0.01;
    const decays = cfg.decays ?? ((_: string, v: tf.Variable) => v.rank >= 2);
    this.params = params;
    this.names = [...params.keys()];
    this.sizes = [...params.values()].map((p) => p.size);
    const total = this.sizes.reduce((a, b) => a + b, 0);
    const mask = new Float32Array(total);
    let o = 0;
    for (const [name, p] of params) {
      if (decays(name, p)) mask.fill(1, o, o + p.size);
      o += p.size;
    }
    this.decayMask = tf.tensor1d(mask);
    this.m = tf.variable(tf.zeros([total]), false);
    this.v = tf.variable(tf.zeros([total]), false);
  }

  /**
   * One update with learning rate `lr` from gradients by parameter name (all
   * parameters must have one). With `maxGradNorm`, gradients are first clipped
   * to that global norm (as clipByGlobalNorm). Returns the pre-clip global
   * norm as a device scalar (the caller disposes it or reads it with the
   * loss). Runs on device only.
   */
  apply(grads: Map<string, tf.Tensor>, lr: number, opts: { maxGradNorm?: number } = {}): tf.Scalar {
    const t = this.step + 1;
    const { beta1: b1, beta2: b2, eps, weightDecay: wd } = this;
    const bc1 = 1 - b1 ** t;
    const bc2 = 1 - b2 ** t;
    const norm = tf.tidy(() => {
      const g0 = flatten(this.names.map((name) => {
        const g = grads.get(name);
        if (!g) throw new Error(`AdamW: no gradient for parameter ${name}`);
        return g;
      }));
      const norm = l2(g0);
      const g = opts.maxGradNorm !== undefined && Number.isFinite(opts.maxGradNorm) && opts.maxGradNorm > 0 ? tf.mul(g0, clipCoef(norm, opts.maxGradNorm)) : g0;
      const m = tf.add(tf.mul(this.m, b1), tf.mul(g, 1 - b1));
      const v = tf.add(tf.mul(this.v, b2), tf.mul(tf.square(g), 1 - b2));
      // PyTorch's form: p ← p·(1 − lr·λ) − (lr/bc1)·m / (sqrt(v)/sqrt(bc2) + eps);
      // the decay uses the weight before this step's update.
      const denom = tf.add(tf.div(tf.sqrt(v), Math.sqrt(bc2)), eps);
      const p0 = flatten([...this.params.values()]);
      const decay = wd !== 0 ? tf.sub(1, tf.mul(this.decayMask, lr * wd)) : undefined;
      const p = tf.sub(decay ? tf.mul(p0, decay) : p0, tf.mul(tf.div(m, denom), lr / bc1));
      const parts = tf.split(p, this.sizes);
      this.names.forEach((name, i) => {
        const variable = this.params.get(name) as tf.Variable;
        variable.assign(tf.reshape(parts[i] as tf.Tensor, variable.shape));
      });
      this.m.assign(m);
      this.v.assign(v);
      return norm;
    });
    this.step = t;
    return norm;
  }

  async exportState(): Promise<AdamWState> {
    const mAll = (await this.m.data()) as Float32Array;
    const vAll = (await this.v.data()) as Float32Array;
    const m: Record<string, Float32Array> = {};
    const v: Record<string, Float32Array> = {};
    let o = 0;
    this.names.forEach((name, i) => {
      const n = this.sizes[i] as number;
      m[name] = mAll.slice(o, o + n);
      v[name] = vAll.slice(o, o + n);
      o += n;
    });
    return { step: this.step, m, v };
  }

  loadState(state: AdamWState): void {
    const total = this.m.size;
    const mAll = new Float32Array(total);
    const vAll = new Float32Array(total);
    let o = 0;
    this.names.forEach((name, i) => {
      const n = this.sizes[i] as number;
      const m = state.m[name];
      const v = state.v[name];
      if (!m || !v) throw new Error(`AdamW state has no moments for ${name}`);
      if (m.length !== n || v.length !== n) throw new Error(`AdamW state for ${name} has ${m.length} values, parameter has ${n}`);
      mAll.set(m, o);
      vAll.set(v, o);
      o += n;
    });
    tf.tidy(() => {
      this.m.assign(tf.tensor1d(mAll));
      this.v.assign(tf.tensor1d(vAll));
    });
    this.step = state.step;
  }

  dispose(): void {
    tf.dispose([this.m, this.v, this.decayMask]);
  }
}

/** sqrt(Σx²); tf.norm goes through Pow, which is slow on tfjs-node. */
function l2(x: tf.Tensor1D): tf.Scalar {
  return tf.sqrt(tf.sum(tf.square(x))) as tf.Scalar;
}

function flatten(ts: tf.Tensor[]): tf.Tensor1D {
  return tf.concat(ts.map((t) => tf.reshape(t, [-1]))) as tf.Tensor1D;
}

/** torch.nn.utils.clip_grad_norm_'s factor: min(1, maxNorm / (norm + 1e-6)). */
function clipCoef(norm: tf.Scalar, maxNorm: number): tf.Scalar {
  return tf.minimum(tf.div(maxNorm, tf.add(norm, 1e-6)), 1) as tf.Scalar;
}

/**
 * Scales gradients so their global L2 norm is at most maxNorm, as
 * torch.nn.utils.clip_grad_norm_: coef = min(1, maxNorm / (norm + 1e-6)).
 * Returns the pre-clip norm as a device scalar, so the caller reads it with
 * the loss in one transfer. Call inside tf.tidy.
 */
export function clipByGlobalNorm(grads: Map<string, tf.Tensor>, maxNorm: number): { grads: Map<string, tf.Tensor>; norm: tf.Scalar } {
  const norm = l2(flatten([...grads.values()]));
  if (!Number.isFinite(maxNorm) || maxNorm <= 0) return { grads, norm };
  const coef = clipCoef(norm, maxNorm);
  const clipped = new Map<string, tf.Tensor>();
  for (const [name, g] of grads) clipped.set(name, tf.mul(g, coef));
  return { grads: clipped, norm };
}

/**
 * Gradients of a scalar loss w.r.t. a model's named weights, keyed by our
 * names (tf.variableGrads keys them by tfjs's internal variable names).
 */
export function namedGrads(
  lossFn: () => tf.Scalar,
  params: Map<string, tf.Variable>,
): { value: tf.Scalar; grads: Map<string, tf.Tensor> } {
  const vars = [...params.values()];
  const { value, grads } = tf.variableGrads(lossFn, vars);
  const out = new Map<string, tf.Tensor>();
  for (const [name, v] of params) {
    const g = grads[v.name];
    if (g) out.set(name, g);
  }
  return { value, grads: out };
}
