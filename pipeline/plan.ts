// The plan of an experiment: for every step, the hash of everything its
// output depends on, computed up front from the config alone (each hash folds
// in the hashes of the steps it reads). A step whose output already exists
// under its hash is skipped, so re-running or resuming never redoes finished
// work, and sweep trials share what they have in common.
import type { ArmConfig, ExperimentConfig } from '../config/schema.js';
import { hashJson } from '../storage/digest.js';
import { layout } from './layout.js';

/** Bump when a step's semantics change, so old cached outputs are not reused. */
export const PIPELINE_VERSION = 1;

export interface StepRef {
  step: string;
  hash: string;
  /** Directory key of the step's outputs in the store. */
  dir: string;
}

export interface ArmPlan {
  name: string;
  rewardMode: ArmConfig['reward_mode'];
  hash: string;
  dir: string;
  checkpoints: string;
}

export interface Timeouts {
  /** Heartbeat timeout of long activities (Temporal duration string). */
  heartbeat: string;
  /** Attempts of each activity before the run fails (transient errors are retried with backoff). */
  attempts: number;
}

export interface Plan {
  runName: string;
  storeUri: string;
  /** Task-queue prefix of the workers: `<p>` workflows, `<p>-cpu`, `<p>-gpu`. */
  taskQueue: string;
  config: ExperimentConfig;
  configHash: string;
  steps: {
    data: StepRef;
    sft: StepRef;
    rewardModel: StepRef;
    baselineShards: StepRef[];
    baselineScores: StepRef;
  };
  arms: ArmPlan[];
  timeouts: Timeouts;
  /** Sweep this run belongs to, if any (a search attribute). */
  sweep?: string;
}

function ref(step: string, parts: unknown): StepRef {
  const hash = hashJson({ v: PIPELINE_VERSION, step, parts }).slice(0, 24);
  return { step, hash, dir: layout.cacheDir(step, hash) };
}

export interface PlanArgs {
  /**
   * Identity of real data files (size, modification time or ETag), so steps
   * are recomputed when the files change; filled in by the plan activity.
   */
  dataFingerprint?: Record<string, unknown>;
  runName: string;
  storeUri: string;
  taskQueue: string;
  config: ExperimentConfig;
  timeouts?: Partial<Timeouts>;
  sweep?: string;
}

export function makePlan(args: PlanArgs): Plan {
  const c = args.config;
  const { name: _name, store: _store, backend: _backend, ...hashed } = c;
  const data = ref('data', { task: c.task, data: c.data, seed: c.seed, files: args.dataFingerprint ?? null });
  // The label noise only flips preference labels: demonstrations, prompts and the
  // tokenizer do not depend on it, so SFT and baseline samples are shared across ε.
  const noiseFree = hashJson({ task: c.task, data: { ...c.data, label_noise: null }, seed: c.seed, files: args.dataFingerprint ?? null });
  const sft = ref('sft', { data: noiseFree, model: c.model, sft: c.sft, seed: c.seed });
  const rewardModel = ref('reward-model', {
    data: data.hash,
    init: c.reward_model.init === 'sft' ? sft.hash : 'scratch',
    model: c.model,
    rm: c.reward_model,
    seed: c.seed,
  });
  const { shards, ...sampling } = c.baselines;
  const baselineShards = Array.from({ length: shards }, (_, i) =>
    ref('baselines', { data: noiseFree, sft: sft.hash, sampling, shard: i, of: shards, seed: c.seed }),
  );
  const baselineScores = ref('baseline-scores', { shards: baselineShards.map((s) => s.hash), rm: rewardModel.hash });
  const arms = c.arms.map((arm): ArmPlan => {
    const hash = hashJson({
      v: PIPELINE_VERSION,
      sft: sft.hash,
      rm: rewardModel.hash,
      baselines: arm.reward_mode === 'contrastive' ? baselineScores.hash : null,
      contrastive: arm.reward_mode === 'contrastive' ? c.reward.contrastive : null,
      reward: { clip: c.reward.clip, normalize: c.reward.normalize },
      ppo: c.ppo,
      mode: arm.reward_mode,
      seed: c.seed,
    }).slice(0, 24);
    return {
      name: arm.name,
      rewardMode: arm.reward_mode,
      hash,
      dir: layout.armDir(args.runName, arm.name),
      checkpoints: layout.armCheckpoints(args.runName, arm.name),
    };
  });
  return {
    runName: args.runName,
    storeUri: args.storeUri,
    taskQueue: args.taskQueue,
    config: c,
    configHash: hashJson(hashed),
    steps: { data, sft, rewardModel, baselineShards, baselineScores },
    arms,
    timeouts: { heartbeat: args.timeouts?.heartbeat ?? '60 seconds', attempts: args.timeouts?.attempts ?? 10 },
    sweep: args.sweep,
  };
}
