// A data-parallel worker thread (pool.ts): its own backend instance, model
// replicas loaded from the main thread's shared weight buffers, and the same
// library code as the main thread for its shard.
import { parentPort, workerData } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../backend.js';
import { PolicyModel, RewardModel, ValueModel, type AnyModel } from '../model.js';
import { namedGrads } from '../optim.js';
import { Rng } from '../rng.js';
import { ppoShardGrads } from '../ppo.js';
import { rewardShardGrads } from '../reward-model.js';
import { generateRows } from '../sampling.js';
import { sftLoss } from '../sft.js';
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
}

const replicas = new Map<number, Replica>();

function replica(id: number, version: number): Replica {
  const r = replicas.get(id);
  if (!r) throw new Error(`no replica ${id}`);
  if (r.version !== version) {
    tf.tidy(() => {
      let o = 0;
      for (const v of r.model.params.values()) {
        v.assign(tf.tensor(r.weights.subarray(o, o + v.size), v.shape, 'float32'));
        o += v.size;
      }
    });
    r.version = version;
  }
  return r;
}

/** Gradients into the replica's shared buffer, params order, zeros where a parameter has none. */
function writeGrads(r: Replica, grads: Map<string, tf.Tensor>): void {
  let o = 0;
  for (const [name, v] of r.model.params) {
    const g = grads.get(name);
    if (g) r.grads.set(g.dataSync() as Float32Array, o);
    else r.grads.fill(0, o, o + v.size);
    o += v.size;
  }
}

async function handle(job: Job): Promise<JobResult> {
  switch (job.kind) {
    case 'ping':
      return { kind: 'ok' };
    case 'replica': {
      const rng = new Rng(0); // weights come from the shared buffer on the first job
      const model = job.modelKind === 'policy' ? new PolicyModel(job.config, rng) : job.modelKind === 'value' ? new ValueModel(job.config, rng) : new RewardModel(job.config, rng);
      replicas.set(job.id, { model, weights: job.weights, grads: job.grads, version: -1 });
      return { kind: 'ok' };
    }
    case 'drop':
      replicas.get(job.id)?.model.dispose();
      replicas.delete(job.id);
      return { kind: 'ok' };
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
