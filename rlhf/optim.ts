// AdamW (Loshchilov & Hutter, arXiv 1711.05101: weight decay decoupled from
// the adaptive step; Adam's bias correction from arXiv 1412.6980) and
// global-norm gradient clipping (arXiv 1211.5063), written out so the
// optimizer state is ours to checkpoint and the update matches PyTorch's
// torch.optim.AdamW step for step.
import * as tf from '@tensorflow/tfjs';
import * as native from './native.js';

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
  /**
   * How the update runs (same numbers within float32 rounding):
   * 'fused': one kernel per parameter, one pass (tensorflow backend only):
   * CrlhfAdamW from infra/kernels where the addon has it, else TensorFlow's
   * ResourceApplyAdam after the decay and clip multiplies; 'chunked': tfjs ops on flat vectors of at most
   * `chunkSize` elements, each chunk in its own tidy (any backend). Default
   * 'auto': fused where available.
   */
  impl?: 'auto' | 'fused' | 'chunked';
  /** Elements per flat vector in the chunked update (default 2^20). */
  chunkSize?: number;
}

export interface AdamWState {
  step: number;
  /** First and second moments by parameter name, float32 in parameter shape. */
  m: Record<string, Float32Array>;
  v: Record<string, Float32Array>;
}

/** One step's scalars, shared by both implementations. */
interface StepScalars {
  lr: number;
  /** PyTorch's form: p ← p·(1 − lr·λ) − (lr/bc1)·m / (sqrt(v)/sqrt(bc2) + eps). */
  bc1: number;
  bc2: number;
  /** Multiplies every gradient (the clip coefficient), or undefined. */
  coef: tf.Scalar | undefined;
}

interface AdamWImpl {
  update(grads: tf.Tensor[], s: StepScalars): void;
  /** Moments by parameter (flat float32 arrays, parameter order). */
  read(): Promise<{ m: Float32Array[]; v: Float32Array[] }>;
  write(m: Float32Array[], v: Float32Array[]): void;
  dispose(): void;
}

/**
 * The moments of parameters whose update runs elsewhere (a data-parallel
 * worker that owns part of the optimizer, parallel/sharded.ts).
 */
export interface RemoteMoments {
  /** The parameters held there. */
  readonly names: readonly string[];
  read(): Promise<{ m: Record<string, Float32Array>; v: Record<string, Float32Array> }>;
  /** Frees them there; the optimizer no longer refers to them. */
  release(): void;
}

export class AdamW {
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly weightDecay: number;
  /** Which update runs: 'fused' or 'chunked'. */
  readonly impl: 'fused' | 'chunked';
  /** Completed update steps; bias correction uses step + 1 for the next one. */
  step = 0;
  private readonly names: string[];
  private readonly sizes: number[];
  private readonly vars: tf.Variable[];
  private readonly decayed: boolean[];
  private readonly chunkSize: number;
  /** The parameters (indices into names) whose moments the kernel holds: all of them unless sharded. */
  private local: number[];
  private kernel: AdamWImpl;
  private remote: RemoteMoments | undefined;

  constructor(params: Map<string, tf.Variable>, cfg: AdamWConfig = {}) {
    this.beta1 = cfg.beta1 ?? 0.9;
    this.beta2 = cfg.beta2 ?? 0.999;
    this.eps = cfg.eps ?? 1e-8;
    this.weightDecay = cfg.weightDecay ?? 0.01;
    const decays = cfg.decays ?? ((_: string, v: tf.Variable) => v.rank >= 2);
    this.names = [...params.keys()];
    this.vars = [...params.values()];
    this.sizes = this.vars.map((p) => p.size);
    this.decayed = [...params].map(([name, p]) => decays(name, p));
    const want = cfg.impl ?? 'auto';
    const fusedOk = native.nodeBackend() !== undefined;
    if (want === 'fused' && !fusedOk) throw new Error(`AdamW impl 'fused' needs the tensorflow backend, not ${tf.getBackend()}`);
    this.impl = want === 'chunked' || !fusedOk ? 'chunked' : 'fused';
    this.chunkSize = cfg.chunkSize ?? 1 << 20;
    this.local = this.names.map((_, i) => i);
    this.kernel = this.makeKernel(this.local);
  }

  /** The hyperparameters and per-parameter decay flags, to build the same optimizer over part of the parameters elsewhere. */
  get settings(): { config: Omit<AdamWConfig, 'decays'>; decayed: Record<string, boolean> } {
    const decayed: Record<string, boolean> = {};
    this.names.forEach((name, i) => (decayed[name] = this.decayed[i] as boolean));
    return { config: { beta1: this.beta1, beta2: this.beta2, eps: this.eps, weightDecay: this.weightDecay, impl: this.impl, chunkSize: this.chunkSize }, decayed };
  }

  /** Whether some parameters' moments live elsewhere (shard). */
  get sharded(): boolean {
    return this.remote !== undefined;
  }

  private makeKernel(indices: number[]): AdamWImpl {
    const hyper = { beta1: this.beta1, beta2: this.beta2, eps: this.eps, weightDecay: this.weightDecay };
    const vars = indices.map((i) => this.vars[i] as tf.Variable);
    const decayed = indices.map((i) => this.decayed[i] as boolean);
    if (this.impl === 'chunked') return new ChunkedAdamW(vars, decayed, hyper, this.chunkSize);
    return native.hasFusedKernels() ? new KernelAdamW(vars, decayed, hyper) : new FusedAdamW(vars, decayed, hyper);
  }

  /**
   * One update with learning rate `lr` from gradients by parameter name (all
   * parameters must have one). With `maxGradNorm`, gradients are first clipped
   * to that global norm (as clipByGlobalNorm). Returns the pre-clip global
   * norm as a device scalar (the caller disposes it or reads it with the
   * loss). Runs on device only.
   */
  apply(grads: Map<string, tf.Tensor>, lr: number, opts: { maxGradNorm?: number } = {}): tf.Scalar {
    if (this.remote) throw new Error('AdamW.apply: part of the optimizer state is on data-parallel workers (unshard() first)');
    const list = this.gradList(grads);
    const t = this.step + 1;
    const norm = tf.tidy(() => {
      const norm = globalNorm(list);
      this.kernel.update(list, this.scalars(lr, t, clips(opts.maxGradNorm) ? clipCoef(norm, opts.maxGradNorm) : undefined));
      return norm;
    });
    this.step = t;
    return norm;
  }

  /**
   * One update of the parameters whose moments are held here (all, or the
   * part a shard kept) with a clip coefficient the caller computed from the
   * global norm over every part (parallel/sharded.ts). `grads` needs those
   * parameters only.
   */
  applyPart(grads: Map<string, tf.Tensor>, lr: number, coef: number | undefined): void {
    const list = this.gradList(grads, this.local.map((i) => this.names[i] as string));
    const t = this.step + 1;
    tf.tidy(() => this.kernel.update(list, this.scalars(lr, t, coef === undefined ? undefined : tf.scalar(coef))));
    this.step = t;
  }

  private gradList(grads: Map<string, tf.Tensor>, names: readonly string[] = this.names): tf.Tensor[] {
    return names.map((name) => {
      const g = grads.get(name);
      if (!g) throw new Error(`AdamW: no gradient for parameter ${name}`);
      return g;
    });
  }

  private scalars(lr: number, t: number, coef: tf.Scalar | undefined): StepScalars {
    return { lr, bc1: 1 - this.beta1 ** t, bc2: 1 - this.beta2 ** t, coef };
  }

  /**
   * Keeps the moments of `keep` (parameter names) here and returns the
   * others', which from now on `remote` holds: their update runs where
   * remote's moments are (a data-parallel worker). The step count stays here.
   */
  async shard(keep: ReadonlySet<string>, remote: RemoteMoments): Promise<AdamWState> {
    if (this.remote) throw new Error('AdamW.shard: already sharded');
    const all = await this.exportState();
    const mine: AdamWState = { step: all.step, m: {}, v: {} };
    const theirs: AdamWState = { step: all.step, m: {}, v: {} };
    for (const name of this.names) {
      const to = keep.has(name) ? mine : theirs;
      to.m[name] = all.m[name] as Float32Array;
      to.v[name] = all.v[name] as Float32Array;
    }
    const remoteNames = new Set(remote.names);
    for (const name of this.names) {
      if (keep.has(name) === remoteNames.has(name)) throw new Error(`AdamW.shard: parameter ${name} must be either kept or remote`);
    }
    this.kernel.dispose();
    this.local = this.names.flatMap((name, i) => (keep.has(name) ? [i] : []));
    this.kernel = this.makeKernel(this.local);
    this.writeLocal(mine);
    this.remote = remote;
    return theirs;
  }

  /** Brings every moment back here (the inverse of shard). */
  async unshard(): Promise<void> {
    if (!this.remote) return;
    const state = await this.exportState();
    this.loadState(state);
  }

  async exportState(): Promise<AdamWState> {
    const { m: ms, v: vs } = await this.kernel.read();
    const m: Record<string, Float32Array> = {};
    const v: Record<string, Float32Array> = {};
    this.local.forEach((idx, j) => {
      const name = this.names[idx] as string;
      m[name] = ms[j] as Float32Array;
      v[name] = vs[j] as Float32Array;
    });
    if (this.remote) {
      const r = await this.remote.read();
      Object.assign(m, r.m);
      Object.assign(v, r.v);
    }
    // Parameter order, as a fresh optimizer's state.
    const order = (rec: Record<string, Float32Array>) => Object.fromEntries(this.names.map((name) => [name, rec[name] as Float32Array]));
    return { step: this.step, m: order(m), v: order(v) };
  }

  /** Sets every moment and the step; a sharded optimizer first takes all of them back. */
  loadState(state: AdamWState): void {
    for (const [i, name] of this.names.entries()) {
      const n = this.sizes[i] as number;
      const m = state.m[name];
      const v = state.v[name];
      if (!m || !v) throw new Error(`AdamW state has no moments for ${name}`);
      if (m.length !== n || v.length !== n) throw new Error(`AdamW state for ${name} has ${m.length} values, parameter has ${n}`);
    }
    if (this.remote) {
      this.remote.release();
      this.remote = undefined;
      this.kernel.dispose();
      this.local = this.names.map((_, i) => i);
      this.kernel = this.makeKernel(this.local);
    }
    this.writeLocal(state);
    this.step = state.step;
  }

  private writeLocal(state: AdamWState): void {
    const names = this.local.map((i) => this.names[i] as string);
    this.kernel.write(
      names.map((name) => state.m[name] as Float32Array),
      names.map((name) => state.v[name] as Float32Array),
    );
  }

  dispose(): void {
    this.kernel.dispose();
    this.remote?.release();
    this.remote = undefined;
  }
}

interface Hyper {
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
}

/**
 * TensorFlow's Adam kernel on resource variables: per parameter, one pass
 * that reads g, m, v, p and writes m, v, p in place, instead of ~15 passes
 * over fresh temporaries (at 25M parameters those were half the training
 * step). The decoupled decay is one multiply before it, on decaying weights only.
 */
class FusedAdamW implements AdamWImpl {
  private readonly p: native.ResourceVar[];
  private readonly m: native.ResourceVar[];
  private readonly v: native.ResourceVar[];

  constructor(
    private readonly vars: tf.Variable[],
    private readonly decayed: boolean[],
    private readonly h: Hyper,
  ) {
    this.p = vars.map((x) => new native.ResourceVar(x.shape));
    this.m = vars.map((x) => new native.ResourceVar(x.shape));
    this.v = vars.map((x) => new native.ResourceVar(x.shape));
    tf.tidy(() => {
      for (let i = 0; i < vars.length; i++) {
        const zeros = tf.zeros((vars[i] as tf.Variable).shape);
        (this.m[i] as native.ResourceVar).assign(zeros);
        (this.v[i] as native.ResourceVar).assign(zeros);
      }
    });
  }

  update(grads: tf.Tensor[], s: StepScalars): void {
    const { beta1, beta2, eps, weightDecay: wd } = this.h;
    // TensorFlow computes α = lr·sqrt(1 − β2^t)/(1 − β1^t) and divides by
    // sqrt(v) + ε̂; with β-powers 0, α = lr·sqrt(bc2)/bc1 and ε̂ = ε·sqrt(bc2)
    // this is PyTorch's update, with the bias corrections taken in float64 here.
    const scalars = {
      alpha: tf.scalar((s.lr * Math.sqrt(s.bc2)) / s.bc1),
      beta1: tf.scalar(beta1),
      beta2: tf.scalar(beta2),
      eps: tf.scalar(eps * Math.sqrt(s.bc2)),
      zero: tf.scalar(0),
    };
    const decay = wd !== 0 ? tf.scalar(1 - s.lr * wd) : undefined;
    for (let i = 0; i < this.vars.length; i++) {
      const variable = this.vars[i] as tf.Variable;
      const pv = this.p[i] as native.ResourceVar;
      if (decay && this.decayed[i]) {
        // Disposed right after the assignment, so the resource holds the only
        // reference and the Adam kernel updates it in place (a shared buffer
        // is copied first, as for the non-decaying weights).
        const decayed = native.mul(variable, decay);
        pv.assign(decayed);
        decayed.dispose();
      } else {
        pv.assign(variable);
      }
      const g = grads[i] as tf.Tensor;
      const gc = s.coef ? native.mul(g, s.coef) : g;
      native.applyAdam(pv, this.m[i] as native.ResourceVar, this.v[i] as native.ResourceVar, scalars, gc);
      if (gc !== g) gc.dispose();
      // The variable and the resource now share one buffer; the next step's
      // assignment (of a new decayed tensor) releases the resource's reference.
      variable.assign(pv.read());
    }
  }

  async read(): Promise<{ m: Float32Array[]; v: Float32Array[] }> {
    const get = async (r: native.ResourceVar) => {
      const t = r.read();
      const d = (await t.data()) as Float32Array;
      t.dispose();
      return d;
    };
    const m: Float32Array[] = [];
    const v: Float32Array[] = [];
    for (let i = 0; i < this.m.length; i++) {
      m.push(await get(this.m[i] as native.ResourceVar));
      v.push(await get(this.v[i] as native.ResourceVar));
    }
    return { m, v };
  }

  write(m: Float32Array[], v: Float32Array[]): void {
    tf.tidy(() => {
      this.vars.forEach((x, i) => {
        (this.m[i] as native.ResourceVar).assign(tf.tensor(m[i] as Float32Array, x.shape, 'float32'));
        (this.v[i] as native.ResourceVar).assign(tf.tensor(v[i] as Float32Array, x.shape, 'float32'));
      });
    });
  }

  dispose(): void {
    for (const r of [...this.p, ...this.m, ...this.v]) r.dispose();
  }
}

/**
 * The whole AdamW update of a parameter in one kernel (CrlhfAdamW,
 * infra/kernels): reads p, m, v and g once, writes the new p and the moments
 * in place, with the decay and the clip coefficient folded in, where
 * FusedAdamW makes up to four passes (decay, copy, clip, Adam). The moments
 * are TensorFlow handles outside tfjs, held here alone, so writing them in
 * place is safe; the new p is a fresh tensor, so every earlier view of the
 * weights (inference sessions, replicas' stamps) sees a change.
 */
class KernelAdamW implements AdamWImpl {
  /** Holds the moment handles (m, v); replaced by write, freed by dispose. */
  private scope: native.RawScope | undefined;
  private m: number[] = [];
  private v: number[] = [];

  constructor(
    private readonly vars: tf.Variable[],
    private readonly decayed: boolean[],
    private readonly h: Hyper,
  ) {
    const zeros = vars.map((x) => new Float32Array(x.size));
    this.write(zeros, zeros);
  }

  update(grads: tf.Tensor[], s: StepScalars): void {
    const { beta1, beta2, eps, weightDecay: wd } = this.h;
    // TensorFlow's Adam form (FusedAdamW): α = lr·sqrt(bc2)/bc1, ε̂ = ε·sqrt(bc2).
    const rest = [(s.lr * Math.sqrt(s.bc2)) / s.bc1, 1 - beta1, 1 - beta2, eps * Math.sqrt(s.bc2)];
    const hyper = { on: tf.tensor1d([1 - s.lr * wd, ...rest]), off: tf.tensor1d([1, ...rest]) };
    const coef = s.coef ?? tf.scalar(1);
    for (let i = 0; i < this.vars.length; i++) {
      const variable = this.vars[i] as tf.Variable;
      const h = this.decayed[i] && wd !== 0 ? hyper.on : hyper.off;
      const p = native.run('CrlhfAdamW', [], [variable, { constId: this.m[i] as number }, { constId: this.v[i] as number }, grads[i] as tf.Tensor, coef, h]);
      variable.assign(p);
      p.dispose();
    }
    tf.dispose([hyper.on, hyper.off]);
    if (coef !== s.coef) coef.dispose();
  }

  async read(): Promise<{ m: Float32Array[]; v: Float32Array[] }> {
    const scope = this.scope as native.RawScope;
    // RawScope.read is a copy (the binding's tensorDataSync), safe from the kernel's in-place writes.
    return { m: this.m.map((id) => scope.read(id)), v: this.v.map((id) => scope.read(id)) };
  }

  write(m: Float32Array[], v: Float32Array[]): void {
    this.scope?.dispose();
    const scope = (this.scope = new native.RawScope());
    // The binding's tensors may use the array's memory, which the kernel then
    // writes: each gets a copy of its own, not the caller's array.
    this.m = this.vars.map((x, i) => scope.upload(x.shape, Float32Array.from(m[i] as Float32Array)));
    this.v = this.vars.map((x, i) => scope.upload(x.shape, Float32Array.from(v[i] as Float32Array)));
  }

  dispose(): void {
    this.scope?.dispose();
    this.scope = undefined;
    this.m = [];
    this.v = [];
  }
}

/**
 * The update as tfjs ops on flat vectors: parameters are grouped, in order,
 * into chunks of at most `chunkSize` elements (a parameter larger than that is
 * a chunk of its own); each chunk's moments are one flat vector, and its
 * update (~15 ops) runs in its own tidy, so temporaries never exceed a few
 * chunk-sized vectors (a single flat vector of 25M parameters ran wasm out of
 * memory), while small models still take one chunk and a handful of ops.
 */
class ChunkedAdamW implements AdamWImpl {
  private readonly chunks: { idx: number[]; sizes: number[]; m: tf.Variable; v: tf.Variable; mask: tf.Tensor1D | 'all' | 'none' }[] = [];

  constructor(
    private readonly vars: tf.Variable[],
    decayed: boolean[],
    private readonly h: Hyper,
    chunkSize: number,
  ) {
    let cur: number[] = [];
    let curSize = 0;
    const close = () => {
      if (!cur.length) return;
      const sizes = cur.map((i) => (vars[i] as tf.Variable).size);
      const total = curSize;
      const flags = cur.map((i) => decayed[i] as boolean);
      let mask: tf.Tensor1D | 'all' | 'none';
      if (flags.every(Boolean)) mask = 'all';
      else if (!flags.some(Boolean)) mask = 'none';
      else {
        const host = new Float32Array(total);
        let o = 0;
        cur.forEach((_, j) => {
          if (flags[j]) host.fill(1, o, o + (sizes[j] as number));
          o += sizes[j] as number;
        });
        mask = tf.tensor1d(host);
      }
      this.chunks.push({ idx: cur, sizes, m: tf.variable(tf.zeros([total]), false), v: tf.variable(tf.zeros([total]), false), mask });
      cur = [];
      curSize = 0;
    };
    vars.forEach((x, i) => {
      if (curSize > 0 && curSize + x.size > chunkSize) close();
      cur.push(i);
      curSize += x.size;
    });
    close();
  }

  update(grads: tf.Tensor[], s: StepScalars): void {
    const { beta1: b1, beta2: b2, eps, weightDecay: wd } = this.h;
    for (const c of this.chunks) {
      tf.tidy(() => {
        const g0 = flatten(c.idx.map((i) => grads[i] as tf.Tensor));
        const g = s.coef ? tf.mul(g0, s.coef) : g0;
        const m = tf.add(tf.mul(c.m, b1), tf.mul(g, 1 - b1));
        const v = tf.add(tf.mul(c.v, b2), tf.mul(tf.square(g), 1 - b2));
        // The decay uses the weight before this step's update.
        const denom = tf.add(tf.div(tf.sqrt(v), Math.sqrt(s.bc2)), eps);
        const p0 = flatten(c.idx.map((i) => this.vars[i] as tf.Tensor));
        let decayed: tf.Tensor = p0;
        if (wd !== 0 && c.mask === 'all') decayed = tf.mul(p0, 1 - s.lr * wd);
        else if (wd !== 0 && c.mask !== 'none') decayed = tf.mul(p0, tf.sub(1, tf.mul(c.mask, s.lr * wd)));
        const p = tf.sub(decayed, tf.mul(tf.div(m, denom), s.lr / s.bc1));
        const parts = c.idx.length === 1 ? [p] : tf.split(p, c.sizes);
        c.idx.forEach((i, j) => {
          const variable = this.vars[i] as tf.Variable;
          variable.assign(tf.reshape(parts[j] as tf.Tensor, variable.shape));
        });
        c.m.assign(m);
        c.v.assign(v);
      });
    }
  }

  async read(): Promise<{ m: Float32Array[]; v: Float32Array[] }> {
    const m: Float32Array[] = [];
    const v: Float32Array[] = [];
    for (const c of this.chunks) {
      const mAll = (await c.m.data()) as Float32Array;
      const vAll = (await c.v.data()) as Float32Array;
      let o = 0;
      for (const n of c.sizes) {
        m.push(mAll.slice(o, o + n));
        v.push(vAll.slice(o, o + n));
        o += n;
      }
    }
    return { m, v };
  }

  write(m: Float32Array[], v: Float32Array[]): void {
    let k = 0;
    for (const c of this.chunks) {
      const mAll = new Float32Array(c.m.size);
      const vAll = new Float32Array(c.v.size);
      let o = 0;
      for (const n of c.sizes) {
        mAll.set(m[k] as Float32Array, o);
        vAll.set(v[k] as Float32Array, o);
        o += n;
        k++;
      }
      tf.tidy(() => {
        c.m.assign(tf.tensor1d(mAll));
        c.v.assign(tf.tensor1d(vAll));
      });
    }
  }

  dispose(): void {
    for (const c of this.chunks) tf.dispose([c.m, c.v, ...(typeof c.mask === 'string' ? [] : [c.mask])]);
  }
}

/** sqrt(Σ over every gradient of Σg²). */
function globalNorm(grads: tf.Tensor[]): tf.Scalar {
  return tf.sqrt(sumOfSquares(grads)) as tf.Scalar;
}

/** Σ over every gradient of Σg², one reduction per tensor (no concatenated copy; tf.norm goes through Pow, slow on tfjs-node). */
export function sumOfSquares(grads: tf.Tensor[]): tf.Scalar {
  if (!grads.length) return tf.scalar(0);
  if (native.nodeBackend()) return tf.mul(native.addN(grads.map((g) => native.l2Loss(g))), 2) as tf.Scalar;
  return tf.addN(grads.map((g) => tf.tidy(() => tf.sum(tf.square(g))))) as tf.Scalar;
}

/** torch.nn.utils.clip_grad_norm_'s factor on the host: min(1, maxNorm / (norm + 1e-6)), or undefined when not clipping. */
export function clipCoefficient(norm: number, maxNorm: number | undefined): number | undefined {
  return clips(maxNorm) ? Math.min(maxNorm / (norm + 1e-6), 1) : undefined;
}

/** Whether a maximum gradient norm clips at all (a positive finite number). */
function clips(maxNorm: number | undefined): maxNorm is number {
  return maxNorm !== undefined && Number.isFinite(maxNorm) && maxNorm > 0;
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
  const norm = globalNorm([...grads.values()]);
  if (!clips(maxNorm)) return { grads, norm };
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
