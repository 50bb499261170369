// Messages between the main thread and the data-parallel workers (pool.ts,
// worker.ts). Typed arrays travel by structured clone; weights and
// gradients through the SharedArrayBuffers a replica message hands over.
import type { BackendName } from '../backend.js';
import type { SequenceBatch } from '../batch.js';
import type { AnyModel, ResolvedConfig } from '../model.js';
import type { RngState } from '../rng.js';
import type { GenerateOptions, GenerateResult } from '../sampling.js';
import type { PpoClip, PpoTargets } from '../ppo.js';

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
  | { kind: 'ppoGrads'; policy: ReplicaRef; value: ReplicaRef; batch: SequenceBatch; targets: PpoTargets; share: number; clip: PpoClip; withLogprobs: boolean };

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
  | { kind: 'error'; message: string };
