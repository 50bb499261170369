// Reward shaping for RLHF PPO: the sequence score lands on the last response
// token, every token pays −β·KL_t to the reference policy (Ziegler et al. 2019,
// arXiv 1909.08593 §2; OpenRLHF `compute_reward`, TRL PPO L770-785).
//
// The order used by the pipeline, as in OpenRLHF (anchors.md §0):
//   score → contrastive baseline subtraction → normalizeScores → clipReward
//   → shapeTokenRewards → GAE → whiten(advantages).
//
// KL estimators, per token, with logr = ref − logp (Schulman 2020,
// "Approximating KL Divergence", http://joschu.net/blog/kl-approx.html):
//   k1 = −logr = logp − ref              unbiased, can be negative
//   k2 = ½·logr²                         biased, low variance, ≥ 0
//   k3 = (exp(logr) − 1) − logr          unbiased, ≥ 0 (verl's low_var_kl)

export type KlEstimator = 'k1' | 'k2' | 'k3';

export function klEstimate(logp: number, refLogp: number, estimator: KlEstimator): number {
  const logr = refLogp - logp;
  switch (estimator) {
    case 'k1':
      return -logr;
    case 'k2':
      return 0.5 * logr * logr;
    case 'k3':
      return Math.expm1(logr) - logr;
  }
}

export interface ShapeTokenRewardsOptions {
  /** Sequence-level reward (already contrastive/normalised/clipped as configured). */
  score: number;
  /** Policy log-probabilities of the sampled response tokens (at rollout time). */
  logprobs: number[];
  /** Reference-policy log-probabilities of the same tokens. */
  refLogprobs: number[];
  /** β ≥ 0. */
  klCoef: number;
  /** Default 'k1' (OpenRLHF, TRL and DeepSpeed-Chat default). */
  estimator?: KlEstimator;
}

export interface ShapedRewards {
  /** r_t = −β·KL_t, plus the score on the last token. */
  rewards: number[];
  /** KL_t per token (unscaled), for logging and the adaptive KL controller. */
  kl: number[];
}

export function shapeTokenRewards(opts: ShapeTokenRewardsOptions): ShapedRewards {
  const { score, logprobs, refLogprobs, klCoef } = opts;
  const estimator = opts.estimator ?? 'k1';
  if (logprobs.length !== refLogprobs.length) {
    throw new RangeError(`shapeTokenRewards: ${logprobs.length} logprobs but ${refLogprobs.length} refLogprobs`);
  }
  if (logprobs.length === 0) throw new RangeError('shapeTokenRewards: empty response, nowhere to put the score');
  if (!(klCoef >= 0)) throw new RangeError(`shapeTokenRewards: klCoef must be ≥ 0, got ${klCoef}`);
  if (!Number.isFinite(score)) throw new RangeError(`shapeTokenRewards: score must be finite, got ${score}`);

  const kl = logprobs.map((lp, t) => klEstimate(lp, refLogprobs[t]!, estimator));
  const rewards = kl.map((k) => -klCoef * k);
  rewards[rewards.length - 1]! += score;
  return { rewards, kl };
}

/** Clip a sequence score to [−clip, clip]; `clip` undefined leaves it alone (OpenRLHF default 10, DeepSpeed-Chat 5). */
export function clipReward(score: number, clip?: number): number {
  if (clip === undefined) return score;
  if (!(clip > 0)) throw new RangeError(`clipReward: clip must be > 0, got ${clip}`);
  return Math.min(clip, Math.max(-clip, score));
}

// ---------------------------------------------------------------------------
// Score normalisation

/** Serialisable running moments; store it in the PPO checkpoint so a resumed run normalises identically. */
export interface RunningMomentsState {
  count: number;
  mean: number;
  /** Sum of squared deviations from the mean (Welford's M2). */
  m2: number;
}

export function emptyRunningMoments(): RunningMomentsState {
  return { count: 0, mean: 0, m2: 0 };
}

/**
 * Merge a batch into running moments with Chan et al.'s parallel update
 * (Chan, Golub & LeVeque 1979; the pairwise form of Welford 1962):
 *   n = n_a + n_b,  δ = μ_b − μ_a,  μ = μ_a + δ·n_b/n,
 *   M2 = M2_a + M2_b + δ²·n_a·n_b/n.
 */
export function updateRunningMoments(state: RunningMomentsState, xs: readonly number[]): RunningMomentsState {
  if (xs.length === 0) return { ...state };
  let sum = 0;
  for (const x of xs) sum += x;
  const nb = xs.length;
  const mb = sum / nb;
  let m2b = 0;
  for (const x of xs) m2b += (x - mb) * (x - mb);
  const n = state.count + nb;
  const delta = mb - state.mean;
  return {
    count: n,
    mean: state.mean + (delta * nb) / n,
    m2: state.m2 + m2b + (delta * delta * state.count * nb) / n,
  };
}

/** Population std of the running moments (0 before any data). */
export function runningStd(state: RunningMomentsState): number {
  return state.count > 0 ? Math.sqrt(state.m2 / state.count) : 0;
}

export type ScoreNormalization = 'none' | 'batch' | 'running';

export interface NormalizedScores {
  scores: number[];
  /** The updated running state for mode 'running'; the state passed in (possibly undefined) otherwise. */
  state: RunningMomentsState | undefined;
}

/**
 * Normalise sequence scores before clipping:
 * - 'none': unchanged.
 * - 'batch': (s − μ_batch)/sqrt(σ²_batch + eps).
 * - 'running': update the running moments with this batch first (Chan), then
 *   (s − μ_run)/sqrt(σ²_run + eps) — as TRL's RunningMoments with score
 *   normalisation, which also updates before normalising.
 * σ² is the population variance in both modes; eps defaults to 1e-8, inside
 * the square root as in `whiten`.
 */
export function normalizeScores(
  scores: readonly number[],
  mode: ScoreNormalization,
  state?: RunningMomentsState,
  opts: { eps?: number } = {},
): NormalizedScores {
  const eps = opts.eps ?? 1e-8;
  switch (mode) {
    case 'none':
      return { scores: [...scores], state };
    case 'batch': {
      const m = updateRunningMoments(emptyRunningMoments(), scores);
      return { scores: scale(scores, m, eps), state };
    }
    case 'running': {
      const next = updateRunningMoments(state ?? emptyRunningMoments(), scores);
      return { scores: scale(scores, next, eps), state: next };
    }
  }
}

function scale(scores: readonly number[], m: RunningMomentsState, eps: number): number[] {
  const variance = m.count > 0 ? m.m2 / m.count : 0;
  const inv = 1 / Math.sqrt(variance + eps);
  return scores.map((s) => (s - m.mean) * inv);
}
