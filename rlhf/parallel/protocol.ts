// Messages between the main thread and the data-parallel workers (pool.ts,
// worker.ts). Typed arrays travel by structured clone; weights and
// gradients through the SharedArrayBuffers a replica message hands over.
import type { BackendName } from '../backend.js';
import type { SequenceBatch } from '../batch.js';
import type { AnyModel, ResolvedConfig } from '../model.js';
import type { RngState } from '../rng.js';
import type { GenerateOptions, GenerateResult } from '../sampling.js';
import type { PpoClip, PpoTargets } from '../ppo.js';
import type { AdamWConfig, AdamWState } from '../optim.js';

export interface WorkerInit {
  backend: BackendName;
}

export type Job =
  | { kind: 'ping' }
  /** A model replica: weights in `weights` (shared, params order), gradients written to `grads` (shared, this worker's). */
  | { kind: 'replica'; id: number; modelKind: AnyModel['kind']; config: ResolvedConfig; shapes: number[][]; weights: Float32Array; grads: Float32Array }
  | { kind: 'drop'; id: number }
  /** Gradients of Σ(token NLL)/denominator over `batch` into the replica's gradient buffer. */
  | { kind: 'sftGrads'; id: number; version: number; batch: SequenceBatch; denominator: number }
  /** generate's loop over these rows, one RNG stream per row. */
  | { kind: 'generate'; id: number; version: number; prompts: number[][]; rngs: RngState[]; opts: GenerateOptions }
  /** rewardShardGrads over this pair batch: gradients into the replica's gradient buffer. */
  | { kind: 'rewardGrads'; id: number; version: number; batch: SequenceBatch; share: number }
  /** ppoShardGrads over these rows: policy and value gradients into the two replicas' gradient buffers. */
  | { kind: 'ppoGrads'; policy: ReplicaRef; value: ReplicaRef; batch: SequenceBatch; targets: PpoTargets; share: number; clip: PpoClip; withLogprobs: boolean }
  /**
   * This worker now owns the update of the replica's parameters [from, to)
   * (params order) with these moments (sharded.ts); `buffers` are every
   * rank's gradient buffers, rank order (main thread first).
   */
  | { kind: 'optimInit'; id: number; rank: number; from: number; to: number; config: Omit<AdamWConfig, 'decays'>; decayed: Record<string, boolean>; state: AdamWState; buffers: Float32Array[] }
  /** Sums the owned parameters' gradients of ranks [0, contributors) and returns their Σg². */
  | { kind: 'optimSum'; id: number; contributors: number }
  /** AdamW step `step` on the owned parameters with the summed gradients; their new values into the shared weights. */
  | { kind: 'optimStep'; id: number; step: number; lr: number; coef: number | undefined }
  /** Loads the parameters other ranks own from the shared weights; the replica is then at `version`. */
  | { kind: 'optimLoad'; id: number; version: number }
  /** The owned parameters' moments. */
  | { kind: 'optimRead'; id: number }
  /** Frees the owned part of the optimizer. */
  | { kind: 'optimDrop'; id: number };

export interface ReplicaRef {
  id: number;
  version: number;
}

export type JobResult =
  | { kind: 'ok' }
  | { kind: 'sftGrads'; loss: number }
  | { kind: 'generate'; result: GenerateResult }
  /** ppoShardGrads' stats (and log-probs when asked), as host arrays. */
  | { kind: 'ppoGrads'; stats: number[]; logprobs?: Float32Array }
  /** rewardShardGrads' [loss, accuracy, margin] shares. */
  | { kind: 'rewardGrads'; stats: number[] }
  | { kind: 'optimSum'; sumSquares: number }
  | { kind: 'optimRead'; m: Record<string, Float32Array>; v: Record<string, Float32Array> }
  | { kind: 'error'; message: string };
