// Step 6, PPO: a block of iterations of one arm. The trainer (policy,
// reference, critic, optimizers, RNGs, β) stays in the compute host's memory
// between blocks; a block that lands elsewhere, or a retry after a crash,
// rebuilds it from the newest checkpoint and recomputes the same numbers.
import type { ArmPlan, Plan } from './plan.js';
import { testStepDelay, type StepContext, type StepProgress } from './context.js';
import type { Aggregation } from '../config/schema.js';
import { checkpointFromFiles, type Checkpoint } from '../rlhf/checkpoint.js';
import type { BaselineAggregation } from '../rlhf/contrastive.js';
import { PolicyModel, ValueModel, type RewardModel } from '../rlhf/model.js';
import { PpoTrainer, rewardModelRewardFn, type PpoConfig, type PpoMetrics } from '../rlhf/ppo.js';
import { Rng } from '../rlhf/rng.js';
import { openStore } from '../storage/index.js';
import { commitCheckpoint, listCheckpoints, loadLatestCheckpoint, pruneCheckpoints } from '../storage/checkpoint.js';
import { getJsonOrNull, putJson, putJsonl } from '../storage/json.js';
import { joinKey } from '../storage/keys.js';
import type { ArtifactStore } from '../storage/types.js';
import { getTask } from '../tasks/index.js';
import { loadData, type ExperimentData } from './data.js';
import { backendFor } from './models.js';
import type { BackendRef } from './models.js';
import { loadFrozen } from './policies.js';
import { epochBatch } from './batches.js';
import { loadBaselineTable } from './baselines.js';
import { readStepOutput } from './steps.js';
import type { SftResult } from './sft.js';
import type { RewardModelResult } from './reward-model.js';
import { layout } from './layout.js';
import { mean } from '../rlhf/stats.js';

/** One iteration's metrics as stored: the trainer's plus the gold reward of the rollouts, when the task has one. */
export type IterationMetrics = PpoMetrics & { goldMean?: number };

export const METRICS_FILE = 'metrics.json';

export interface BlockResult {
  arm: string;
  iteration: number;
  /** URI of the newest checkpoint manifest. */
  checkpoint: string;
  checkpointDir: string;
  cancelled: boolean;
  /** false when the block continued with models already in memory. */
  reloaded: boolean;
  resumedFrom: number;
  last?: Pick<IterationMetrics, 'iteration' | 'scoreMean' | 'rewardMean' | 'klMean' | 'entropyMean' | 'goldMean' | 'totalMs'>;
  backend: BackendRef;
  /** The worker's own task queue, filled in by the activity. */
  stickyQueue?: string;
}

interface Live {
  trainer: PpoTrainer;
  history: IterationMetrics[];
  checkpointDir: string;
  data: ExperimentData;
}

export function toAggregation(a: Aggregation): BaselineAggregation {
  if (typeof a === 'string') return { kind: a };
  if ('trimmed_mean' in a) return { kind: 'trimmed_mean', trim: a.trimmed_mean };
  return { kind: 'quantile', q: a.quantile };
}

export function ppoConfig(plan: Plan, arm: ArmPlan): PpoConfig {
  const p = plan.config.ppo;
  return {
    rewardMode: arm.rewardMode,
    baselineAggregation: toAggregation(plan.config.reward.contrastive.aggregation),
    baselineK: plan.config.reward.contrastive.k,
    generation: { maxNewTokens: p.max_new_tokens, temperature: p.temperature, topK: p.top_k || undefined, topP: p.top_p },
    kl: { kind: p.kl.kind, coef: p.kl.coef, target: p.kl.target, horizon: p.kl.horizon },
    klEstimator: p.kl.estimator,
    gamma: p.gamma,
    lambda: p.lambda,
    clipRange: p.clip_range,
    valueClipRange: p.value_clip,
    ppoEpochs: p.epochs,
    miniBatchSize: p.batch_prompts / p.minibatches,
    whitenAdvantages: p.whiten_advantages,
    scoreNormalization: plan.config.reward.normalize,
    rewardClip: plan.config.reward.clip,
    earlyStopApproxKl: p.target_kl_stop,
    maxGradNorm: p.grad_clip,
    policyOptim: { schedule: { peakLr: p.lr, totalSteps: 1, decay: 'constant' }, optimizer: { weightDecay: 0 } },
    valueOptim: { schedule: { peakLr: p.value_lr, totalSteps: 1, decay: 'constant' }, optimizer: { weightDecay: 0 } },
  };
}

function armOf(plan: Plan, name: string): ArmPlan {
  const arm = plan.arms.find((a) => a.name === name);
  if (!arm) throw new Error(`no arm "${name}" in the plan`);
  return arm;
}

async function buildTrainer(store: ArtifactStore, plan: Plan, arm: ArmPlan, ctx: StepContext, ckpt: Checkpoint | null): Promise<Live> {
  const data = await loadData(store, plan.steps.data.dir);
  const sft = await readStepOutput<SftResult>(store, plan.steps.sft);
  const rmOut = await readStepOutput<RewardModelResult>(store, plan.steps.rewardModel);
  if (!sft || !rmOut) throw new Error('PPO needs the SFT model and the reward model');
  const { model: sftPolicy, tokenizer } = await loadFrozen<PolicyModel>(store, sft.result.model, 'policy', ctx);
  const { model: rm } = await loadFrozen<RewardModel>(store, rmOut.result.model, 'reward', ctx);
  const policy = sftPolicy.clone();
  const reference = sftPolicy.clone();
  // By default the critic starts from the SFT trunk with a fresh head. Starting it from the reward
  // model (OpenRLHF, DeepSpeed-Chat) makes its first values predict raw scores, which are off by
  // the baseline for the contrastive arm: in the quickstart that alone cost ppo-cr 0.1 gold.
  const value = new ValueModel(rm.config, new Rng(plan.config.seed).fork('ppo.value.init'));
  if (plan.config.ppo.critic_init === 'reward_model') value.copyFrom(rm);
  else copyTrunk(sftPolicy, value);
  const trainer = new PpoTrainer({
    policy,
    reference,
    value,
    tokenizer,
    rewardFn: rewardModelRewardFn(rm),
    config: ppoConfig(plan, arm),
    // Both arms share the seed: same rollouts' randomness, everything else equal.
    seed: `${plan.config.seed}`,
    baselines: arm.rewardMode === 'contrastive' ? await loadBaselineTable(plan) : undefined,
  });
  let history: IterationMetrics[] = [];
  let checkpointDir = '';
  if (ckpt) {
    trainer.loadCheckpoint(ckpt);
    const m = ckpt.files[METRICS_FILE];
    history = m ? (JSON.parse(new TextDecoder().decode(m)) as IterationMetrics[]) : [];
    checkpointDir = String(ckpt.meta.extra?.dir ?? '');
  }
  return { trainer, history, checkpointDir, data };
}

/** Copies every weight except the heads (the policy has none; the critic keeps its fresh head). */
function copyTrunk(from: PolicyModel, to: ValueModel): void {
  for (const [name, v] of to.params) {
    const src = from.params.get(name);
    if (src && !name.startsWith('head.')) v.assign(src);
  }
}

function disposeLive(live: Live): void {
  live.trainer.dispose();
  live.trainer.policy.dispose();
  live.trainer.reference.dispose();
  live.trainer.value.dispose();
}

export async function ppoBlock(input: { plan: Plan; arm: string; until: number }, ctx: StepContext): Promise<BlockResult> {
  const { plan } = input;
  const arm = armOf(plan, input.arm);
  const store = openStore(plan.storeUri);
  const backend = await backendFor(plan.config);
  const cacheKey = `ppo:${store.root}:${plan.runName}:${arm.name}:${arm.hash}`;
  const newest = (await listCheckpoints(store, arm.checkpoints))[0];
  const lastOf = (h: IterationMetrics[]) => {
    const m = h[h.length - 1];
    return m && { iteration: m.iteration, scoreMean: m.scoreMean, rewardMean: m.rewardMean, klMean: m.klMean, entropyMean: m.entropyMean, goldMean: m.goldMean, totalMs: m.totalMs };
  };
  if (newest && newest.step >= input.until) {
    return { arm: arm.name, iteration: newest.step, checkpoint: newest.uri, checkpointDir: newest.dir, cancelled: false, reloaded: false, resumedFrom: newest.step, backend };
  }
  let live = ctx.cache.get(cacheKey) as Live | undefined;
  let reloaded = false;
  if (!live || !newest || live.checkpointDir !== newest.dir || live.trainer.iteration !== newest.step) {
    if (live) disposeLive(live);
    const loaded = newest ? await loadLatestCheckpoint(store, arm.checkpoints) : null;
    live = await buildTrainer(store, plan, arm, ctx, loaded ? checkpointFromFiles(loaded.files) : null);
    if (loaded) live.checkpointDir = loaded.manifest.dir;
    ctx.cache.set(cacheKey, live);
    reloaded = true;
  }
  const { trainer, history, data } = live;
  const task = plan.config.task === 'files' ? null : getTask(plan.config.task);
  const resumedFrom = trainer.iteration;
  let checkpointUri = newest?.uri ?? '';
  const save = async () => {
    const ckpt = await trainer.saveCheckpoint({ arm: arm.name, hash: arm.hash });
    const files = { ...ckpt.files, [METRICS_FILE]: new TextEncoder().encode(JSON.stringify(history)) };
    const m = await commitCheckpoint(store, arm.checkpoints, { step: trainer.iteration, configHash: arm.hash, files });
    await pruneCheckpoints(store, arm.checkpoints, 2);
    live!.checkpointDir = m.dir;
    checkpointUri = m.uri;
  };
  while (trainer.iteration < input.until) {
    if (ctx.signal.aborted) {
      if (live.checkpointDir === '' || trainer.iteration !== newest?.step) await save();
      return { arm: arm.name, iteration: trainer.iteration, checkpoint: checkpointUri, checkpointDir: live.checkpointDir, cancelled: true, reloaded, resumedFrom, last: lastOf(history), backend };
    }
    const batch = epochBatch(data.rlPrompts, plan.config.ppo.batch_prompts, trainer.iteration, plan.config.seed, 'ppo.prompts');
    const res = await trainer.step(batch.map((p) => ({ id: p.id, text: p.prompt })));
    const metrics: IterationMetrics = { ...res.metrics };
    if (task) metrics.goldMean = mean(res.rollouts.map((r) => task.goldReward(r.prompt, r.response)));
    history.push(metrics);
    await putJsonl(store, joinKey(arm.dir, 'rollouts', `iter-${String(metrics.iteration).padStart(6, '0')}.jsonl`), res.rollouts);
    if (trainer.iteration % plan.config.ppo.checkpoint_every === 0 || trainer.iteration === input.until) await save();
    ctx.heartbeat({
      phase: 'ppo',
      step: trainer.iteration,
      total: plan.config.ppo.iterations,
      metrics: { score: metrics.scoreMean, reward: metrics.rewardMean, kl: metrics.klMean, entropy: metrics.entropyMean, ...(metrics.goldMean !== undefined ? { gold: metrics.goldMean } : {}), msPerIter: metrics.totalMs },
      checkpoint: checkpointUri,
    } satisfies StepProgress);
    await testStepDelay('ppo');
  }
  return { arm: arm.name, iteration: trainer.iteration, checkpoint: checkpointUri, checkpointDir: live.checkpointDir, cancelled: false, reloaded, resumedFrom, last: lastOf(history), backend };
}

export interface PpoArmResult {
  arm: string;
  rewardMode: ArmPlan['rewardMode'];
  hash: string;
  iterations: number;
  /** Directory key of the final checkpoint (policy under "policy"). */
  checkpointDir: string;
  checkpoint: string;
  metrics: string;
  final: Pick<IterationMetrics, 'scoreMean' | 'rewardMean' | 'klMean' | 'entropyMean' | 'goldMean' | 'explainedVariance'> | null;
}

/** Records the arm's final checkpoint and metrics history; no tensors, so it runs in the worker itself. */
export async function finalizeArm(input: { plan: Plan; arm: string }): Promise<PpoArmResult> {
  const { plan } = input;
  const arm = armOf(plan, input.arm);
  const store = openStore(plan.storeUri);
  const existing = await getJsonOrNull<PpoArmResult>(store, layout.armOutput(plan.runName, arm.name));
  if (existing && existing.hash === arm.hash) return existing;
  const newest = (await listCheckpoints(store, arm.checkpoints))[0];
  if (!newest || newest.step < plan.config.ppo.iterations) throw new Error(`arm ${arm.name} has no final checkpoint (newest step ${newest?.step ?? 'none'})`);
  const history = JSON.parse(new TextDecoder().decode(await store.get(joinKey(newest.dir, METRICS_FILE)))) as IterationMetrics[];
  const metricsKey = joinKey(arm.dir, 'metrics.jsonl');
  await putJsonl(store, metricsKey, history);
  const last = history[history.length - 1];
  const result: PpoArmResult = {
    arm: arm.name,
    rewardMode: arm.rewardMode,
    hash: arm.hash,
    iterations: newest.step,
    checkpointDir: newest.dir,
    checkpoint: newest.uri,
    metrics: metricsKey,
    final: last ? { scoreMean: last.scoreMean, rewardMean: last.rewardMean, klMean: last.klMean, entropyMean: last.entropyMean, goldMean: last.goldMean, explainedVariance: last.explainedVariance } : null,
  };
  await putJson(store, layout.armOutput(plan.runName, arm.name), result);
  return result;
}
