// Reward-model training on preference pairs with the Bradley-Terry loss
// −log σ(r(x, y_chosen) − r(x, y_rejected)) (InstructGPT, arXiv 2203.02155
// eq. 1; the loss itself is losses.bradleyTerryLoss, in softplus form).
import * as tf from '@tensorflow/tfjs';
import { batchTensors, buildBatch, encodePrompt, encodeResponse, lastTokenSelector, selectRows, type SequenceBatch } from './batch.js';
import { bradleyTerryLoss } from './losses.js';
import type { RewardModel } from './model.js';
import { AdamW, namedGrads, type AdamWConfig } from './optim.js';
import { lrAt, type LrSchedule } from './schedule.js';
import { runShards, shardRanges, shardRows, workerPool } from './parallel/pool.js';
import { optimizerStep, placeOptimizer, shareGrads } from './parallel/sharded.js';
import type { JobResult } from './parallel/protocol.js';
import type { Tokenizer } from './tokenizer.js';

export interface PreferencePair {
  prompt: string;
  chosen: string;
  rejected: string;
}

/**
 * 2B rows in the shared layout: rows 0..B−1 are (prompt, chosen), rows
 * B..2B−1 (prompt, rejected), so one forward pass scores both sides.
 */
export function pairBatch(tok: Tokenizer, pairs: readonly PreferencePair[], contextLength: number): SequenceBatch {
  const prompts = pairs.map((p) => encodePrompt(tok, p.prompt));
  return buildBatch(
    [...prompts, ...prompts],
    [...pairs.map((p) => encodeResponse(tok, p.chosen)), ...pairs.map((p) => encodeResponse(tok, p.rejected))],
    contextLength,
  );
}

/** r(x, y) for every row of a batch: the head at each row's last real token → [B]. Call inside a tidy. */
export function rewardScores(model: RewardModel, batch: SequenceBatch): tf.Tensor1D {
  const { hidden } = model.forward(batchTensors(batch));
  return model.scores(hidden, tf.tensor2d(lastTokenSelector(batch), [batch.batchSize, batch.seqLen]));
}

/** Bradley-Terry loss, accuracy (chosen strictly higher) and mean margin of a pair batch; tensors, inside a tidy. */
function pairTerms(model: RewardModel, batch: SequenceBatch): { loss: tf.Scalar; accuracy: tf.Scalar; margin: tf.Scalar } {
  const n = batch.batchSize / 2;
  const r = rewardScores(model, batch);
  const chosen = tf.slice(r, 0, n);
  const rejected = tf.slice(r, n, n);
  const diff = tf.sub(chosen, rejected);
  return {
    loss: bradleyTerryLoss(chosen, rejected),
    accuracy: tf.mean(tf.cast(tf.greater(diff, 0), 'float32')) as tf.Scalar,
    margin: tf.mean(diff) as tf.Scalar,
  };
}

export interface RewardShardResult {
  grads: Map<string, tf.Tensor>;
  /** [loss, accuracy, margin], each the shard's share of the step's mean. */
  stats: tf.Tensor1D;
}

/**
 * Gradients of one shard of a step's pairs (a pairBatch): loss, accuracy and
 * margin are the shard's means times `share` (its pairs over the step's), so
 * the shards of a step add up to its means, gradients included. Share 1 is
 * the whole step. The caller disposes the result.
 */
export function rewardShardGrads(model: RewardModel, batch: SequenceBatch, share: number): RewardShardResult {
  // The forward pass runs in variableGrads' own scope; keep() carries the
  // diagnostics out of it so they are read with the loss in one transfer.
  let diagnostics: tf.Tensor[] = [];
  const { value, grads } = namedGrads(() => {
    const t = pairTerms(model, batch);
    diagnostics = [tf.keep(tf.mul(t.accuracy, share)), tf.keep(tf.mul(t.margin, share))];
    return tf.mul(t.loss, share) as tf.Scalar;
  }, model.params);
  const stats = tf.stack([value, ...diagnostics]) as tf.Tensor1D;
  tf.dispose([value, ...diagnostics]);
  return { grads, stats };
}

export interface RewardTrainerConfig {
  schedule: LrSchedule;
  optimizer?: AdamWConfig;
  /** default 1.0 */
  maxGradNorm?: number;
  /** Longest prompt + response (default: the model's context length). */
  contextLength?: number;
}

export interface RewardStepResult {
  loss: number;
  /** Training-batch pairwise accuracy before this step's update. */
  accuracy: number;
  margin: number;
  gradNorm: number;
  lr: number;
}

export class RewardTrainer {
  readonly optimizer: AdamW;

  constructor(
    readonly model: RewardModel,
    readonly tokenizer: Tokenizer,
    readonly config: RewardTrainerConfig,
  ) {
    this.optimizer = new AdamW(model.params, config.optimizer);
  }

  get stepCount(): number {
    return this.optimizer.step;
  }

  /**
   * One optimizer step on `pairs`. With data-parallel ranks (parallel/pool.ts)
   * each rank scores a contiguous share of the pairs (rewardShardGrads) and
   * the gradients are summed before the step, which every rank runs on its
   * part of the parameters (parallel/sharded.ts): the same update as one
   * thread to float32 rounding.
   */
  async step(pairs: readonly PreferencePair[]): Promise<RewardStepResult> {
    const ctx = this.config.contextLength ?? this.model.config.contextLength;
    const lr = lrAt(this.config.schedule, this.optimizer.step);
    const pool = await workerPool();
    const shards = shardRanges(pairs.length, pool?.ranks ?? 1);
    const replica = await pool?.sync(this.model);
    await placeOptimizer(pool, replica, this.model, this.optimizer);
    const share = ([a, b]: [number, number]) => (shards.length === 1 ? 1 : (b - a) / pairs.length);
    // A shard keeps the whole step's padded layout (its chosen rows, then its rejected rows).
    const batch = pairBatch(this.tokenizer, pairs, ctx);
    const n = pairs.length;
    const rows = (shard: [number, number]) => (shards.length === 1 ? batch : selectRows(batch, [...shardRows(shard), ...shardRows([n + shard[0], n + shard[1]])]));
    const free = (l: RewardShardResult) => tf.dispose([...l.grads.values(), l.stats]);
    // Worker jobs exist only with several shards, hence with a replica.
    const { local, remote: results } = await runShards<RewardShardResult, Extract<JobResult, { kind: 'rewardGrads' }>>(
      pool,
      shards,
      (shard) => ({ kind: 'rewardGrads', id: replica!.id, version: replica!.version, batch: rows(shard), share: share(shard) }),
      (shard) => {
        const g = rewardShardGrads(this.model, rows(shard), share(shard));
        if (pool && replica) shareGrads(pool, replica, this.model, this.optimizer, g.grads);
        return g;
      },
      free,
    );
    let metrics: tf.Tensor;
    let norm: tf.Scalar | undefined;
    try {
      norm = await optimizerStep(pool, replica, this.model, this.optimizer, local.grads, shards.length, lr, this.config.maxGradNorm ?? 1.0);
      const n = norm;
      metrics = tf.tidy(() => {
        let stats: tf.Tensor = local.stats;
        for (const r of results) stats = tf.add(stats, tf.tensor1d(r.stats));
        return tf.concat([stats, tf.reshape(n, [1])]);
      });
    } finally {
      norm?.dispose();
      free(local);
    }
    const [loss, accuracy, margin, gradNorm] = Array.from(await metrics.data()) as [number, number, number, number];
    metrics.dispose();
    return { loss, accuracy, margin, gradNorm, lr };
  }

  dispose(): void {
    this.optimizer.dispose();
  }
}

export interface PairEvaluation {
  /** Fraction of pairs with r(chosen) > r(rejected) (ties count as wrong). */
  accuracy: number;
  /** Mean of r(chosen) − r(rejected). */
  meanMargin: number;
  /** Mean Bradley-Terry loss. */
  loss: number;
  count: number;
}

/** Held-out pairwise accuracy, margin and loss, in batches of `batchSize` pairs. */
export async function evaluatePairs(
  model: RewardModel,
  tok: Tokenizer,
  pairs: readonly PreferencePair[],
  opts: { batchSize?: number; contextLength?: number } = {},
): Promise<PairEvaluation> {
  const bs = opts.batchSize ?? 32;
  let acc = 0;
  let margin = 0;
  let loss = 0;
  for (let i = 0; i < pairs.length; i += bs) {
    const chunk = pairs.slice(i, i + bs);
    const batch = pairBatch(tok, chunk, opts.contextLength ?? model.config.contextLength);
    const t = tf.tidy(() => {
      const terms = pairTerms(model, batch);
      return tf.stack([terms.loss, terms.accuracy, terms.margin]);
    });
    const [l, a, m] = Array.from(await t.data()) as [number, number, number];
    t.dispose();
    loss += l * chunk.length;
    acc += a * chunk.length;
    margin += m * chunk.length;
  }
  const n = pairs.length;
  return { accuracy: acc / n, meanMargin: margin / n, loss: loss / n, count: n };
}

/** r(x, y) of token-id prompts (as encodePrompt) and responses (as generated, EOS included if emitted). */
export async function scoreIds(
  model: RewardModel,
  prompts: number[][],
  responses: number[][],
  opts: { batchSize?: number } = {},
): Promise<number[]> {
  const bs = opts.batchSize ?? 64;
  const out: number[] = [];
  for (let i = 0; i < prompts.length; i += bs) {
    const batch = buildBatch(prompts.slice(i, i + bs), responses.slice(i, i + bs), model.config.contextLength);
    const s = tf.tidy(() => rewardScores(model, batch));
    out.push(...(await s.data()));
    s.dispose();
  }
  return out;
}

/** r(x, y) of prompt and response strings, encoded as in training (response + EOS). */
export function score(
  model: RewardModel,
  tok: Tokenizer,
  prompts: readonly string[],
  responses: readonly string[],
  opts: { batchSize?: number } = {},
): Promise<number[]> {
  if (prompts.length !== responses.length) throw new Error(`score: ${prompts.length} prompts but ${responses.length} responses`);
  return scoreIds(
    model,
    prompts.map((p) => encodePrompt(tok, p)),
    responses.map((r) => encodeResponse(tok, r)),
    opts,
  );
}
