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
  private readonly slots = new Map<string, { m: tf.Variable; v: tf.Variable; decay: boolean }>();

  constructor(params: Map<string, tf.Variable>, cfg: AdamWConfig = {}) {
    this.beta1 = cfg.beta1 ?? 0.9;
    this.beta2 = cfg.beta2 ?? 0.999;
    this.eps = cfg.eps ?? 1e-8;
    this.weightDecay = cfg.weightDecay ?? 0.01;
    const decays = cfg.decays ?? ((_: string, v: tf.Variable) => v.rank >= 2);
    this.params = params;
    for (const [name, p] of params) {
      this.slots.set(name, {
        m: tf.variable(tf.zerosLike(p), false),
        v: tf.variable(tf.zerosLike(p), false),
        decay: decays(name, p),
      });
    }
  }

  /**
   * One update with learning rate `lr`; `grads` by parameter name (missing
   * names are left alone, their moments untouched). Runs on device only.
   */
  apply(grads: Map<string, tf.Tensor>, lr: number): void {
    const t = this.step + 1;
    const { beta1: b1, beta2: b2, eps, weightDecay: wd } = this;
    const bc1 = 1 - b1 ** t;
    const bc2 = 1 - b2 ** t;
    tf.tidy(() => {
      for (const [name, g] of grads) {
        const p = this.params.get(name);
        const s = this.slots.get(name);
        if (!p || !s) throw new Error(`AdamW: gradient for unknown parameter ${name}`);
        const m = tf.add(tf.mul(s.m, b1), tf.mul(g, 1 - b1));
        const v = tf.add(tf.mul(s.v, b2), tf.mul(tf.square(g), 1 - b2));
        const update = tf.div(tf.div(m, bc1), tf.add(tf.sqrt(tf.div(v, bc2)), eps));
        // Decay uses the weight before this step's update, as PyTorch does.
        const decayed = s.decay && wd !== 0 ? tf.mul(p, 1 - lr * wd) : p;
        p.assign(tf.sub(decayed, tf.mul(update, lr)));
        s.m.assign(m);
        s.v.assign(v);
      }
    });
    this.step = t;
  }

  async exportState(): Promise<AdamWState> {
    const m: Record<string, Float32Array> = {};
    const v: Record<string, Float32Array> = {};
    for (const [name, s] of this.slots) {
      m[name] = (await s.m.data()) as Float32Array;
      v[name] = (await s.v.data()) as Float32Array;
    }
    return { step: this.step, m, v };
  }

  loadState(state: AdamWState): void {
    for (const [name, s] of this.slots) {
      const m = state.m[name];
      const v = state.v[name];
      if (!m || !v) throw new Error(`AdamW state has no moments for ${name}`);
      if (m.length !== s.m.size || v.length !== s.v.size) throw new Error(`AdamW state for ${name} has ${m.length} values, parameter has ${s.m.size}`);
      tf.tidy(() => {
        s.m.assign(tf.tensor(m, s.m.shape, 'float32'));
        s.v.assign(tf.tensor(v, s.v.shape, 'float32'));
      });
    }
    this.step = state.step;
  }

  dispose(): void {
    for (const s of this.slots.values()) tf.dispose([s.m, s.v]);
    this.slots.clear();
  }
}

/**
 * Scales gradients so their global L2 norm is at most maxNorm, as
 * torch.nn.utils.clip_grad_norm_: coef = min(1, maxNorm / (norm + 1e-6)).
 * Returns the pre-clip norm as a device scalar, so the caller reads it with
 * the loss in one transfer. Call inside tf.tidy.
 */
export function clipByGlobalNorm(grads: Map<string, tf.Tensor>, maxNorm: number): { grads: Map<string, tf.Tensor>; norm: tf.Scalar } {
  const squares = [...grads.values()].map((g) => tf.sum(tf.square(g)));
  const norm = tf.sqrt(tf.addN(squares)) as tf.Scalar;
  if (!Number.isFinite(maxNorm) || maxNorm <= 0) return { grads, norm };
  const coef = tf.minimum(tf.div(maxNorm, tf.add(norm, 1e-6)), 1);
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
