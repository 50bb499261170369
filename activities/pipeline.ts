// The experiment's activities: thin wrappers over pipeline/ steps. Tensor
// work runs in a compute host (computePool().runJob); the rest runs here.
// Every activity reads its inputs from the store and returns small
// references and metrics, never tensors or large arrays.
import { Context } from '@temporalio/activity';
import { openObject, openStore } from '../storage/index.js';
import { getJson } from '../storage/json.js';
import { makePlan, type Plan, type PlanArgs } from '../pipeline/plan.js';
import { recordRun } from '../pipeline/run-record.js';
import { prepareData, type DataResult } from '../pipeline/data.js';
import { cachedStep } from '../pipeline/steps.js';
import type { StepContext } from '../pipeline/context.js';
import type { SftResult } from '../pipeline/sft.js';
import type { RewardModelResult } from '../pipeline/reward-model.js';
import type { BaselineScoresResult, ShardResult } from '../pipeline/baselines.js';
import { finalizeArm as finalizeArmStep, type BlockResult, type PpoArmResult } from '../pipeline/ppo.js';
import type { GeneratedEval } from '../pipeline/evaluate.js';
import { judgeArms, type EvaluationResult } from '../pipeline/judging.js';
import { writeReport, type HumanVotes, type ReportRef } from '../pipeline/report.js';
import { humanPairsKey } from '../pipeline/judging.js';
import type { JudgePair } from '../judges/types.js';
import type { HumanPair } from '../workflows/human-eval.js';
import { summarize, type ExperimentSummary } from '../pipeline/summary.js';
import { computePool, keepAlive } from './compute-pool.js';
import { stickyQueue } from './worker-info.js';

export type { BlockResult, PpoArmResult, ExperimentSummary };

/** What a step activity returns: the step's identity, whether it was reused, and its small result. */
export interface StepSummary<R> {
  step: string;
  hash: string;
  reused: boolean;
  seconds: number;
  result: R;
}

function summary<R>(out: { step: string; hash: string; reused: boolean; computedBy: { seconds: number }; result: R }): StepSummary<R> {
  return { step: out.step, hash: out.hash, reused: out.reused, seconds: out.computedBy.seconds, result: out.result };
}

const workerCache = new Map<string, unknown>();

/**
 * Runs an in-worker activity body while heartbeating, so a worker that dies
 * during a short step is noticed within the heartbeat timeout, not after the
 * start-to-close timeout.
 */
async function live<T>(fn: () => Promise<T>): Promise<T> {
  const stop = keepAlive(Context.current());
  try {
    return await fn();
  } finally {
    stop();
  }
}

/** A StepContext over the current activity, for steps that run in the worker itself. */
function activityContext(): StepContext {
  const ctx = Context.current();
  return {
    heartbeatDetails: ctx.info.heartbeatDetails,
    attempt: ctx.info.attempt,
    signal: ctx.cancellationSignal,
    heartbeat: (d) => ctx.heartbeat(d),
    log: (msg, fields) => ctx.log.info(msg, fields),
    cache: workerCache,
  };
}

export async function planExperiment(input: PlanArgs & { configSource: string }): Promise<Plan> {
  return live(async () => {
    const plan = makePlan({ ...input, dataFingerprint: await dataFingerprint(input.config) });
    await recordRun(plan, input.configSource);
    return plan;
  });
}

/** Size and modification time of real data files: changed files mean new steps. */
async function dataFingerprint(config: Plan['config']): Promise<Record<string, unknown> | undefined> {
  const files = config.data.files;
  if (!files) return undefined;
  const out: Record<string, unknown> = {};
  for (const uri of [files.preferences, files.sft]) {
    if (!uri) continue;
    const { store, key } = openObject(uri);
    const head = await store.head(key);
    out[uri] = head ? { size: head.size, modified: head.lastModified?.toISOString() ?? null } : null;
  }
  return out;
}

export async function prepareDataStep(plan: Plan): Promise<StepSummary<DataResult>> {
  return live(async () => {
    const store = openStore(plan.storeUri);
    const ref = plan.steps.data;
    return summary(await cachedStep(store, plan.runName, ref, Context.current().info.attempt, () => prepareData(store, ref.dir, plan.config)));
  });
}

type Cached<R> = { step: string; hash: string; reused: boolean; computedBy: { seconds: number }; result: R };

export async function trainSftStep(plan: Plan): Promise<StepSummary<SftResult>> {
  return summary(await computePool().runJob<Cached<SftResult>>('trainSft', { plan }));
}

export async function trainRewardModelStep(plan: Plan): Promise<StepSummary<RewardModelResult>> {
  return summary(await computePool().runJob<Cached<RewardModelResult>>('trainRewardModel', { plan }));
}

export async function sampleBaselineShardStep(input: { plan: Plan; shard: number }): Promise<StepSummary<ShardResult>> {
  return summary(await computePool().runJob<Cached<ShardResult>>('sampleBaselineShard', input));
}

export async function scoreBaselinesStep(plan: Plan): Promise<StepSummary<BaselineScoresResult>> {
  return summary(await computePool().runJob<Cached<BaselineScoresResult>>('scoreBaselines', { plan }));
}

export async function ppoBlock(input: { plan: Plan; arm: string; until: number }): Promise<BlockResult> {
  const res = await computePool().runJob<BlockResult>('ppoBlock', input, { affinity: `ppo:${input.plan.runName}:${input.arm}` });
  return { ...res, stickyQueue: stickyQueue() };
}

export async function finalizeArm(input: { plan: Plan; arm: string }): Promise<PpoArmResult> {
  return live(() => finalizeArmStep(input));
}

export async function evaluateStep(plan: Plan): Promise<StepSummary<EvaluationResult>> {
  const t0 = Date.now();
  const generated = await computePool().runJob<GeneratedEval>('generateEval', { plan });
  const result = await judgeArms(plan, generated, activityContext());
  return { step: 'evaluation', hash: '', reused: false, seconds: (Date.now() - t0) / 1000, result };
}

/** The pairs chosen for human judging (a few dozen short texts: small enough for a workflow input). */
export async function loadHumanPairs(plan: Plan): Promise<HumanPair[]> {
  return live(async () => {
    const pairs = await getJson<JudgePair[]>(openStore(plan.storeUri), humanPairsKey(plan));
    return pairs.map((p) => ({ pairId: p.pairId, prompt: p.prompt, responseA: p.responseA, responseB: p.responseB, armA: p.armA, armB: p.armB, bucket: String(p.meta?.bucket ?? '') }));
  });
}

export async function reportStep(input: { plan: Plan; human?: HumanVotes }): Promise<StepSummary<ReportRef>> {
  return live(async () => {
    const { plan } = input;
    const t0 = Date.now();
    const result = await writeReport(plan, { workflowId: Context.current().info.workflowExecution?.workflowId ?? plan.runName, human: input.human });
    return { step: 'report', hash: '', reused: false, seconds: (Date.now() - t0) / 1000, result };
  });
}

export async function summarizeRun(input: { plan: Plan; arms: PpoArmResult[]; evaluation: EvaluationResult; report: ReportRef }): Promise<ExperimentSummary> {
  return live(() => summarize(input));
}
