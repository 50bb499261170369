// A sweep: every trial of an expanded spec as a child experiment workflow
// with a stable ID (`<sweep>/t003`), at most `maxConcurrent` experiments at
// once (a sliding window). Trials that share data, SFT, reward model and
// baselines (they differ only in PPO knobs) get those steps from one child
// that stops after baseline scoring (`<sweep>/shared-<hash>`), started before
// them, so no two trials race to compute the same step. Long sweeps continue
// as new between children, carrying the trial states. A re-run of the sweep
// (after a failure or cancel) attaches: trials that completed earlier are not
// run again, failed ones are, and their finished steps come from the cache.
import {
  ApplicationFailure,
  CancellationScope,
  ParentClosePolicy,
  allHandlersFinished,
  condition,
  continueAsNew,
  defineQuery,
  getExternalWorkflowHandle,
  isCancellation,
  log,
  patched,
  proxyActivities,
  setHandler,
  sleep,
  startChild,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import type * as sweepActivities from '../sweep/activities.js';
import {
  describeTrial,
  sharedWorkflowId,
  sweepNameFromWorkflowId,
  trialConfig,
  trialWorkflowId,
  type SweepInput,
  type SweepMetric,
} from '../sweep/trials.js';
import { experimentWorkflow, type ExperimentInput } from './experiment.js';
import { NON_RETRYABLE, queueNames } from './shared.js';

export type TrialStatus = 'pending' | 'running' | 'completed' | 'failed' | 'cancelled';
export type GroupStatus = 'pending' | 'running' | 'done' | 'failed' | 'cancelled' | 'not-needed';

/** What one workflow run hands the next across continue-as-new: small, one entry per trial and group. */
export interface SweepState {
  trials: TrialStatus[];
  groups: GroupStatus[];
  /** Trial or group index → why it failed (first line). */
  errors: Record<string, string>;
  /** Trials that an earlier execution of this sweep had completed. */
  attached: number[];
  peakRunning: number;
  /** Workflow runs of this sweep execution (1 + continue-as-new count). */
  runs: number;
  startedAt: string;
}

export interface SweepTrialStatus {
  id: string;
  workflowId: string;
  setting: string;
  params: Record<string, unknown>;
  seed: number;
  group: number;
  status: TrialStatus;
  error?: string;
  /** Completed by an earlier execution of this sweep. */
  attached?: boolean;
}

export interface SweepStatus {
  sweep: string;
  workflowId: string;
  phase: 'running' | 'continuing' | 'reporting' | 'done' | 'cancelled';
  storeUri: string;
  knobs: string[];
  metric: SweepMetric;
  maxConcurrent: number;
  /** Workflow IDs of the experiments running now (trials and shared-step runs). */
  running: string[];
  /** The most experiments that ever ran at once in this sweep. */
  peakRunning: number;
  runs: number;
  startedAt: string;
  counts: Record<TrialStatus, number>;
  trials: SweepTrialStatus[];
  groups: { workflowId: string; key: string; trials: number; status: GroupStatus; error?: string }[];
  report?: { html: string; markdown: string; data: string };
  reportError?: string;
}

export const sweepStatusQuery = defineQuery<SweepStatus>('sweepStatus');

/** Children per workflow run before continue-as-new: each adds a few events and its input and result to history. */
const DEFAULT_CHILDREN_PER_RUN = 250;

/** Sent to a trial ID that is taken, to tell a running experiment (delivered) from a closed one (fails). */
const PING = 'crlhfSweepPing';

export async function sweepWorkflow(input: SweepInput, carried?: SweepState): Promise<SweepStatus> {
  const info = workflowInfo();
  const sweep = sweepNameFromWorkflowId(info.workflowId);
  const q = queueNames(input);
  const groupSizes = input.groups.map((_, g) => input.trials.filter((t) => t.group === g).length);
  const state: SweepState = carried ?? {
    trials: input.trials.map(() => 'pending'),
    // A group of one has nobody to share with: its trial computes its own steps.
    groups: groupSizes.map((n) => (n > 1 ? 'pending' : 'not-needed')),
    errors: {},
    attached: [],
    peakRunning: 0,
    runs: 0,
    startedAt: new Date(info.startTime).toISOString(),
  };
  state.runs++;
  let phase: SweepStatus['phase'] = 'running';
  let report: SweepStatus['report'];
  let reportError: string | undefined;
  const running = new Map<string, string>(); // key (t3, g1) → workflow ID
  let changed = false;
  let launched = 0;

  const status = (): SweepStatus => {
    const counts: Record<TrialStatus, number> = { pending: 0, running: 0, completed: 0, failed: 0, cancelled: 0 };
    for (const s of state.trials) counts[s]++;
    const attached = new Set(state.attached);
    return {
      sweep,
      workflowId: info.workflowId,
      phase,
      storeUri: input.storeUri,
      knobs: input.knobs,
      metric: input.metric,
      maxConcurrent: input.maxConcurrent,
      running: [...running.values()],
      peakRunning: state.peakRunning,
      runs: state.runs,
      startedAt: state.startedAt,
      counts,
      trials: input.trials.map((t, i) => ({
        id: t.id,
        workflowId: trialWorkflowId(sweep, t.id),
        setting: input.settings[t.setting]!.id,
        params: input.settings[t.setting]!.params,
        seed: t.seed,
        group: t.group,
        status: state.trials[i]!,
        ...(state.errors[`t${i}`] ? { error: state.errors[`t${i}`] } : {}),
        ...(attached.has(i) ? { attached: true } : {}),
      })),
      groups: input.groups.map((g, i) => ({
        workflowId: sharedWorkflowId(sweep, g),
        key: g.key,
        trials: groupSizes[i]!,
        status: state.groups[i]!,
        ...(state.errors[`g${i}`] ? { error: state.errors[`g${i}`] } : {}),
      })),
      ...(report ? { report } : {}),
      ...(reportError ? { reportError } : {}),
    };
  };
  setHandler(sweepStatusQuery, status);
  if (state.runs === 1) {
    upsertSearchAttributes({ CrlhfKind: ['sweep'], CrlhfSweep: [sweep], CrlhfTask: [input.base.task] });
  }

  const experimentInput = (runName: string, config: ExperimentInput['config'], header: string, stopAfter?: 'baseline_scoring'): ExperimentInput => ({
    runName,
    storeUri: input.storeUri,
    taskQueue: input.taskQueue,
    config,
    configSource: `# ${header}\n${input.specSource}`,
    ...(input.timeouts ? { timeouts: input.timeouts } : {}),
    sweep,
    ...(stopAfter ? { stopAfter } : {}),
  });

  /**
   * Runs a child experiment to its end. Its ID may be taken by an earlier
   * execution of this sweep: a completed one is not run again ('attached'),
   * a running one is waited for, a failed or cancelled one is started again.
   */
  const runExperiment = async (workflowId: string, args: ExperimentInput): Promise<'ran' | 'attached'> => {
    for (;;) {
      let handle;
      try {
        handle = await startChild(experimentWorkflow, {
          workflowId,
          args: [args],
          taskQueue: q.workflow,
          workflowIdReusePolicy: 'ALLOW_DUPLICATE_FAILED_ONLY',
          parentClosePolicy: ParentClosePolicy.REQUEST_CANCEL,
          searchAttributes: {
            CrlhfKind: ['experiment'],
            CrlhfExperiment: [args.runName],
            CrlhfTask: [args.config.task],
            CrlhfSweep: [sweep],
          },
        });
      } catch (err) {
        if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
        try {
          await getExternalWorkflowHandle(workflowId).signal(PING);
        } catch (pingErr) {
          if (isCancellation(pingErr)) throw pingErr;
          return 'attached'; // closed, and not failed (those may start again): it completed
        }
        await sleep('10 seconds');
        continue;
      }
      await handle.result();
      return 'ran';
    }
  };

  const firstLine = (err: unknown): string => {
    let e = err as { message?: string; cause?: unknown } | undefined;
    // A child's failure wraps the experiment's own error: report the innermost cause.
    while (e && typeof e === 'object' && e.cause && typeof e.cause === 'object') e = e.cause as typeof e;
    return String(e?.message ?? err).split('\n')[0]!.slice(0, 300);
  };

  const launch = (key: string, workflowId: string, work: () => Promise<void>) => {
    running.set(key, workflowId);
    state.peakRunning = Math.max(state.peakRunning, running.size);
    launched++;
    void work().finally(() => {
      running.delete(key);
      changed = true;
    });
  };

  const launchGroup = (g: number) => {
    const group = input.groups[g]!;
    const first = input.trials.find((t) => t.group === g)!;
    const workflowId = sharedWorkflowId(sweep, group);
    state.groups[g] = 'running';
    const config = trialConfig(input, first, sweep);
    config.name = workflowId.replace(/\//g, '.').slice(0, 100);
    launch(`g${g}`, workflowId, async () => {
      try {
        await runExperiment(workflowId, experimentInput(workflowId, config, `shared steps of sweep ${sweep} (baseline scores ${group.key})`, 'baseline_scoring'));
        state.groups[g] = 'done';
      } catch (err) {
        state.groups[g] = isCancellation(err) ? 'cancelled' : 'failed';
        state.errors[`g${g}`] = firstLine(err);
        if (state.groups[g] === 'failed') log.warn('shared steps failed', { sweep, group: group.key, error: state.errors[`g${g}`] });
      }
    });
  };

  const launchTrial = (i: number) => {
    const trial = input.trials[i]!;
    const workflowId = trialWorkflowId(sweep, trial.id);
    state.trials[i] = 'running';
    launch(`t${i}`, workflowId, async () => {
      try {
        const how = await runExperiment(
          workflowId,
          experimentInput(workflowId, trialConfig(input, trial, sweep), `trial ${trial.id} of sweep ${sweep}: ${describeTrial(input, trial)}`),
        );
        state.trials[i] = 'completed';
        if (how === 'attached') state.attached.push(i);
      } catch (err) {
        state.trials[i] = isCancellation(err) ? 'cancelled' : 'failed';
        state.errors[`t${i}`] = firstLine(err);
      }
    });
  };

  /**
   * The SFT hash of a running experiment that computes shared steps itself (a
   * shared-step run, or the trial of a group of one). Two of those with the same
   * SFT must not run at once: groups that differ only in the label noise share
   * SFT and baseline samples, and both would compute them.
   */
  const prefixOf = (key: string): string | undefined => {
    const n = Number(key.slice(1));
    if (key.startsWith('g')) return input.groups[n]!.sft;
    const g = input.trials[n]!.group;
    return state.groups[g] === 'not-needed' ? input.groups[g]!.sft : undefined;
  };
  // Sweeps started before this rule replay without it (their histories launched without waiting).
  const serializePrefixes = patched('sweep-sft-prefix');
  const prefixBusy = (sft: string) => serializePrefixes && [...running.keys()].some((k) => prefixOf(k) === sft);

  /** The next experiment to start: shared steps first, then trials whose shared steps are ready. */
  const next = (): (() => void) | undefined => {
    for (const [g, gs] of state.groups.entries()) {
      if (gs === 'pending' && !prefixBusy(input.groups[g]!.sft)) return () => launchGroup(g);
    }
    for (const [i, s] of state.trials.entries()) {
      if (s !== 'pending') continue;
      const group = input.trials[i]!.group;
      const gs = state.groups[group]!;
      if (gs === 'done') return () => launchTrial(i);
      if (gs === 'not-needed' && !prefixBusy(input.groups[group]!.sft)) return () => launchTrial(i);
      if (gs === 'failed' || gs === 'cancelled') {
        state.trials[i] = 'failed';
        state.errors[`t${i}`] = `shared steps failed: ${state.errors[`g${group}`] ?? gs}`;
      }
    }
    return undefined;
  };

  const perRun = input.childrenPerRun ?? DEFAULT_CHILDREN_PER_RUN;
  const unfinished = () => state.trials.some((s) => s === 'pending' || s === 'running');
  try {
    for (;;) {
      const continuing = launched >= perRun || workflowInfo().continueAsNewSuggested;
      if (continuing) phase = 'continuing';
      while (!continuing && (!serializePrefixes || launched < perRun) && running.size < input.maxConcurrent) {
        const start = next();
        if (!start) break;
        start();
      }
      if (running.size === 0) {
        if (!unfinished()) break;
        if (continuing) {
          // Every child has finished: nothing of this run needs to be awaited by the next.
          await condition(allHandlersFinished);
          await continueAsNew<typeof sweepWorkflow>(input, state);
        }
        if (!next()) {
          if (!unfinished()) break; // the last pending trials belonged to groups that failed
          throw ApplicationFailure.nonRetryable(`sweep ${sweep}: trials are pending but none can start`, 'SweepStuck');
        }
        continue;
      }
      changed = false;
      await condition(() => changed);
    }
  } catch (err) {
    if (isCancellation(err)) {
      phase = 'cancelled';
      // Children get the cancellation too; wait until each has stopped (PPO arms checkpoint first).
      await CancellationScope.nonCancellable(() => condition(() => running.size === 0));
      for (const [i, s] of state.trials.entries()) if (s === 'pending') state.trials[i] = 'cancelled';
    }
    throw err;
  }

  if (input.report !== false) {
    phase = 'reporting';
    const { writeSweepReport } = proxyActivities<typeof sweepActivities>({
      taskQueue: q.cpu,
      startToCloseTimeout: '15 minutes',
      retry: { initialInterval: '2 seconds', maximumAttempts: 3, nonRetryableErrorTypes: NON_RETRYABLE },
    });
    try {
      report = await writeSweepReport(status());
    } catch (err) {
      // The report can always be made later (`crlhf sweep report`); the trials are what the sweep is for.
      reportError = firstLine(err);
      log.warn('sweep report not written', { sweep, error: reportError });
    }
  }
  phase = 'done';
  return status();
}
