// Differentiable losses for RLHF PPO and reward-model training (tfjs).
// Shapes: [batch, time] float32 unless stated; `mask` is 1 on response
// tokens, 0 on padding. Token-level averaging over the whole batch (one mean
// over all unmasked tokens), as OpenRLHF and TRL PPO do by default.
// Every function runs inside tf.tidy: only the returned tensors survive.

import * as tf from '@tensorflow/tfjs';

/** Keeps an all-zero mask from dividing by zero: the masked mean is then 0. */
const MASK_EPS = 1e-8;

/**
 * Σ(x·mask)/Σmask over all elements (axis undefined) or along `axis`.
 * An all-zero mask (or row) gives 0, not NaN.
 */
export function maskedMean(x: tf.Tensor, mask: tf.Tensor, axis?: number): tf.Tensor {
  return tf.tidy(() => {
    const num = tf.sum(tf.mul(x, mask), axis);
    const den = tf.maximum(tf.sum(mask, axis), MASK_EPS);
    return tf.div(num, den);
  });
}

function maskedMeanScalar(x: tf.Tensor, mask: tf.Tensor): tf.Scalar {
  return maskedMean(x, mask) as tf.Scalar;
}

export interface PolicyLossResult {
  loss: tf.Scalar;
  /** Fraction of tokens where the clipped term was taken (diagnostic, no useful gradient). */
  clipFrac: tf.Scalar;
  /** ½·mean((logp − oldLogp)²): the k2 estimator, as TRL's PPO `approxkl` (diagnostic). */
  approxKl: tf.Scalar;
}

/**
 * PPO clipped surrogate — Schulman et al. 2017, arXiv 1707.06347, eq. 7, as a
 * loss to minimise: ρ = exp(logp − oldLogp),
 *   L = mean_t max(−A·ρ, −A·clip(ρ, 1 − ε, 1 + ε)).
 */
export function policyLoss(
  logp: tf.Tensor,
  oldLogp: tf.Tensor,
  advantages: tf.Tensor,
  mask: tf.Tensor,
  clipRange: number,
): PolicyLossResult {
  if (!(clipRange > 0)) throw new RangeError(`policyLoss: clipRange must be > 0, got ${clipRange}`);
  return tf.tidy(() => {
    const logRatio = tf.sub(logp, oldLogp);
    const ratio = tf.exp(logRatio);
    const negAdv = tf.neg(advantages);
    const unclipped = tf.mul(negAdv, ratio);
    const clipped = tf.mul(negAdv, tf.clipByValue(ratio, 1 - clipRange, 1 + clipRange));
    const loss = maskedMeanScalar(tf.maximum(unclipped, clipped), mask);
    const clipFrac = maskedMeanScalar(tf.cast(tf.greater(clipped, unclipped), 'float32'), mask);
    const approxKl = tf.mul(0.5, maskedMeanScalar(tf.square(logRatio), mask)) as tf.Scalar;
    return { loss, clipFrac, approxKl };
  });
}

export interface ValueLossResult {
  loss: tf.Scalar;
  clipFrac: tf.Scalar;
}

/**
 * Clipped value loss (PPO2 baselines; OpenRLHF `ValueLoss`, TRL PPO):
 *   V_clip = V_old + clip(V − V_old, −ε, ε),
 *   L = ½·mean_t max((V − R)², (V_clip − R)²).
 */
export function valueLoss(
  values: tf.Tensor,
  oldValues: tf.Tensor,
  returns: tf.Tensor,
  mask: tf.Tensor,
  clipRange: number,
): ValueLossResult {
  if (!(clipRange > 0)) throw new RangeError(`valueLoss: clipRange must be > 0, got ${clipRange}`);
  return tf.tidy(() => {
    const vClipped = tf.add(oldValues, tf.clipByValue(tf.sub(values, oldValues), -clipRange, clipRange));
    const unclipped = tf.square(tf.sub(values, returns));
    const clipped = tf.square(tf.sub(vClipped, returns));
    const loss = tf.mul(0.5, maskedMeanScalar(tf.maximum(unclipped, clipped), mask)) as tf.Scalar;
    const clipFrac = maskedMeanScalar(tf.cast(tf.greater(clipped, unclipped), 'float32'), mask);
    return { loss, clipFrac };
  });
}

/**
 * Bradley-Terry reward-model loss (Ouyang et al. 2022, arXiv 2203.02155 eq. 1):
 *   L = mean −log σ(r_c − r_r) = mean softplus(−(r_c − r_r)),
 * written with softplus so large margins neither overflow nor lose the gradient.
 */
export function bradleyTerryLoss(chosen: tf.Tensor1D, rejected: tf.Tensor1D): tf.Scalar {
  return tf.tidy(() => tf.mean(tf.softplus(tf.sub(rejected, chosen))) as tf.Scalar);
}

/** Entropy of the softmax over the last axis, H = −Σ_v p_v·log p_v: [B, T, V] → [B, T]. */
export function entropyFromLogits(logits: tf.Tensor3D): tf.Tensor2D {
  return tf.tidy(() => {
    const logp = tf.logSoftmax(logits, -1);
    return tf.neg(tf.sum(tf.mul(tf.exp(logp), logp), -1)) as tf.Tensor2D;
  });
}
