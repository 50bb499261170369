// Test-only helpers for models.
import * as tf from '@tensorflow/tfjs';
import type { Transformer } from '../../../rlhf/model.js';
import type { Rng } from '../../../rlhf/rng.js';

/** Replaces every weight with N(0, std) draws (LayerNorm gains around 1), for tests that need non-trivial outputs. */
export function randomizeWeights(model: Transformer, rng: Rng, std: number): void {
  for (const [name, v] of model.params) {
    const values = new Float32Array(v.size);
    const gain = /ln\d?\.g$|lnf\.g$/.test(name) ? 1 : 0;
    for (let i = 0; i < values.length; i++) values[i] = gain + rng.normal(0, std);
    tf.tidy(() => v.assign(tf.tensor(values, v.shape)));
  }
}

/** All weights of a model, by name, as host arrays. */
export async function weightsOf(model: Transformer): Promise<Record<string, Float32Array>> {
  const out: Record<string, Float32Array> = {};
  for (const [name, v] of model.params) out[name] = (await v.data()) as Float32Array;
  return out;
}
