// Data parallelism over worker threads: one backend instance per core, each
// holding replicas of the models, each computing its rows of a batch. On
// wasm and cpu the kernels are single-threaded; on tensorflow each rank runs
// TensorFlow with one intra-op thread (tensorflowRanks says why).
//
// The main thread is rank 0 and computes its own shard while the workers
// compute theirs. Weights go to the workers through one SharedArrayBuffer
// per model, rewritten only when the model's weights changed since the last
// job; gradients come back through one SharedArrayBuffer per worker and
// model. Shards are contiguous row ranges and partial results are combined
// in rank order, so runs are deterministic; they agree with one thread to
// float32 rounding (sums in another order).
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';
import type { BackendName } from '../backend.js';
import type { AnyModel } from '../model.js';
import { sameWeights, weightStamp } from '../inference.js';
import { paramOffsets, writeWeights } from './buffers.js';
import type { Job, JobResult, WorkerInit } from './protocol.js';

/**
 * Ranks (threads, the main one included) for data parallelism on the active
 * backend: CRLHF_THREADS, else the cores (on tensorflow, the default that
 * tensorflowRanks fixed when TensorFlow loaded: 1 on a GPU).
 */
export function dataParallelRanks(): number {
  const backend = tf.getBackend();
  if (backend === 'tensorflow') return threadsFromEnv() ?? tfDefaultRanks ?? 1;
  if (backend !== 'wasm' && backend !== 'cpu') return 1;
  return threadsFromEnv() ?? availableParallelism();
}

function threadsFromEnv(): number | undefined {
  const env = process.env.CRLHF_THREADS?.trim();
  if (!env) return undefined;
  const n = Number(env);
  if (!Number.isInteger(n) || n < 1) throw new Error(`CRLHF_THREADS=${env} is not a positive integer`);
  return n;
}

let tfDefaultRanks: number | undefined;

/**
 * The ranks tensorflow starts with (backend.ts calls this before TensorFlow
 * loads, since its intra-op thread count is read once then): with more than
 * one, every rank runs TensorFlow's kernels on its own single thread and the
 * ranks split the rows. On this project's 2-core machines that beats one
 * thread splitting each kernel over both cores: TensorFlow's pool pays
 * ~0.05–0.2 ms per op to wake its threads (a decoding step's 8×256 LayerNorm
 * 0.25 ms on two threads, 0.05 ms on one) and runs the attention's batched
 * products no faster on two threads than on one (bench --profile). A GPU
 * runs its kernels itself: one rank.
 */
export function tensorflowRanks(gpu: boolean): number {
  tfDefaultRanks ??= gpu ? 1 : availableParallelism();
  return threadsFromEnv() ?? tfDefaultRanks;
}

export interface Replica {
  id: number;
  /** Every weight, in params order, float32. */
  weights: Float32Array;
  /** Bumped whenever `weights` is rewritten; workers reload when theirs is older. */
  version: number;
  /** The model's weight storage when `weights` was last written (tf.Variable.assign replaces it). */
  stamp: object[];
  /** Per worker: a gradient buffer shaped like `weights`. */
  grads: Float32Array[];
  /** The main thread's gradient buffer, for the workers that own part of an optimizer (sharded.ts). */
  mainGrads?: Float32Array;
  /**
   * Per optimizer whose moments are partly on this replica's workers
   * (sharded.ts): brings them back, as eviction must before it drops the replica.
   */
  unshard: Set<() => Promise<void>>;
  /** sync's call count when it last returned this replica (eviction takes the least recent). */
  lastUsed: number;
}

interface Pending {
  worker: number;
  resolve(r: JobResult): void;
  reject(e: Error): void;
}

const MAX_REPLICAS = 8;

/** The worker threads of this process (ranks 1..n−1), created on first use. */
export class WorkerPool {
  readonly ranks: number;
  private readonly workers: Worker[];
  private readonly pending = new Map<number, Pending>();
  private readonly replicas = new Map<AnyModel, Replica>();
  private nextRequest = 0;
  private nextReplica = 0;
  private syncs = 0;
  private failed: Error | undefined;

  private constructor(workers: Worker[]) {
    this.workers = workers;
    this.ranks = workers.length + 1;
    for (const w of workers) {
      w.on('message', (m: JobResult & { request: number }) => {
        const p = this.pending.get(m.request);
        if (!p) return;
        this.pending.delete(m.request);
        this.refWhileBusy(p.worker);
        if (m.kind === 'error') p.reject(new Error(`data-parallel worker: ${m.message}`));
        else p.resolve(m);
      });
      w.on('error', (err) => this.fail(err));
      w.on('exit', (code) => {
        if (code !== 0) this.fail(new Error(`data-parallel worker exited with code ${code}`));
      });
      // Idle workers must not keep the process alive (refWhileBusy).
      w.unref();
    }
  }

  static async start(ranks: number, backend: BackendName): Promise<WorkerPool> {
    const entry = new URL(`./worker.${import.meta.url.endsWith('.ts') ? 'ts' : 'js'}`, import.meta.url).href;
    // Worker threads do not inherit the TypeScript loader the main thread
    // runs under (tsx): the bootstrap registers it before importing the entry.
    const tsx = entry.endsWith('.ts') ? import.meta.resolve('tsx/esm/api') : undefined;
    const boot = tsx
      ? `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(entry)}); })`
      : `import(${JSON.stringify(entry)})`;
    const init: WorkerInit = { backend };
    const workers = Array.from({ length: ranks - 1 }, () => new Worker(boot, { eval: true, workerData: init }));
    const pool = new WorkerPool(workers);
    try {
      await Promise.all(workers.map((_, i) => pool.request(i, { kind: 'ping' })));
    } catch (err) {
      await pool.terminate();
      throw err;
    }
    return pool;
  }

  /**
   * Makes sure every worker holds `model` with its current weights; returns
   * its replica. Call right before posting jobs for the model (the weights
   * are copied before it returns). With MAX_REPLICAS models held, the least
   * recently used one is dropped, its optimizers' moments brought back first.
   */
  async sync(model: AnyModel): Promise<Replica> {
    let r = this.replicas.get(model);
    while (!r && this.replicas.size >= MAX_REPLICAS) {
      const [oldest, x] = [...this.replicas].reduce((a, b) => (b[1].lastUsed < a[1].lastUsed ? b : a));
      for (const unshard of [...x.unshard]) await unshard();
      // Another sync may have dropped it, or brought `model` in, meanwhile.
      if (this.replicas.get(oldest) === x) this.drop(oldest);
      r = this.replicas.get(model);
    }
    if (!r) {
      const n = model.numParams;
      r = {
        id: this.nextReplica++,
        weights: new Float32Array(new SharedArrayBuffer(4 * n)),
        version: 0,
        stamp: [],
        grads: this.workers.map(() => new Float32Array(new SharedArrayBuffer(4 * n))),
        unshard: new Set(),
        lastUsed: 0,
      };
      this.replicas.set(model, r);
      const shapes = [...model.params.values()].map((v) => v.shape);
      for (let i = 0; i < this.workers.length; i++) {
        this.post(i, { kind: 'replica', id: r.id, modelKind: model.kind, config: model.config, shapes, weights: r.weights, grads: r.grads[i] as Float32Array });
      }
    }
    if (!sameWeights(model, r.stamp)) {
      writeWeights(model.params, paramOffsets(model.params), r.weights);
      r.stamp = weightStamp(model);
      r.version++;
    }
    r.lastUsed = ++this.syncs;
    return r;
  }

  /** The main thread's gradient buffer of a replica (allocated on first use). */
  mainGrads(r: Replica): Float32Array {
    r.mainGrads ??= new Float32Array(new SharedArrayBuffer(r.weights.byteLength));
    return r.mainGrads;
  }

  /** Runs a job on worker `i` (rank i + 1). */
  request(i: number, job: Job): Promise<JobResult> {
    if (this.failed) return Promise.reject(this.failed);
    const request = this.nextRequest++;
    return new Promise<JobResult>((resolve, reject) => {
      this.pending.set(request, { worker: i, resolve, reject });
      this.refWhileBusy(i);
      this.post(i, job, request);
    });
  }

  /** A worker with a job in flight keeps the process alive (an awaited reply must arrive); an idle one does not. */
  private refWhileBusy(i: number): void {
    const busy = [...this.pending.values()].some((p) => p.worker === i);
    const w = this.workers[i] as Worker;
    if (busy) w.ref();
    else w.unref();
  }

  /** Frees the workers' replica of a model (it is rebuilt on the next sync). */
  drop(model: AnyModel): void {
    const r = this.replicas.get(model);
    if (!r) return;
    this.replicas.delete(model);
    for (let i = 0; i < this.workers.length; i++) this.post(i, { kind: 'drop', id: r.id });
  }

  async terminate(): Promise<void> {
    this.fail(new Error('worker pool terminated'));
    await Promise.all(this.workers.map((w) => w.terminate()));
  }

  private post(i: number, job: Job, request = -1): void {
    (this.workers[i] as Worker).postMessage({ ...job, request });
  }

  private fail(err: Error): void {
    this.failed ??= err;
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }
}

let shared: { ranks: number; backend: string; pool: Promise<WorkerPool> } | undefined;

/**
 * The process's pool for the active backend, or undefined when data
 * parallelism is off (one core, CRLHF_THREADS=1, a GPU).
 */
export async function workerPool(): Promise<WorkerPool | undefined> {
  const ranks = dataParallelRanks();
  if (ranks <= 1) return undefined;
  const backend = tf.getBackend() as BackendName;
  if (!shared || shared.ranks !== ranks || shared.backend !== backend) {
    const old = shared;
    shared = { ranks, backend, pool: WorkerPool.start(ranks, backend) };
    if (old) void old.pool.then((p) => p.terminate(), () => undefined);
  }
  return shared.pool;
}

/** Stops the workers (they also stop with the process). */
export async function stopWorkers(): Promise<void> {
  const s = shared;
  shared = undefined;
  if (s) await (await s.pool).terminate();
}

/**
 * One data-parallel step: worker i runs `job` of shard i + 1 while this
 * thread computes `local` of shard 0; the workers' results come back in rank
 * order. If a worker fails, `free` releases the local result before the
 * error propagates. One shard asks no worker (`pool` may then be absent).
 */
export async function runShards<L, R extends JobResult>(
  pool: WorkerPool | undefined,
  shards: readonly [number, number][],
  job: (shard: [number, number]) => Job,
  local: (shard: [number, number]) => L | Promise<L>,
  free: (l: L) => void = () => undefined,
): Promise<{ local: L; remote: R[] }> {
  const all = Promise.all(
    shards.slice(1).map((shard, i) => {
      if (!pool) throw new Error('runShards: several shards need a worker pool');
      return pool.request(i, job(shard));
    }),
  );
  all.catch(() => undefined); // awaited below; not unhandled if `local` throws first
  const mine = await local(shards[0] as [number, number]);
  try {
    return { local: mine, remote: (await all) as R[] };
  } catch (err) {
    free(mine);
    throw err;
  }
}

/** The row indices of a shard [start, end). */
export function shardRows([a, b]: [number, number]): number[] {
  return Array.from({ length: b - a }, (_, i) => a + i);
}

/** [start, end) row ranges of `rows` split into at most `parts` contiguous, near-equal shards (none empty). */
export function shardRanges(rows: number, parts: number): [number, number][] {
  const n = Math.min(parts, rows);
  const out: [number, number][] = [];
  for (let k = 0; k < n; k++) out.push([Math.floor((k * rows) / n), Math.floor(((k + 1) * rows) / n)]);
  return out;
}
