// Trained models loaded in a compute host, kept in the host's cache so a
// second step on the same host (baseline shards, PPO blocks, evaluation)
// does not read and rebuild them again.
import { modelFromCheckpoint, tokenizerFromCheckpoint } from '../rlhf/checkpoint.js';
import type { PolicyModel, RewardModel } from '../rlhf/model.js';
import type { Tokenizer } from '../rlhf/tokenizer.js';
import type { ArtifactStore } from '../storage/types.js';
import type { StepContext } from './context.js';
import { loadTrainingState } from './models.js';

interface Loaded<M> {
  model: M;
  tokenizer: Tokenizer;
}

/** Frozen models by checkpoint directory; never trained in place (PPO clones what it trains). */
export async function loadFrozen<M extends PolicyModel | RewardModel>(
  store: ArtifactStore,
  dir: string,
  key: 'policy' | 'reward',
  ctx: StepContext,
): Promise<Loaded<M>> {
  const cacheKey = `frozen:${store.root}:${dir}:${key}`;
  const hit = ctx.cache.get(cacheKey) as Loaded<M> | undefined;
  if (hit) return hit;
  const ckpt = await loadTrainingState(store, dir);
  const loaded = { model: modelFromCheckpoint(ckpt, key) as M, tokenizer: tokenizerFromCheckpoint(ckpt) };
  ctx.cache.set(cacheKey, loaded);
  return loaded;
}
