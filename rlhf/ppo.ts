// One PPO iteration of the standard RLHF recipe (Ziegler et al. 2019,
// arXiv 1909.08593; InstructGPT, arXiv 2203.02155; PPO, arXiv 1707.06347),
// with contrastive rewards (Shen et al. 2024, arXiv 2403.07708) as a switch:
//
//   rollout (KV cache) → score → [contrastive: − baseline aggregate]
//   → normalise / clip → per-token −β·KL(π‖π_ref), score on the last token
//   → GAE(γ, λ) → whiten advantages → epochs × shuffled minibatches of the
//   clipped surrogate and clipped value loss → KL controller update.
//
// `rewardMode: 'raw' | 'contrastive'` changes one line; both arms share the rest.
//
// Policy and critic are separate networks with separate AdamW optimizers and
// learning rates (as OpenRLHF's actor/critic), so the value loss needs no
// coefficient and neither network's clipping or LR schedule affects the other.
//
// Old log-probs and entropies come from the rollout itself: sampling computes
// the policy's temperature-1 log-probs in float64 on the host from the
// decoding logits, which agree with a forward pass to float32 tolerance
// (the first update's ratio is 1 ± ~1e-6, far inside any clip range), so no
// forward pass of the policy is spent on them. The difference to the first
// update's forward pass is reported as `logprobMismatch`;
// `recomputeOldLogprobs` restores the extra pass for an exactly-1 ratio.
import * as tf from '@tensorflow/tfjs';
import { batchTensors, buildBatch, encodePrompt, selectRows, type SequenceBatch } from './batch.js';
import { restoreCheckpoint, saveCheckpoint, type Checkpoint } from './checkpoint.js';
import { contrastiveReward, type BaselineAggregation, type BaselineStats } from './contrastive.js';
import { gae } from './gae.js';
import { klControllerFromConfig, type KLController, type KLControllerConfig } from './kl.js';
import { policyLoss, valueLoss } from './losses.js';
import { responseHidden, type PolicyModel, type ValueModel, type RewardModel } from './model.js';
import { AdamW, namedGrads, type AdamWConfig } from './optim.js';
import { runShards, shardRanges, shardRows, workerPool } from './parallel/pool.js';
import { optimizerStep, placeOptimizer, shareGrads } from './parallel/sharded.js';
import type { JobResult } from './parallel/protocol.js';
import { scoreIds } from './reward-model.js';
import { Rng } from './rng.js';
import { generate, sequenceLogprobs, sequenceValues, type GenerateOptions } from './sampling.js';
import { lrAt, type LrSchedule } from './schedule.js';
import { responseLogprobs } from './sft.js';
import { clipReward, normalizeScores, shapeTokenRewards, type KlEstimator, type RunningMomentsState, type ScoreNormalization } from './shaping.js';
import { explainedVariance, mean, std } from './stats.js';
import type { Tokenizer } from './tokenizer.js';
import { whiten } from './whiten.js';

export interface PpoConfig {
  rewardMode: 'raw' | 'contrastive';
  /** How the k offline baseline rewards of a prompt are aggregated (default mean, as the paper). */
  baselineAggregation?: BaselineAggregation;
  /** Use the first k baseline rewards (default all). */
  baselineK?: number;
  generation: Omit<GenerateOptions, 'eosId'>;
  /** KL penalty coefficient β, fixed or adaptive (Ziegler et al.). */
  kl: KLControllerConfig;
  /** Per-token KL estimator in the reward (default k1). */
  klEstimator?: KlEstimator;
  /** default 1 */
  gamma?: number;
  /** default 0.95 */
  lambda?: number;
  /** Policy ratio clip ε (default 0.2). */
  clipRange?: number;
  /** Value clip around the old values (default 0.2). */
  valueClipRange?: number;
  /** Passes over the rollout batch (default 4). */
  ppoEpochs?: number;
  /** Rows per update (default: the whole rollout batch). */
  miniBatchSize?: number;
  /** default true */
  whitenAdvantages?: boolean;
  /** Normalisation of the (contrastive) score before clipping (default 'none'). */
  scoreNormalization?: ScoreNormalization;
  /** Clip the final score to ±rewardClip (default: no clip). */
  rewardClip?: number;
  /** Stop this iteration's updates once a minibatch's approx KL exceeds this (default: never). */
  earlyStopApproxKl?: number;
  /** default 1.0, both networks */
  maxGradNorm?: number;
  /**
   * Recompute old log-probs and entropies with a forward pass of the policy
   * instead of taking them from the rollout (default false): the first
   * update's ratio is then exactly 1, at the cost of one more forward pass.
   */
  recomputeOldLogprobs?: boolean;
  policyOptim: { schedule: LrSchedule; optimizer?: AdamWConfig };
  valueOptim: { schedule: LrSchedule; optimizer?: AdamWConfig };
}

export interface PpoPrompt {
  id: string;
  text: string;
  /** Pre-encoded prompt (default encodePrompt(tokenizer, text)). */
  ids?: number[];
  /** This prompt's offline baseline (overrides the trainer's table). */
  baseline?: BaselineStats;
}

export interface RolloutSample {
  promptId: string;
  prompt: string;
  response: string;
  promptIds: number[];
  /** As generated: EOS included if emitted. */
  responseIds: number[];
  finished: boolean;
}

/** Scores rollouts: a reward model, a gold reward, or anything else. One number per sample. */
export type RewardFn = (samples: RolloutSample[]) => Promise<number[]> | number[];

/** A RewardFn that scores token ids with a reward model (responses as generated). */
export function rewardModelRewardFn(rm: RewardModel, opts: { batchSize?: number } = {}): RewardFn {
  return (samples) =>
    scoreIds(
      rm,
      samples.map((s) => s.promptIds),
      samples.map((s) => s.responseIds),
      opts,
    );
}

export interface RolloutRecord {
  promptId: string;
  prompt: string;
  response: string;
  /** Raw reward-function score. */
  score: number;
  /** Score after the contrastive baseline, normalisation and clipping. */
  reward: number;
  /** Baseline aggregate subtracted (contrastive mode). */
  baseline?: number;
  kl: number;
  length: number;
}

export interface PpoMetrics {
  iteration: number;
  scoreMean: number;
  scoreStd: number;
  /** The reward entering the KL shaping (contrastive, normalised, clipped). */
  rewardMean: number;
  rewardStd: number;
  /** Mean over sequences of Σ_t KL_t (the chosen estimator). */
  klMean: number;
  /** β used for this iteration's shaping. */
  klCoef: number;
  /** β after the controller update. */
  klCoefNext: number;
  entropyMean: number;
  clipFrac: number;
  approxKl: number;
  policyLoss: number;
  valueLoss: number;
  valueClipFrac: number;
  explainedVariance: number;
  policyGradNorm: number;
  valueGradNorm: number;
  responseLengthMean: number;
  /** Fraction of rows that emitted EOS. */
  finishedFraction: number;
  /**
   * max |rollout log-prob − forward-pass log-prob| over tokens: against the
   * first update's forward pass over its minibatch (or, with
   * recomputeOldLogprobs, the whole batch's).
   */
  logprobMismatch: number;
  updates: number;
  earlyStopped: boolean;
  policyLr: number;
  valueLr: number;
  /** Generation with the KV cache (with its log-probs and entropies). */
  rolloutMs: number;
  /** The reward function (a reward model's forward pass). */
  scoringMs: number;
  /** Reference and value forward passes (and the policy's, with recomputeOldLogprobs). */
  forwardMs: number;
  /** Contrastive baseline, normalisation, KL shaping, GAE and whitening (host). */
  advantageMs: number;
  /** PPO epochs: forward, backward and AdamW for policy and critic. */
  updateMs: number;
  totalMs: number;
}

export interface PpoIterationResult {
  metrics: PpoMetrics;
  rollouts: RolloutRecord[];
}

export interface PpoTrainerOptions {
  policy: PolicyModel;
  /** Copy of the SFT policy; the trainer freezes it. */
  reference: PolicyModel;
  value: ValueModel;
  tokenizer: Tokenizer;
  rewardFn: RewardFn;
  config: PpoConfig;
  /** Seeds sampling and minibatch order (forked into independent streams). */
  seed: number | string;
  /** Offline baselines by prompt id (required for rewardMode 'contrastive' unless prompts carry them). */
  baselines?: { get(promptId: string): BaselineStats | undefined };
}

export class PpoTrainer {
  readonly policy: PolicyModel;
  readonly reference: PolicyModel;
  readonly value: ValueModel;
  readonly tokenizer: Tokenizer;
  readonly config: PpoConfig;
  readonly policyOptimizer: AdamW;
  readonly valueOptimizer: AdamW;
  klController: KLController;
  iteration = 0;
  private sampleRng: Rng;
  private shuffleRng: Rng;
  private runningMoments: RunningMomentsState | undefined;
  private readonly rewardFn: RewardFn;
  private readonly baselines: PpoTrainerOptions['baselines'];

  constructor(opts: PpoTrainerOptions) {
    this.policy = opts.policy;
    this.reference = opts.reference.freeze();
    this.value = opts.value;
    this.tokenizer = opts.tokenizer;
    this.config = opts.config;
    this.rewardFn = opts.rewardFn;
    this.baselines = opts.baselines;
    const root = new Rng(opts.seed);
    this.sampleRng = root.fork('ppo.sample');
    this.shuffleRng = root.fork('ppo.shuffle');
    this.klController = klControllerFromConfig(opts.config.kl);
    this.policyOptimizer = new AdamW(this.policy.params, opts.config.policyOptim.optimizer);
    this.valueOptimizer = new AdamW(this.value.params, opts.config.valueOptim.optimizer);
  }

  /** One PPO iteration on a batch of prompts. */
  async step(prompts: readonly PpoPrompt[]): Promise<PpoIterationResult> {
    const cfg = this.config;
    const t0 = performance.now();
    const promptIds = prompts.map((p) => p.ids ?? encodePrompt(this.tokenizer, p.text));

    // 1. Rollout with the KV cache; it also gives the old log-probs and entropies.
    const gen = await generate(this.policy, promptIds, this.sampleRng, { ...cfg.generation, policyStats: true });
    const empty = gen.responses.findIndex((r) => r.length === 0);
    if (empty >= 0) throw new Error(`PPO: prompt "${prompts[empty]?.id}" leaves no room for a response in context ${this.policy.config.contextLength}`);
    const t1 = performance.now();

    // 2. Score.
    const samples: RolloutSample[] = prompts.map((p, i) => ({
      promptId: p.id,
      prompt: p.text,
      response: this.tokenizer.decode(gen.responses[i] as number[]),
      promptIds: promptIds[i] as number[],
      responseIds: gen.responses[i] as number[],
      finished: gen.finished[i] as boolean,
    }));
    const scores = await this.rewardFn(samples);
    if (scores.length !== samples.length) throw new Error(`PPO: reward function returned ${scores.length} scores for ${samples.length} samples`);
    scores.forEach((s, i) => {
      if (!Number.isFinite(s)) throw new Error(`PPO: reward for prompt "${samples[i]?.promptId}" is ${s}`);
    });
    const t2 = performance.now();

    // 3. Reference log-probs and values: one forward pass each.
    const batch = buildBatch(promptIds, gen.responses, this.policy.config.contextLength);
    const old = cfg.recomputeOldLogprobs
      ? await sequenceLogprobs(this.policy, batch, { entropies: true })
      : { logprobs: gen.policyLogprobs as number[][], entropies: gen.entropies as number[][] };
    const ref = await sequenceLogprobs(this.reference, batch);
    const values = await sequenceValues(this.value, batch);
    const t3 = performance.now();

    // 4. Contrastive baseline, normalisation, clipping (shaping.ts's order).
    const baselineValues = prompts.map((p) => (cfg.rewardMode === 'contrastive' ? this.baselineFor(p) : undefined));
    const adjusted = scores.map((s, i) => {
      const b = baselineValues[i];
      return b ? contrastiveReward(s, b, cfg.baselineAggregation ?? { kind: 'mean' }, cfg.baselineK) : s;
    });
    const norm = normalizeScores(adjusted, cfg.scoreNormalization ?? 'none', this.runningMoments);
    this.runningMoments = norm.state;
    const rewards = norm.scores.map((s) => clipReward(s, cfg.rewardClip));

    // 5. Per-token rewards, GAE, whitening.
    const beta = this.klController.value;
    const shaped = rewards.map((score, i) =>
      shapeTokenRewards({ score, logprobs: old.logprobs[i] as number[], refLogprobs: ref.logprobs[i] as number[], klCoef: beta, estimator: cfg.klEstimator }),
    );
    const { advantages: rawAdv, returns } = gae(
      shaped.map((s) => s.rewards),
      values,
      cfg.gamma ?? 1,
      cfg.lambda ?? 0.95,
    );
    const advantages = (cfg.whitenAdvantages ?? true) ? whiten(rawAdv) : rawAdv;
    const seqKl = shaped.map((s) => s.kl.reduce((a, b) => a + b, 0));
    const t4 = performance.now();

    // 6. PPO epochs over shuffled minibatches.
    const { firstLogprobs, ...upd } = await this.update(batch, old.logprobs, values, advantages, returns);
    const t5 = performance.now();

    // 7. KL controller.
    const klMean = mean(seqKl);
    this.klController.update(klMean, prompts.length);
    this.iteration++;

    let mismatch = 0;
    if (cfg.recomputeOldLogprobs) {
      (gen.policyLogprobs as number[][]).forEach((row, i) => row.forEach((lp, t) => (mismatch = Math.max(mismatch, Math.abs(lp - (old.logprobs[i]?.[t] as number))))));
    } else {
      for (const { row, logprobs } of firstLogprobs) {
        logprobs.forEach((lp, t) => (mismatch = Math.max(mismatch, Math.abs(lp - (old.logprobs[row]?.[t] as number)))));
      }
    }
    const lengths = gen.responses.map((r) => r.length);
    const metrics: PpoMetrics = {
      iteration: this.iteration,
      scoreMean: mean(scores),
      scoreStd: std(scores),
      rewardMean: mean(rewards),
      rewardStd: std(rewards),
      klMean,
      klCoef: beta,
      klCoefNext: this.klController.value,
      entropyMean: mean((old.entropies as number[][]).flat()),
      ...upd,
      explainedVariance: explainedVariance(values, returns),
      responseLengthMean: mean(lengths),
      finishedFraction: mean(gen.finished.map((f) => (f ? 1 : 0))),
      logprobMismatch: mismatch,
      rolloutMs: t1 - t0,
      scoringMs: t2 - t1,
      forwardMs: t3 - t2,
      advantageMs: t4 - t3,
      updateMs: t5 - t4,
      totalMs: performance.now() - t0,
    };
    const rollouts: RolloutRecord[] = samples.map((s, i) => {
      const b = baselineValues[i];
      return {
        promptId: s.promptId,
        prompt: s.prompt,
        response: s.response,
        score: scores[i] as number,
        reward: rewards[i] as number,
        ...(b ? { baseline: (scores[i] as number) - (adjusted[i] as number) } : {}),
        kl: seqKl[i] as number,
        length: s.responseIds.length,
      };
    });
    return { metrics, rollouts };
  }

  private baselineFor(p: PpoPrompt): BaselineStats {
    const b = p.baseline ?? this.baselines?.get(p.id);
    if (!b) throw new Error(`PPO rewardMode 'contrastive': no baseline for prompt "${p.id}"`);
    return b;
  }

  private async update(
    batch: SequenceBatch,
    oldLogprobs: number[][],
    oldValues: number[][],
    advantages: number[][],
    returns: number[][],
  ): Promise<
    Pick<PpoMetrics, 'clipFrac' | 'approxKl' | 'policyLoss' | 'valueLoss' | 'valueClipFrac' | 'policyGradNorm' | 'valueGradNorm' | 'updates' | 'earlyStopped' | 'policyLr' | 'valueLr'> & {
      /** The first update's forward-pass log-probs of its rows (before any update), ragged. */
      firstLogprobs: { row: number; logprobs: number[] }[];
    }
  > {
    const cfg = this.config;
    const B = batch.batchSize;
    const R = batch.responseLen;
    const mb = Math.min(B, cfg.miniBatchSize ?? B);
    // [B, R] host arrays, zero past each row's length (masked anyway).
    const pad = (rows: number[][]) => {
      const out = new Float32Array(B * R);
      rows.forEach((row, i) => out.set(row, i * R));
      return out;
    };
    const hostOldLp = pad(oldLogprobs);
    const hostOldV = pad(oldValues);
    const hostAdv = pad(advantages);
    const hostRet = pad(returns);
    const sums = { clipFrac: 0, approxKl: 0, policyLoss: 0, valueLoss: 0, valueClipFrac: 0, policyGradNorm: 0, valueGradNorm: 0 };
    let updates = 0;
    let earlyStopped = false;
    let policyLr = 0;
    let valueLr = 0;
    let firstLogprobs: { row: number; logprobs: number[] }[] = [];
    const clipRange = cfg.clipRange ?? 0.2;
    const valueClip = cfg.valueClipRange ?? 0.2;
    const maxNorm = cfg.maxGradNorm ?? 1.0;
    outer: for (let epoch = 0; epoch < (cfg.ppoEpochs ?? 4); epoch++) {
      const order = this.shuffleRng.shuffle([...Array(B).keys()]);
      for (let start = 0; start < B; start += mb) {
        const idx = order.slice(start, start + mb);
        const sub = selectRows(batch, idx);
        const rows = (src: Float32Array) => {
          const out = new Float32Array(idx.length * R);
          idx.forEach((r, i) => out.set(src.subarray(r * R, (r + 1) * R), i * R));
          return out;
        };
        policyLr = lrAt(cfg.policyOptim.schedule, this.policyOptimizer.step);
        valueLr = lrAt(cfg.valueOptim.schedule, this.valueOptimizer.step);
        const stats = await this.minibatchStep(sub, { oldLogprobs: rows(hostOldLp), advantages: rows(hostAdv), oldValues: rows(hostOldV), returns: rows(hostRet) }, { policy: clipRange, value: valueClip }, updates === 0, { policy: policyLr, value: valueLr, maxNorm });
        const all = (await stats.data()) as Float32Array;
        stats.dispose();
        const [pl, cf, ak, vl, vcf, pn, vn] = Array.from(all.subarray(0, 7));
        if (updates === 0) {
          const lp = all.subarray(7);
          firstLogprobs = idx.map((row, i) => ({ row, logprobs: Array.from(lp.subarray(i * R, i * R + (sub.responseLengths[i] as number))) }));
        }
        sums.policyLoss += pl as number;
        sums.clipFrac += cf as number;
        sums.approxKl += ak as number;
        sums.valueLoss += vl as number;
        sums.valueClipFrac += vcf as number;
        sums.policyGradNorm += pn as number;
        sums.valueGradNorm += vn as number;
        updates++;
        if (cfg.earlyStopApproxKl !== undefined && (ak as number) > cfg.earlyStopApproxKl) {
          earlyStopped = true;
          break outer;
        }
      }
    }
    const n = Math.max(1, updates);
    return {
      clipFrac: sums.clipFrac / n,
      approxKl: sums.approxKl / n,
      policyLoss: sums.policyLoss / n,
      valueLoss: sums.valueLoss / n,
      valueClipFrac: sums.valueClipFrac / n,
      policyGradNorm: sums.policyGradNorm / n,
      valueGradNorm: sums.valueGradNorm / n,
      updates,
      earlyStopped,
      policyLr,
      valueLr,
      firstLogprobs,
    };
  }

  /**
   * One minibatch update of policy and critic. With data-parallel ranks
   * (parallel/pool.ts) each rank takes a contiguous share of the rows
   * (ppoShardGrads) and the gradients are summed before the optimizers step,
   * each rank on its part of the parameters (parallel/sharded.ts), so the
   * update equals one thread's to float32 rounding. Returns
   * [policyLoss, clipFrac, approxKl, valueLoss, valueClipFrac, policy grad
   * norm, value grad norm, (withLogprobs: the rows' log-probs)].
   */
  private async minibatchStep(sub: SequenceBatch, targets: PpoTargets, clip: PpoClip, withLogprobs: boolean, opt: { policy: number; value: number; maxNorm: number }): Promise<tf.Tensor1D> {
    const pool = await workerPool();
    const shards = shardRanges(sub.batchSize, pool?.ranks ?? 1);
    const R = sub.responseLen;
    const tokens = (a: number, b: number) => sub.responseLengths.slice(a, b).reduce((x, y) => x + y, 0);
    const total = tokens(0, sub.batchSize);
    const part = (shard: [number, number]) => {
      if (shards.length === 1) return { batch: sub, targets, share: 1 };
      const [a, b] = shard;
      const slice = (x: Float32Array) => x.slice(a * R, b * R);
      return {
        batch: selectRows(sub, shardRows(shard)),
        targets: { oldLogprobs: slice(targets.oldLogprobs), advantages: slice(targets.advantages), oldValues: slice(targets.oldValues), returns: slice(targets.returns) },
        share: total > 0 ? tokens(a, b) / total : 0,
      };
    };
    const replicas = pool ? { policy: await pool.sync(this.policy), value: await pool.sync(this.value) } : undefined;
    await placeOptimizer(pool, replicas?.policy, this.policy, this.policyOptimizer);
    await placeOptimizer(pool, replicas?.value, this.value, this.valueOptimizer);
    // Workers get the replicas' id and version only (a Replica also holds the
    // shared buffers); worker jobs exist only with a pool, hence with replicas.
    const refs = replicas && { policy: { id: replicas.policy.id, version: replicas.policy.version }, value: { id: replicas.value.id, version: replicas.value.version } };
    const { local, remote: results } = await runShards<PpoShardResult, Extract<JobResult, { kind: 'ppoGrads' }>>(
      pool,
      shards,
      (shard) => ({ kind: 'ppoGrads', policy: refs!.policy, value: refs!.value, ...part(shard), clip, withLogprobs }),
      (shard) => {
        const p = part(shard);
        const g = ppoShardGrads(this.policy, this.value, p.batch, p.targets, p.share, clip, withLogprobs);
        if (pool && replicas) {
          shareGrads(pool, replicas.policy, this.policy, this.policyOptimizer, g.policyGrads);
          shareGrads(pool, replicas.value, this.value, this.valueOptimizer, g.valueGrads);
        }
        return g;
      },
      disposeShard,
    );
    const norms: tf.Scalar[] = [];
    try {
      norms.push(await optimizerStep(pool, replicas?.policy, this.policy, this.policyOptimizer, local.policyGrads, shards.length, opt.policy, opt.maxNorm));
      norms.push(await optimizerStep(pool, replicas?.value, this.value, this.valueOptimizer, local.valueGrads, shards.length, opt.value, opt.maxNorm));
      const [pNorm, vNorm] = norms as [tf.Scalar, tf.Scalar];
      return tf.tidy(() => {
        let stats: tf.Tensor = local.stats;
        for (const r of results) stats = tf.add(stats, tf.tensor1d(r.stats));
        const logprobs = withLogprobs ? [local.logprobs as tf.Tensor, ...results.map((r) => tf.tensor1d(r.logprobs as Float32Array))] : [];
        return tf.concat([stats, tf.stack([pNorm, vNorm]), ...logprobs]) as tf.Tensor1D;
      });
    } finally {
      tf.dispose(norms);
      disposeShard(local);
    }
  }

  /** Everything needed to continue this run exactly: weights, optimizers, RNGs, β, running moments. */
  saveCheckpoint(extra: Record<string, unknown> = {}): Promise<Checkpoint> {
    return saveCheckpoint({
      step: this.iteration,
      models: { policy: this.policy, value: this.value, reference: this.reference },
      optimizers: { policy: this.policyOptimizer, value: this.valueOptimizer },
      rngs: { sample: this.sampleRng, shuffle: this.shuffleRng },
      tokenizer: this.tokenizer,
      klController: this.klController,
      extra: { ...extra, ppo: { iteration: this.iteration, runningMoments: this.runningMoments ?? null } },
    });
  }

  /** Restores a checkpoint from saveCheckpoint into this trainer's models and optimizers. */
  loadCheckpoint(ckpt: Checkpoint): void {
    const r = restoreCheckpoint(ckpt, {
      models: { policy: this.policy, value: this.value, reference: this.reference },
      optimizers: { policy: this.policyOptimizer, value: this.valueOptimizer },
    });
    this.sampleRng = r.rngs.sample as Rng;
    this.shuffleRng = r.rngs.shuffle as Rng;
    if (r.klController) this.klController = r.klController;
    const ppo = r.extra?.ppo as { iteration: number; runningMoments: RunningMomentsState | null } | undefined;
    this.iteration = ppo?.iteration ?? r.step;
    this.runningMoments = ppo?.runningMoments ?? undefined;
  }

  /** Frees the optimizers' state (the models belong to the caller). */
  dispose(): void {
    this.policyOptimizer.dispose();
    this.valueOptimizer.dispose();
  }
}

/** A minibatch's per-token targets, [rows × R] row-major, zero past each row's response. */
export interface PpoTargets {
  oldLogprobs: Float32Array;
  advantages: Float32Array;
  oldValues: Float32Array;
  returns: Float32Array;
}

export interface PpoClip {
  policy: number;
  value: number;
}

export interface PpoShardResult {
  policyGrads: Map<string, tf.Tensor>;
  valueGrads: Map<string, tf.Tensor>;
  /** [policyLoss, clipFrac, approxKl, valueLoss, valueClipFrac], each the shard's share of the minibatch's token mean. */
  stats: tf.Tensor1D;
  /** The policy's log-probs of the rows, [rows·R], when asked. */
  logprobs?: tf.Tensor1D;
}

/** Frees everything a ppoShardGrads result holds. */
export function disposeShard(r: PpoShardResult): void {
  tf.dispose([...r.policyGrads.values(), ...r.valueGrads.values(), r.stats, ...(r.logprobs ? [r.logprobs] : [])]);
}

/**
 * The clipped policy and value losses' gradients over the rows of `sub`,
 * every loss and diagnostic being the rows' masked token mean times `share`
 * (their tokens over the minibatch's): the shards of a minibatch then add up
 * to the minibatch's token means, gradients included, which is how the
 * data-parallel ranks (parallel/pool.ts) split an update. One shard with
 * share 1 is the minibatch itself. The caller disposes the result.
 */
export function ppoShardGrads(
  policy: PolicyModel,
  value: ValueModel,
  sub: SequenceBatch,
  targets: PpoTargets,
  share: number,
  clip: PpoClip,
  withLogprobs: boolean,
): PpoShardResult {
  const R = sub.responseLen;
  const shape: [number, number] = [sub.batchSize, R];
  const [mask, oldLp, adv, oldV, ret] = [sub.responseMask, targets.oldLogprobs, targets.advantages, targets.oldValues, targets.returns].map((a) => tf.tensor2d(a, shape));
  let pDiag: tf.Tensor[] = [];
  let vDiag: tf.Tensor[] = [];
  try {
    const pg = namedGrads(() => {
      const { logprobs } = responseLogprobs(policy, sub);
      const r = policyLoss(logprobs, oldLp as tf.Tensor, adv as tf.Tensor, mask as tf.Tensor, clip.policy);
      pDiag = [tf.keep(tf.mul(r.clipFrac, share)), tf.keep(tf.mul(r.approxKl, share))];
      if (withLogprobs) pDiag.push(tf.keep(tf.reshape(logprobs, [-1])));
      return tf.mul(r.loss, share) as tf.Scalar;
    }, policy.params);
    const vg = namedGrads(() => {
      const h = value.forward(batchTensors(sub)).hidden;
      const v = tf.reshape(value.head(responseHidden(h, sub.batchSize, sub.promptLen, R, value.config.dModel)), shape);
      const r = valueLoss(v, oldV as tf.Tensor, ret as tf.Tensor, mask as tf.Tensor, clip.value);
      vDiag = [tf.keep(tf.mul(r.clipFrac, share))];
      return tf.mul(r.loss, share) as tf.Scalar;
    }, value.params);
    const stats = tf.stack([pg.value, pDiag[0] as tf.Tensor, pDiag[1] as tf.Tensor, vg.value, vDiag[0] as tf.Tensor]) as tf.Tensor1D;
    tf.dispose([pg.value, vg.value]);
    return { policyGrads: pg.grads, valueGrads: vg.grads, stats, ...(withLogprobs ? { logprobs: pDiag[2] as tf.Tensor1D } : {}) };
  } finally {
    tf.dispose([mask, oldLp, adv, oldV, ret, ...pDiag.slice(0, 2), ...vDiag] as tf.Tensor[]);
  }
}
