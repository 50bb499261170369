// The optimizer step of a data-parallel update, split over the ranks as in
// ZeRO stage 1 (Rajbhandari et al., arXiv 1910.02054): each rank owns the
// AdamW moments and the update of a contiguous part of a model's parameters.
// Before, the main thread summed every gradient and ran AdamW over all
// parameters while the workers waited: at 25.5 M parameters ~190 ms of each
// step on one thread (README, Benchmarks). Now every rank sums the ranks'
// gradients of its own part, the parts' Σg² give the global norm for
// clipping, every rank updates its part and writes it to the shared weight
// buffer, and every rank loads the other parts from there.
//
// Gradients are summed in rank order as before, so a step equals one
// thread's to float32 rounding. The step count stays with the main thread's
// AdamW; exportState reads the workers' moments, loadState takes them back.
import * as tf from '@tensorflow/tfjs';
import type { AnyModel } from '../model.js';
import { weightStamp } from '../inference.js';
import { clipCoefficient, type AdamW, type AdamWState, type RemoteMoments } from '../optim.js';
import { paramOffsets, readWeights, sumPart, writeGrads, writeWeights } from './buffers.js';
import type { JobResult } from './protocol.js';
import type { Replica, WorkerPool } from './pool.js';

interface Plan {
  pool: WorkerPool;
  replica: Replica;
  /** Rank k owns params indices [bounds[k], bounds[k + 1]). */
  bounds: number[];
  /** Each parameter's offset in the shared buffers. */
  offsets: number[];
  /** The gradients shareGrads last wrote out (shardedStep then skips writing them). */
  shared?: Map<string, tf.Tensor>;
}

/**
 * Writes this rank's gradients of the other ranks' parts to its buffer, for
 * them to sum: trainers call it as soon as this rank's gradients exist,
 * while the workers still compute theirs (it would otherwise run in
 * shardedStep with every worker waiting; the main thread usually finishes
 * its shard first). Needs shardOptimizer's plan for `opt`.
 */
export function shareGrads(pool: WorkerPool, replica: Replica, model: AnyModel, opt: AdamW, local: Map<string, tf.Tensor>): void {
  const plan = plans.get(opt);
  if (!plan || plan.replica !== replica) throw new Error('shareGrads before shardOptimizer');
  const [from, to] = [plan.bounds[0] as number, plan.bounds[1] as number];
  writeGrads(model.params, plan.offsets, local, pool.mainGrads(replica), (i) => i < from || i >= to);
  plan.shared = local;
}

const plans = new WeakMap<AdamW, Plan>();

/**
 * Parameter index boundaries that split `sizes` (params order) into `ranks`
 * contiguous parts of near-equal element counts: the boundary between rank
 * k − 1 and rank k is the parameter edge nearest to k/ranks of the total.
 */
export function ownerBounds(sizes: readonly number[], ranks: number): number[] {
  const total = sizes.reduce((a, b) => a + b, 0);
  const bounds = [0];
  let run = 0;
  let i = 0;
  for (let k = 1; k < ranks; k++) {
    const target = (k * total) / ranks;
    while (i < sizes.length && run + (sizes[i] as number) / 2 < target) run += sizes[i++] as number;
    bounds.push(Math.max(i, bounds[k - 1] as number));
  }
  bounds.push(sizes.length);
  return bounds;
}

/**
 * Makes `opt` (the AdamW of `model`) sharded over `pool`'s ranks with the
 * parts owned by `replica`'s workers; a no-op once it is. Call before the
 * step's gradient jobs, so the workers keep their own part's gradients.
 */
export async function shardOptimizer(pool: WorkerPool, replica: Replica, model: AnyModel, opt: AdamW): Promise<void> {
  const plan = plans.get(opt);
  if (plan && plan.pool === pool && plan.replica === replica && opt.sharded) return;
  // Sharded over another pool or replica (the ranks changed): back here first.
  if (opt.sharded) await opt.unshard();
  const names = [...model.params.keys()];
  const sizes = [...model.params.values()].map((v) => v.size);
  const offsets = paramOffsets(model.params);
  const bounds = ownerBounds(sizes, pool.ranks);
  const workers = pool.ranks - 1;
  const remoteNames = names.slice(bounds[1]);
  const unshard = () => opt.unshard();
  const remote: RemoteMoments = {
    names: remoteNames,
    read: async () => {
      const parts = await Promise.all(Array.from({ length: workers }, (_, w) => pool.request(w, { kind: 'optimRead', id: replica.id })));
      const m: Record<string, Float32Array> = {};
      const v: Record<string, Float32Array> = {};
      for (const p of parts) {
        const r = expect(p, 'optimRead');
        Object.assign(m, r.m);
        Object.assign(v, r.v);
      }
      return { m, v };
    },
    release: () => {
      plans.delete(opt);
      replica.unshard.delete(unshard);
      for (let w = 0; w < workers; w++) pool.request(w, { kind: 'optimDrop', id: replica.id }).catch(() => undefined);
    },
  };
  // A worker holds one optimizer part per replica: another optimizer of the
  // same model (a second trainer) gives its moments back first.
  for (const other of [...replica.unshard]) await other();
  const theirs = await opt.shard(new Set(names.slice(0, bounds[1])), remote);
  replica.unshard.add(unshard);
  plans.set(opt, { pool, replica, bounds, offsets });
  const { config, decayed } = opt.settings;
  const buffers = [pool.mainGrads(replica), ...replica.grads];
  await Promise.all(
    Array.from({ length: workers }, (_, w) => {
      const [from, to] = [bounds[w + 1] as number, bounds[w + 2] as number];
      const state: AdamWState = { step: theirs.step, m: {}, v: {} };
      for (const name of names.slice(from, to)) {
        state.m[name] = theirs.m[name] as Float32Array;
        state.v[name] = theirs.v[name] as Float32Array;
      }
      return pool.request(w, { kind: 'optimInit', id: replica.id, rank: w + 1, from, to, config, decayed, state, buffers });
    }),
  );
}

/** Where `opt`'s moments belong for a step: over `pool`'s ranks (shardOptimizer), or, without a pool (one rank), all on this thread. */
export async function placeOptimizer(pool: WorkerPool | undefined, replica: Replica | undefined, model: AnyModel, opt: AdamW): Promise<void> {
  if (pool && replica) await shardOptimizer(pool, replica, model, opt);
  else await opt.unshard();
}

/**
 * The optimizer step after a data-parallel gradient pass in which ranks
 * [0, contributors) computed gradients (this thread's are `local`, written
 * out here unless shareGrads did; the workers' sit in their buffers or, for
 * their own part, with them). Clips to
 * `maxGradNorm` over every part; returns the pre-clip global norm. Leaves
 * every rank's replica at the new weights.
 */
export async function shardedStep(
  pool: WorkerPool,
  replica: Replica,
  model: AnyModel,
  opt: AdamW,
  local: Map<string, tf.Tensor>,
  contributors: number,
  lr: number,
  maxGradNorm: number | undefined,
): Promise<number> {
  await shardOptimizer(pool, replica, model, opt);
  const plan = plans.get(opt) as Plan;
  const { bounds, offsets } = plan;
  const workers = pool.ranks - 1;
  const [from, to] = [bounds[0] as number, bounds[1] as number];
  const mine = (i: number) => i >= from && i < to;

  // This rank's gradients of the other ranks' parts, for them to sum (unless shareGrads wrote them).
  if (plan.shared !== local) shareGrads(pool, replica, model, opt, local);
  plan.shared = undefined;
  const sums = Array.from({ length: workers }, (_, w) => pool.request(w, { kind: 'optimSum', id: replica.id, contributors }));
  const buffers = [pool.mainGrads(replica), ...replica.grads];
  const { summed, sumSquares } = sumPart(model.params, offsets, [from, to], 0, local, buffers, contributors);
  let total = sumSquares;
  try {
    for (const r of await Promise.all(sums)) total += expect(r, 'optimSum').sumSquares;
  } catch (err) {
    tf.dispose([...summed.values()]);
    throw err;
  }
  const norm = Math.sqrt(total);
  const coef = clipCoefficient(norm, maxGradNorm);

  const step = opt.step + 1;
  const updates = Array.from({ length: workers }, (_, w) => pool.request(w, { kind: 'optimStep', id: replica.id, step, lr, coef }));
  try {
    opt.applyPart(summed, lr, coef);
  } finally {
    tf.dispose([...summed.values()]);
  }
  writeWeights(model.params, offsets, replica.weights, mine);
  await Promise.all(updates);
  readWeights(model.params, offsets, replica.weights, (i) => !mine(i));
  replica.stamp = weightStamp(model);
  replica.version++;
  // Not awaited: each worker loads before its next job (jobs run in order),
  // and one that failed to reloads everything at its next job's version check.
  for (let w = 0; w < workers; w++) pool.request(w, { kind: 'optimLoad', id: replica.id, version: replica.version }).catch(() => undefined);
  return norm;
}

/**
 * A trainer's optimizer step after its gradient pass: shardedStep over
 * `pool`'s ranks when the step ran data-parallel (a pool and the model's
 * replica), else AdamW.apply on this thread. The pre-clip global norm comes
 * back as a scalar tensor either way (the caller disposes it).
 */
export async function optimizerStep(
  pool: WorkerPool | undefined,
  replica: Replica | undefined,
  model: AnyModel,
  opt: AdamW,
  local: Map<string, tf.Tensor>,
  contributors: number,
  lr: number,
  maxGradNorm: number,
): Promise<tf.Scalar> {
  if (pool && replica) return tf.scalar(await shardedStep(pool, replica, model, opt, local, contributors, lr, maxGradNorm));
  return opt.apply(local, lr, { maxGradNorm });
}

function expect<K extends JobResult['kind']>(r: JobResult, kind: K): Extract<JobResult, { kind: K }> {
  if (r.kind !== kind) throw new Error(`data-parallel worker answered ${r.kind} to ${kind}`);
  return r as Extract<JobResult, { kind: K }>;
}
