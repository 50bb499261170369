// Contrastive rewards — Shen et al. 2024, arXiv 2403.07708:
//   r_cr(x, y) = r(x, y) − A({ r(x, y_j) }_{j=1..k}),   y_j ~ π_SFT(·|x) sampled once, offline.
// A = mean is the reading of the paper (research/paper.md §1.2); the other
// aggregations are experiment options, not from the paper.
//
// The baseline is a per-prompt constant, so it cannot move the optimum of the
// KL-regularised objective; it acts through the optimisation (critic,
// whitening, clipping) and by cancelling the per-prompt offsets that a
// Bradley-Terry reward model leaves unconstrained (research/science-notes.md).
// `offsetSpread` measures those offsets against a gold reward.

import { z } from 'zod';
import { DataError } from '../common/errors.js';
import { mean, quantileSorted, std, variance } from './stats.js';

export type BaselineAggregation =
  | { kind: 'mean' }
  | { kind: 'median' }
  | { kind: 'min' }
  | { kind: 'max' }
  /** `trim`: fraction of the sorted sample cut from EACH end, 0 ≤ trim < 0.5. */
  | { kind: 'trimmed_mean'; trim: number }
  /** `q` in [0, 1], linear interpolation (numpy's default). */
  | { kind: 'quantile'; q: number };

export interface BaselineStats {
  promptId: string;
  /** Reward-model scores of the k offline SFT samples, in sampling order. */
  rewards: number[];
  mean: number;
  /** Population std (divide by k). */
  std: number;
  count: number;
}

export function baselineStats(promptId: string, rewards: number[]): BaselineStats {
  if (rewards.length === 0) throw new RangeError(`baselineStats: prompt "${promptId}" has no baseline rewards`);
  rewards.forEach((r, j) => {
    if (!Number.isFinite(r)) throw new RangeError(`baselineStats: prompt "${promptId}" baseline reward ${j} is not finite (${r})`);
  });
  return { promptId, rewards: [...rewards], mean: mean(rewards), std: std(rewards), count: rewards.length };
}

/**
 * Aggregate the first k baseline rewards (default: all of them).
 * Using a prefix rather than a subsample lets one offline sampling run with
 * k_max samples serve an ablation over every k ≤ k_max deterministically.
 *
 * - median: quantile 0.5 (average of the two middle values for even k).
 * - trimmed_mean: drop ⌊trim·k⌋ values from each end of the sorted sample and
 *   average the rest (as scipy.stats.trim_mean; a 1e-9 slack absorbs float
 *   error such as 0.29·100 = 28.999…). It is an error if nothing is left.
 * - quantile: numpy's default linear method, h = (k − 1)·q, interpolate
 *   between the ⌊h⌋-th and ⌈h⌉-th order statistics.
 */
export function aggregateBaseline(rewards: number[], agg: BaselineAggregation, k?: number): number {
  if (rewards.length === 0) throw new RangeError('aggregateBaseline: no baseline rewards stored');
  let xs = rewards;
  if (k !== undefined) {
    if (!Number.isInteger(k) || k < 1) throw new RangeError(`aggregateBaseline: k must be a positive integer, got ${k}`);
    if (k > rewards.length) {
      throw new RangeError(`aggregateBaseline: k=${k} but only ${rewards.length} baseline rewards are stored; sample more baselines or lower k`);
    }
    xs = rewards.slice(0, k);
  }
  switch (agg.kind) {
    case 'mean':
      return mean(xs);
    case 'median':
      return quantileSorted(sorted(xs), 0.5);
    case 'min':
      return Math.min(...xs);
    case 'max':
      return Math.max(...xs);
    case 'trimmed_mean': {
      if (!(agg.trim >= 0 && agg.trim < 0.5)) throw new RangeError(`aggregateBaseline: trimmed_mean trim must be in [0, 0.5), got ${agg.trim}`);
      const cut = Math.floor(agg.trim * xs.length + 1e-9);
      if (2 * cut >= xs.length) {
        throw new RangeError(`aggregateBaseline: trimmed_mean with trim=${agg.trim} removes all ${xs.length} values`);
      }
      return mean(sorted(xs).slice(cut, xs.length - cut));
    }
    case 'quantile':
      if (!(agg.q >= 0 && agg.q <= 1)) throw new RangeError(`aggregateBaseline: quantile q must be in [0, 1], got ${agg.q}`);
      return quantileSorted(sorted(xs), agg.q);
    default: {
      const never: never = agg;
      throw new RangeError(`aggregateBaseline: unknown aggregation ${JSON.stringify(never)}`);
    }
  }
}

function sorted(xs: readonly number[]): number[] {
  return [...xs].sort((a, b) => a - b);
}

/** r_cr = score − A(first k baseline rewards of this prompt). */
export function contrastiveReward(score: number, baseline: BaselineStats, agg: BaselineAggregation, k?: number): number {
  try {
    return score - aggregateBaseline(baseline.rewards, agg, k);
  } catch (err) {
    if (err instanceof RangeError) throw new RangeError(`prompt "${baseline.promptId}": ${err.message}`);
    throw err;
  }
}

// ---------------------------------------------------------------------------
// Artifact: per-prompt baseline statistics, computed once offline and reloaded
// by every PPO arm and every resumed run (never re-sampled).

export const BASELINE_TABLE_SCHEMA = 'crlhf.baseline-table/v1';

const statsSchema = z.object({
  promptId: z.string().min(1),
  rewards: z.array(z.number()).min(1),
  mean: z.number(),
  std: z.number().min(0),
  count: z.number().int().positive(),
});

const tableSchema = z.object({
  schema: z.literal(BASELINE_TABLE_SCHEMA),
  /** Provenance, e.g. reward-model URI and digest, SFT policy URI, sampling temperature. */
  meta: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).optional(),
  prompts: z.array(statsSchema),
});

export type BaselineTableJSON = z.infer<typeof tableSchema>;
export type BaselineMeta = NonNullable<BaselineTableJSON['meta']>;

export class BaselineTable {
  private readonly byPrompt = new Map<string, BaselineStats>();

  constructor(readonly meta: BaselineMeta = {}) {}

  /** Record the baseline rewards of one prompt (replaces any earlier entry). */
  add(promptId: string, rewards: number[]): BaselineStats {
    const s = baselineStats(promptId, rewards);
    this.byPrompt.set(promptId, s);
    return s;
  }

  has(promptId: string): boolean {
    return this.byPrompt.has(promptId);
  }

  get(promptId: string): BaselineStats | undefined {
    return this.byPrompt.get(promptId);
  }

  /** As get(), but a missing prompt is a DataError: the baselines do not cover the RL prompt set. */
  require(promptId: string): BaselineStats {
    const s = this.byPrompt.get(promptId);
    if (!s) throw new DataError(`no baseline statistics for prompt "${promptId}"`, undefined, undefined, 'promptId');
    return s;
  }

  get size(): number {
    return this.byPrompt.size;
  }

  promptIds(): string[] {
    return [...this.byPrompt.keys()].sort();
  }

  contrastiveReward(promptId: string, score: number, agg: BaselineAggregation, k?: number): number {
    return contrastiveReward(score, this.require(promptId), agg, k);
  }

  /** Prompts sorted by id so the same table always serialises to the same bytes (content addressing). */
  toJSON(): BaselineTableJSON {
    const prompts = this.promptIds().map((id) => {
      const s = this.byPrompt.get(id)!;
      return { promptId: s.promptId, rewards: [...s.rewards], mean: s.mean, std: s.std, count: s.count };
    });
    return { schema: BASELINE_TABLE_SCHEMA, meta: { ...this.meta }, prompts };
  }

  /**
   * Load a table written by toJSON(). The stored mean/std/count are checked
   * against the rewards (they are derived data; a mismatch means the file was
   * edited or corrupted). `source` names the artifact in errors.
   */
  static fromJSON(json: unknown, source?: string): BaselineTable {
    const where = source ? `${source}: ` : '';
    const parsed = tableSchema.safeParse(json);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const field = issue?.path.join('.') || undefined;
      throw new DataError(
        `${where}invalid baseline table${field ? ` at "${field}"` : ''}: ${issue?.message ?? 'unknown error'}`,
        source,
        undefined,
        field,
      );
    }
    const table = new BaselineTable(parsed.data.meta ?? {});
    parsed.data.prompts.forEach((p, i) => {
      if (table.has(p.promptId)) {
        throw new DataError(`${where}duplicate promptId "${p.promptId}"`, source, undefined, `prompts.${i}.promptId`);
      }
      const s = table.add(p.promptId, p.rewards);
      const close = (a: number, b: number) => Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(a), Math.abs(b));
      for (const field of ['count', 'mean', 'std'] as const) {
        if (!close(s[field], p[field])) {
          throw new DataError(
            `${where}prompt "${p.promptId}": stored ${field} ${p[field]} does not match its rewards (${s[field]})`,
            source,
            undefined,
            `prompts.${i}.${field}`,
          );
        }
      }
    });
    return table;
  }
}

// ---------------------------------------------------------------------------
// Per-prompt offset spread of a reward model against a gold reward
// (research/science-notes.md): o(x) = mean_y [ r(x,y) − a·g(x,y) ],
// spread = Var_x o(x) (population variance over prompts).

export interface PromptScores {
  promptId: string;
  /** Reward-model scores r(x, y) of some responses y of this prompt. */
  rewardScores: number[];
  /** Gold rewards g(x, y) of the same responses, same order. */
  goldRewards: number[];
}

export interface OffsetSpread {
  offsets: { promptId: string; offset: number; count: number }[];
  meanOffset: number;
  /** Var_x o(x), population. The headline number reported next to every comparison. */
  variance: number;
  std: number;
  /** a: 1 for scale 'none', the pooled within-prompt slope for 'within-prompt'. */
  scale: number;
  /** Var of r over all responses, for reading `variance` as a fraction of the score variance. */
  scoreVariance: number;
}

/**
 * scale 'none' (default, as science-notes.md): a = 1, o(x) = mean_y(r − g).
 * A reward model's scale is arbitrary relative to the gold reward, and with
 * a ≠ 1 the per-prompt mean of the gold reward leaks into o(x). scale
 * 'within-prompt' first fits the slope a that Bradley-Terry training does pin
 * down — the pooled within-prompt least-squares slope
 *   a = Σ_x Σ_y (g − ḡ_x)(r − r̄_x) / Σ_x Σ_y (g − ḡ_x)²
 * — and then o(x) = r̄_x − a·ḡ_x, what is left unpinned: the per-prompt level.
 */
export function offsetSpread(prompts: PromptScores[], opts: { scale?: 'none' | 'within-prompt' } = {}): OffsetSpread {
  if (prompts.length === 0) throw new RangeError('offsetSpread: no prompts');
  for (const p of prompts) {
    if (p.rewardScores.length !== p.goldRewards.length) {
      throw new RangeError(`offsetSpread: prompt "${p.promptId}" has ${p.rewardScores.length} reward scores but ${p.goldRewards.length} gold rewards`);
    }
    if (p.rewardScores.length === 0) throw new RangeError(`offsetSpread: prompt "${p.promptId}" has no responses`);
  }
  let a = 1;
  if ((opts.scale ?? 'none') === 'within-prompt') {
    let sxy = 0;
    let sxx = 0;
    for (const p of prompts) {
      const gm = mean(p.goldRewards);
      const rm = mean(p.rewardScores);
      p.goldRewards.forEach((g, j) => {
        sxy += (g - gm) * (p.rewardScores[j]! - rm);
        sxx += (g - gm) * (g - gm);
      });
    }
    if (sxx === 0) throw new RangeError('offsetSpread: gold rewards do not vary within any prompt, the within-prompt scale is undefined');
    a = sxy / sxx;
  }
  const offsets = prompts.map((p) => ({
    promptId: p.promptId,
    offset: mean(p.rewardScores) - a * mean(p.goldRewards),
    count: p.rewardScores.length,
  }));
  const os = offsets.map((o) => o.offset);
  return {
    offsets,
    meanOffset: mean(os),
    variance: variance(os),
    std: std(os),
    scale: a,
    scoreVariance: variance(prompts.flatMap((p) => p.rewardScores)),
  };
}
