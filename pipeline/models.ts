// Building, saving and loading the models of an experiment through the store.
import { initBackend, type BackendInfo } from '../rlhf/backend.js';
import { log } from '../common/log.js';
import { checkpointFromFiles, saveCheckpoint, type Checkpoint, type TrainingState } from '../rlhf/checkpoint.js';
import type { TransformerConfig } from '../rlhf/model.js';
import type { Tokenizer } from '../rlhf/tokenizer.js';
import type { ExperimentConfig } from '../config/schema.js';
import { commitCheckpoint, loadCheckpoint, loadLatestCheckpoint, pruneCheckpoints, type CheckpointManifest } from '../storage/checkpoint.js';
import type { ArtifactStore } from '../storage/types.js';

export function transformerConfig(config: ExperimentConfig, tokenizer: Tokenizer): TransformerConfig {
  const m = config.model;
  return {
    vocabSize: tokenizer.vocabSize,
    contextLength: m.context_length,
    dModel: m.d_model,
    nHeads: m.n_heads,
    nLayers: m.n_layers,
    mlpRatio: m.mlp_ratio,
  };
}

/** What every step result records about the tensor backend that computed it. */
export interface BackendRef {
  name: BackendInfo['name'];
  threads: number;
  /** Present (true) only when TensorFlow ran on a CUDA device. */
  gpu?: true;
}

let logged = false;

/** The backend of this process, chosen once from the config (CRLHF_BACKEND still wins), logged once. */
export async function backendFor(config: ExperimentConfig): Promise<BackendRef> {
  const info = await initBackend(config.backend);
  if (!logged) {
    logged = true;
    log.info({ backend: info.name, threads: info.threads, detail: info.detail }, 'tensor backend');
  }
  return { name: info.name, threads: info.threads, ...(info.gpu ? { gpu: true as const } : {}) };
}

/** Saves a training state as a committed checkpoint under `prefix`, keeping the newest `keep`. */
export async function commitTrainingState(
  store: ArtifactStore,
  prefix: string,
  state: TrainingState,
  configHash: string,
  keep = 2,
): Promise<CheckpointManifest> {
  const ckpt = await saveCheckpoint(state);
  const manifest = await commitCheckpoint(store, prefix, { step: state.step, configHash, files: ckpt.files });
  await pruneCheckpoints(store, prefix, keep);
  return manifest;
}

export async function loadLatestTrainingState(store: ArtifactStore, prefix: string): Promise<{ ckpt: Checkpoint; manifest: CheckpointManifest } | null> {
  const latest = await loadLatestCheckpoint(store, prefix);
  return latest ? { ckpt: checkpointFromFiles(latest.files), manifest: latest.manifest } : null;
}

export async function loadTrainingState(store: ArtifactStore, dir: string): Promise<Checkpoint> {
  return checkpointFromFiles((await loadCheckpoint(store, dir)).files);
}
