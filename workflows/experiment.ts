// An experiment, in the order of the method: data → SFT → reward model →
// offline baselines (sampled in parallel shards, then scored) → one PPO child
// workflow per arm → evaluation → report. Each step's activity skips work
// whose output already exists for the same inputs, so re-running a run (or
// `crlhf resume`) continues where it stopped.
import {
  ParentClosePolicy,
  defineQuery,
  executeChild,
  proxyActivities,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type * as activities from '../activities/pipeline.js';
import type { ExperimentSummary, StepSummary } from '../activities/pipeline.js';
import type { PlanArgs } from '../pipeline/plan.js';
import { ppoWorkflow } from './ppo.js';
import { collectHumanVotes } from './human-eval.js';
import { NON_RETRYABLE, queueNames } from './shared.js';

export const STAGES = ['plan', 'data', 'sft', 'reward_model', 'baselines', 'baseline_scoring', 'ppo', 'evaluation', 'report'] as const;
export type Stage = (typeof STAGES)[number] | 'human_evaluation' | 'done';

export interface StageStatus {
  name: (typeof STAGES)[number];
  status: 'pending' | 'running' | 'done' | 'reused';
  seconds?: number;
}

export interface ExperimentProgress {
  run: string;
  stage: Stage;
  stages: StageStatus[];
  arms: { name: string; workflowId: string }[];
  startedAt: string;
}

export const experimentProgressQuery = defineQuery<ExperimentProgress>('progress');

export interface ExperimentInput extends PlanArgs {
  /** The config file as written, kept in the run record. */
  configSource: string;
  /**
   * Stop after this stage (a sweep prepares the steps its trials share this
   * way); the result is then null.
   */
  stopAfter?: 'baseline_scoring';
}

export function ppoWorkflowId(run: string, arm: string): string {
  return `${run}/ppo/${arm}`;
}

export function humanEvalWorkflowId(run: string): string {
  return `${run}/human-eval`;
}

export async function experimentWorkflow(input: ExperimentInput): Promise<ExperimentSummary | null> {
  const q = queueNames(input);
  const retry = { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute', maximumAttempts: input.timeouts?.attempts ?? 10, nonRetryableErrorTypes: NON_RETRYABLE };
  const light = proxyActivities<typeof activities>({ taskQueue: q.cpu, startToCloseTimeout: '30 minutes', heartbeatTimeout: input.timeouts?.heartbeat ?? '60 seconds', retry });
  // Tensor work (training, sampling, scoring) goes where compute hosts are, so a worker takes no more than it can run.
  const tensor = proxyActivities<typeof activities>({ taskQueue: q.gpu, startToCloseTimeout: '6 hours', heartbeatTimeout: input.timeouts?.heartbeat ?? '60 seconds', retry });

  const progress: ExperimentProgress = {
    run: input.runName,
    stage: 'plan',
    stages: STAGES.map((name) => ({ name, status: 'pending' })),
    arms: input.config.arms.map((a) => ({ name: a.name, workflowId: ppoWorkflowId(input.runName, a.name) })),
    startedAt: new Date(workflowInfo().startTime).toISOString(),
  };
  setHandler(experimentProgressQuery, () => progress);

  const stage = async <T>(name: (typeof STAGES)[number], run: () => Promise<T>): Promise<T> => {
    progress.stage = name;
    const s = progress.stages.find((x) => x.name === name)!;
    s.status = 'running';
    const out = await run();
    const steps = (Array.isArray(out) ? out : [out]) as Partial<StepSummary<unknown>>[];
    s.status = steps.length > 0 && steps.every((x) => x?.reused === true) ? 'reused' : 'done';
    const secs = steps.map((x) => x?.seconds).filter((x): x is number => typeof x === 'number');
    if (secs.length) s.seconds = Math.max(...secs);
    return out;
  };

  const plan = await stage('plan', () => light.planExperiment(input));
  upsertSearchAttributes({ CrlhfKind: ['experiment'], CrlhfExperiment: [plan.runName], CrlhfTask: [plan.config.task], ...(plan.sweep ? { CrlhfSweep: [plan.sweep] } : {}) });

  await stage('data', () => light.prepareDataStep(plan));
  await stage('sft', () => tensor.trainSftStep(plan));
  await stage('reward_model', () => tensor.trainRewardModelStep(plan));
  await stage('baselines', () => Promise.all(plan.steps.baselineShards.map((_, shard) => tensor.sampleBaselineShardStep({ plan, shard }))));
  await stage('baseline_scoring', () => tensor.scoreBaselinesStep(plan));
  if (input.stopAfter === 'baseline_scoring') {
    progress.stage = 'done';
    return null;
  }
  const arms = await stage('ppo', () =>
    Promise.all(
      plan.arms.map((arm) =>
        executeChild(ppoWorkflow, {
          workflowId: ppoWorkflowId(plan.runName, arm.name),
          args: [{ plan, arm: arm.name }],
          taskQueue: q.workflow,
          parentClosePolicy: ParentClosePolicy.REQUEST_CANCEL,
          searchAttributes: {
            CrlhfKind: ['ppo'],
            CrlhfExperiment: [plan.runName],
            CrlhfTask: [plan.config.task],
            CrlhfArm: [arm.name],
            ...(plan.sweep ? { CrlhfSweep: [plan.sweep] } : {}),
          },
        }),
      ),
    ),
  );
  const evaluation = await stage('evaluation', () => tensor.evaluateStep(plan));
  const humanCfg = plan.config.evaluation.judges.includes('human') ? plan.config.evaluation.human : undefined;
  let human: { votes: Awaited<ReturnType<typeof collectHumanVotes>>['judgments']; annotators: string[] } | undefined;
  if (humanCfg && humanCfg.quota > 0) {
    // Votes arrive as Updates to the human-eval workflow (`crlhf annotate <run>`); the report waits for the quota or the timeout.
    progress.stage = 'human_evaluation';
    const pairs = await light.loadHumanPairs(plan);
    const res = await collectHumanVotes(
      { runName: plan.runName, pairs, annotators: humanCfg.annotators, quota: humanCfg.quota, seed: String(plan.config.seed) },
      { workflowId: humanEvalWorkflowId(plan.runName), quotaTimeout: humanCfg.timeout },
    );
    human = { votes: res.judgments, annotators: humanCfg.annotators };
  }
  const report = await stage('report', () => light.reportStep({ plan, human }));
  progress.stage = 'done';
  return light.summarizeRun({ plan, arms, evaluation: evaluation.result, report: report.result });
}
