// Supervised fine-tuning: next-token cross-entropy on the response tokens
// only (the prompt is context, not a target), as in InstructGPT's SFT stage
// (arXiv 2203.02155).
import * as tf from '@tensorflow/tfjs';
import { buildBatch, batchTensors, encodePrompt, encodeResponse, selectRows, type SequenceBatch } from './batch.js';
import { responseHidden, type PolicyModel } from './model.js';
import { targetLogprobs } from './ops.js';
import { AdamW, namedGrads, type AdamWConfig } from './optim.js';
import { lrAt, type LrSchedule } from './schedule.js';
import { runShards, shardRanges, shardRows, workerPool, type WorkerPool } from './parallel/pool.js';
import { shardOptimizer, shardedStep, shareGrads } from './parallel/sharded.js';
import type { JobResult } from './parallel/protocol.js';
import type { Tokenizer } from './tokenizer.js';

export interface PromptResponse {
  prompt: string;
  response: string;
}

/** Encodes pairs into the shared layout (batch.ts); the response gets EOS so the policy learns to stop. */
export function sftBatch(tok: Tokenizer, pairs: readonly PromptResponse[], contextLength: number): SequenceBatch {
  return buildBatch(
    pairs.map((p) => encodePrompt(tok, p.prompt)),
    pairs.map((p) => encodeResponse(tok, p.response)),
    contextLength,
  );
}

/**
 * Log-probabilities [B, R] of each batch row's response tokens under the
 * policy, differentiable, from one forward pass; logits are computed only at
 * the R positions that predict response tokens. Call inside a tidy.
 */
export function responseLogprobs(model: PolicyModel, batch: SequenceBatch): { logprobs: tf.Tensor2D; logits: tf.Tensor2D } {
  const { batchSize: B, promptLen: P, responseLen: R } = batch;
  const { hidden } = model.forward(batchTensors(batch));
  const logits = model.logits(responseHidden(hidden, B, P, R, model.config.dModel)); // [B·R, V]
  return { logprobs: tf.reshape(targetLogprobs(logits, tf.tensor1d(batch.responseIds, 'int32')), [B, R]), logits };
}

/**
 * Mean negative log-likelihood per response token (masked). Call inside a
 * tidy. `denominator` (default: this batch's response tokens) lets a shard
 * of a larger batch contribute its part of the whole batch's mean.
 */
export function sftLoss(model: PolicyModel, batch: SequenceBatch, denominator = countTokens(batch)): tf.Scalar {
  const { logprobs } = responseLogprobs(model, batch);
  const mask = tf.tensor2d(batch.responseMask, [batch.batchSize, batch.responseLen]);
  return tf.div(tf.neg(tf.sum(tf.mul(logprobs, mask))), Math.max(1, denominator)) as tf.Scalar;
}

export interface SftConfig {
  schedule: LrSchedule;
  optimizer?: AdamWConfig;
  /** Global gradient-norm clip (default 1.0; 0 or Infinity disables). */
  maxGradNorm?: number;
}

export interface SftStepResult {
  loss: number;
  /** Pre-clip global gradient norm. */
  gradNorm: number;
  lr: number;
  /** Response tokens the loss averaged over. */
  tokens: number;
}

/**
 * One optimizer step per `step(batch)` call, so the caller can heartbeat or
 * checkpoint between steps. Loss and grad norm come back in one device read.
 */
export class SftTrainer {
  readonly optimizer: AdamW;

  constructor(
    readonly model: PolicyModel,
    readonly config: SftConfig,
  ) {
    this.optimizer = new AdamW(model.params, config.optimizer);
  }

  /** Steps taken so far (the optimizer's count, restored with its state). */
  get stepCount(): number {
    return this.optimizer.step;
  }

  async step(batch: SequenceBatch): Promise<SftStepResult> {
    const lr = lrAt(this.config.schedule, this.optimizer.step);
    const pool = await workerPool();
    let metrics: tf.Tensor;
    if (pool) metrics = await this.parallelStep(pool, batch, lr);
    else {
      await this.optimizer.unshard();
      metrics = tf.tidy(() => {
        const { value, grads } = namedGrads(() => sftLoss(this.model, batch), this.model.params);
        const norm = this.optimizer.apply(grads, lr, { maxGradNorm: this.config.maxGradNorm ?? 1.0 });
        return tf.stack([value, norm]);
      });
    }
    const [loss, gradNorm] = (await readAndDispose(metrics)) as [number, number];
    return { loss, gradNorm, lr, tokens: countTokens(batch) };
  }

  /**
   * The same step with the batch's rows split over the data-parallel workers
   * (parallel/pool.ts) and the optimizer over every rank (parallel/sharded.ts):
   * each rank's loss is its tokens' NLL over the whole batch's token count,
   * so the gradients add up to the whole batch's. A one-row batch is one
   * shard, computed here; its update is still split.
   */
  private async parallelStep(pool: WorkerPool, batch: SequenceBatch, lr: number): Promise<tf.Tensor> {
    const shards = shardRanges(batch.batchSize, pool.ranks);
    const rows = (shard: [number, number]) => selectRows(batch, shardRows(shard));
    const denominator = countTokens(batch);
    const replica = await pool.sync(this.model);
    await shardOptimizer(pool, replica, this.model, this.optimizer);
    const { local, remote } = await runShards<ReturnType<typeof namedGrads>, Extract<JobResult, { kind: 'sftGrads' }>>(
      pool,
      shards,
      (shard) => ({ kind: 'sftGrads', id: replica.id, version: replica.version, batch: rows(shard), denominator }),
      (shard) => {
        const g = namedGrads(() => sftLoss(this.model, rows(shard), denominator), this.model.params);
        shareGrads(pool, replica, this.model, this.optimizer, g.grads);
        return g;
      },
      (l) => tf.dispose([l.value, ...l.grads.values()]),
    );
    try {
      const norm = await shardedStep(pool, replica, this.model, this.optimizer, local.grads, shards.length, lr, this.config.maxGradNorm ?? 1.0);
      const remoteLoss = remote.reduce((sum, r) => sum + r.loss, 0);
      return tf.tidy(() => tf.stack([tf.add(local.value, remoteLoss), tf.scalar(norm)]));
    } finally {
      tf.dispose([local.value, ...local.grads.values()]);
    }
  }

  dispose(): void {
    this.optimizer.dispose();
  }
}

/** Token-weighted mean response NLL over batches, no gradients. */
export async function evaluateSft(model: PolicyModel, batches: Iterable<SequenceBatch>): Promise<{ loss: number; tokens: number }> {
  let total = 0;
  let tokens = 0;
  for (const batch of batches) {
    const n = countTokens(batch);
    const loss = tf.tidy(() => sftLoss(model, batch));
    const [l] = (await readAndDispose(loss)) as [number];
    total += l * n;
    tokens += n;
  }
  return { loss: tokens ? total / tokens : NaN, tokens };
}

function countTokens(batch: SequenceBatch): number {
  let n = 0;
  for (const m of batch.responseMask) n += m;
  return n;
}

async function readAndDispose(t: tf.Tensor): Promise<number[]> {
  const data = await t.data();
  t.dispose();
  return Array.from(data);
}
