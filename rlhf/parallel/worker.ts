// A data-parallel worker thread (pool.ts): its own backend instance, model
// replicas loaded from the main thread's shared weight buffers, and the same
// library code as the main thread for its shard.
import { parentPort, workerData } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../backend.js';
import { PolicyModel, RewardModel, ValueModel, type AnyModel } from '../model.js';
import { AdamW, namedGrads } from '../optim.js';
import { Rng } from '../rng.js';
import { ppoShardGrads } from '../ppo.js';
import { rewardShardGrads } from '../reward-model.js';
import { generateRows } from '../sampling.js';
import { sftLoss } from '../sft.js';
import { paramOffsets, readWeights, sumPart, writeGrads as writeGradsTo, writeWeights } from './buffers.js';
import type { Job, JobResult, WorkerInit } from './protocol.js';

// One thread per worker: no pool of its own.
process.env.CRLHF_THREADS = '1';
const init = workerData as WorkerInit;
await initBackend(init.backend);

interface Replica {
  model: AnyModel;
  weights: Float32Array;
  grads: Float32Array;
  version: number;
  /** Each parameter's offset in the shared buffers, params order. */
  offsets: number[];
  /** The part of the optimizer this rank owns (sharded.ts), once given one. */
  shard?: Shard;
}

interface Shard {
  rank: number;
  /** The owned parameters: params indices [from, to). */
  from: number;
  to: number;
  optimizer: AdamW;
  /** Every rank's gradient buffer, rank order. */
  buffers: Float32Array[];
  /** This rank's gradients of the owned parameters from its last gradient job (never written out). */
  kept?: Map<string, tf.Tensor>;
  /** The owned parameters' gradients summed over the ranks, waiting for optimStep. */
  summed?: Map<string, tf.Tensor>;
}

const replicas = new Map<number, Replica>();

function replica(id: number, version: number): Replica {
  const r = replicas.get(id);
  if (!r) throw new Error(`no replica ${id}`);
  if (r.version !== version) {
    readWeights(r.model.params, r.offsets, r.weights);
    r.version = version;
  }
  return r;
}

/**
 * Gradients into the replica's shared buffer, params order, zeros where a
 * parameter has none. With a shard of the optimizer, the owned parameters'
 * gradients stay here as tensors (the caller still disposes `grads`).
 */
function writeGrads(r: Replica, grads: Map<string, tf.Tensor>): void {
  const s = r.shard;
  const owned = (i: number) => s !== undefined && i >= s.from && i < s.to;
  if (s) {
    tf.dispose([...(s.kept?.values() ?? [])]);
    s.kept = new Map([...r.model.params].flatMap(([name], i) => (owned(i) && grads.has(name) ? [[name, tf.clone(grads.get(name) as tf.Tensor)]] : [])));
  }
  writeGradsTo(r.model.params, r.offsets, grads, r.grads, (i) => !owned(i));
}

function shardOf(id: number): { r: Replica; s: Shard } {
  const r = replicas.get(id);
  if (!r?.shard) throw new Error(`replica ${id} has no optimizer shard`);
  return { r, s: r.shard };
}

function disposeShard(s: Shard | undefined): void {
  if (!s) return;
  s.optimizer.dispose();
  tf.dispose([...(s.kept?.values() ?? []), ...(s.summed?.values() ?? [])]);
}

/** The owned parameters' gradients summed in rank order (this rank's kept ones at its place), kept for optimStep; their Σg². */
function sumShard(r: Replica, s: Shard, contributors: number): number {
  const kept = s.kept;
  s.kept = undefined;
  if (s.rank < contributors && !kept) throw new Error('optimSum: this rank computed no gradients for the step');
  tf.dispose([...(s.summed?.values() ?? [])]);
  s.summed = undefined;
  try {
    const { summed, sumSquares } = sumPart(r.model.params, r.offsets, [s.from, s.to], s.rank, kept ?? new Map(), s.buffers, contributors);
    s.summed = summed;
    return sumSquares;
  } finally {
    tf.dispose([...(kept?.values() ?? [])]);
  }
}

async function handle(job: Job): Promise<JobResult> {
  switch (job.kind) {
    case 'ping':
      return { kind: 'ok' };
    case 'replica': {
      const rng = new Rng(0); // weights come from the shared buffer on the first job
      const model = job.modelKind === 'policy' ? new PolicyModel(job.config, rng) : job.modelKind === 'value' ? new ValueModel(job.config, rng) : new RewardModel(job.config, rng);
      replicas.set(job.id, { model, weights: job.weights, grads: job.grads, version: -1, offsets: paramOffsets(model.params) });
      return { kind: 'ok' };
    }
    case 'drop': {
      const r = replicas.get(job.id);
      disposeShard(r?.shard);
      r?.model.dispose();
      replicas.delete(job.id);
      return { kind: 'ok' };
    }
    case 'optimInit': {
      const r = replicas.get(job.id);
      if (!r) throw new Error(`no replica ${job.id}`);
      disposeShard(r.shard);
      const owned = new Map([...r.model.params].slice(job.from, job.to));
      const optimizer = new AdamW(owned, { ...job.config, decays: (name) => job.decayed[name] === true });
      optimizer.loadState(job.state);
      r.shard = { rank: job.rank, from: job.from, to: job.to, optimizer, buffers: job.buffers };
      return { kind: 'ok' };
    }
    case 'optimSum': {
      const { r, s } = shardOf(job.id);
      return { kind: 'optimSum', sumSquares: sumShard(r, s, job.contributors) };
    }
    case 'optimStep': {
      const { r, s } = shardOf(job.id);
      const summed = s.summed;
      s.summed = undefined;
      if (!summed) throw new Error('optimStep before optimSum');
      try {
        if (s.optimizer.step + 1 !== job.step) throw new Error(`optimizer shard is at step ${s.optimizer.step}, asked for step ${job.step}`);
        s.optimizer.applyPart(summed, job.lr, job.coef);
      } finally {
        tf.dispose([...summed.values()]);
      }
      writeWeights(r.model.params, r.offsets, r.weights, (i) => i >= s.from && i < s.to);
      return { kind: 'ok' };
    }
    case 'optimLoad': {
      const { r, s } = shardOf(job.id);
      readWeights(r.model.params, r.offsets, r.weights, (i) => i < s.from || i >= s.to);
      r.version = job.version;
      return { kind: 'ok' };
    }
    case 'optimRead': {
      const { s } = shardOf(job.id);
      const state = await s.optimizer.exportState();
      return { kind: 'optimRead', m: state.m, v: state.v };
    }
    case 'optimDrop': {
      const r = replicas.get(job.id);
      disposeShard(r?.shard);
      if (r) delete r.shard;
      return { kind: 'ok' };
    }
    case 'sftGrads': {
      const r = replica(job.id, job.version);
      const { value, grads } = namedGrads(() => sftLoss(r.model as PolicyModel, job.batch, job.denominator), r.model.params);
      writeGrads(r, grads);
      const loss = value.dataSync()[0] as number;
      tf.dispose([value, ...grads.values()]);
      return { kind: 'sftGrads', loss };
    }
    case 'rewardGrads': {
      const r = replica(job.id, job.version);
      const out = rewardShardGrads(r.model as RewardModel, job.batch, job.share);
      try {
        writeGrads(r, out.grads);
        return { kind: 'rewardGrads', stats: Array.from(out.stats.dataSync()) };
      } finally {
        tf.dispose([...out.grads.values(), out.stats]);
      }
    }
    case 'ppoGrads': {
      const policy = replica(job.policy.id, job.policy.version);
      const value = replica(job.value.id, job.value.version);
      const out = ppoShardGrads(policy.model as PolicyModel, value.model as ValueModel, job.batch, job.targets, job.share, job.clip, job.withLogprobs);
      try {
        writeGrads(policy, out.policyGrads);
        writeGrads(value, out.valueGrads);
        return { kind: 'ppoGrads', stats: Array.from(out.stats.dataSync()), ...(out.logprobs ? { logprobs: out.logprobs.dataSync() as Float32Array } : {}) };
      } finally {
        tf.dispose([...out.policyGrads.values(), ...out.valueGrads.values(), out.stats, ...(out.logprobs ? [out.logprobs] : [])]);
      }
    }
    case 'generate': {
      const r = replica(job.id, job.version);
      const result = await generateRows(r.model as PolicyModel, job.prompts, job.rngs.map((s) => Rng.fromState(s)), job.opts);
      return { kind: 'generate', result };
    }
  }
}

// Jobs run one at a time, in arrival order.
let queue: Promise<void> = Promise.resolve();
parentPort?.on('message', (msg: Job & { request: number }) => {
  queue = queue.then(async () => {
    let out: JobResult;
    try {
      out = await handle(msg);
    } catch (err) {
      out = { kind: 'error', message: (err as Error).stack ?? String(err) };
    }
    if (msg.request >= 0) parentPort?.postMessage({ ...out, request: msg.request });
  });
});
