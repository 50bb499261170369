// What `crlhf sweep run|status|report|cancel|list` do: start a sweep from a
// spec (or attach to it), a table of its trials with their state and key
// metrics, the aggregate report across seeds, cancellation. The functions
// that take a Temporal client are what tests drive; cli/sweep.ts wires the
// commands to commander and loads this module when one runs.
import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Client, WorkflowHandle } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import { table } from '../cli/table.js';
import { NotFoundError, UsageError } from '../common/errors.js';
import { queues } from '../common/temporal.js';
import { loadSweep, sweepInput, type ExpandedSweep } from '../config/sweep.js';
import { aggregateSweep, loadTrialSummaries, metricLabel, metricValue, renderSweepReport, writeSweepReportFiles } from '../pipeline/sweep-report.js';
import type { ExperimentSummary } from '../pipeline/summary.js';
import { openStore, toUri } from '../storage/index.js';
import { describeTrial, formatValue, sweepNameFromWorkflowId, trialWorkflowId, sharedWorkflowId, type SweepInput } from './trials.js';
import type { SweepStatus, TrialStatus } from '../workflows/sweep.js';
import { openContext, workflowUiLink } from '../cli/context.js';
import { parseOverrides, spawnBackgroundWorker } from '../cli/run.js';

const say = (msg: string) => process.stderr.write(`${msg}\n`);

export interface SweepRunOptions {
  name?: string;
  set?: string[];
  detach?: boolean;
  json?: boolean;
  dryRun?: boolean;
}

/** Loads and validates a spec and makes the workflow input; the store is the base config's, else the default. */
export async function prepareSweep(
  file: string,
  opts: Pick<SweepRunOptions, 'name' | 'set'>,
  where: { storeUri: string; taskQueue: string },
): Promise<{ expanded: ExpandedSweep; input: SweepInput }> {
  const expanded = await loadSweep(file, { name: opts.name, set: parseOverrides(opts.set) });
  const input = sweepInput(expanded, {
    storeUri: expanded.base.store ? toUri(expanded.base.store) : where.storeUri,
    taskQueue: where.taskQueue,
    heartbeat: process.env.CRLHF_HEARTBEAT_TIMEOUT ?? '60 seconds',
  });
  return { expanded, input };
}

async function describeOrNull(client: Client, id: string) {
  try {
    return await client.workflow.getHandle(id).describe();
  } catch (err) {
    if ((err as Error).name === 'WorkflowNotFoundError') return null;
    throw err;
  }
}

/** The first argument the latest run of a workflow was started with (survives continue-as-new). */
export async function workflowInput<T>(client: Client, workflowId: string): Promise<T> {
  const history = await client.workflow.getHandle(workflowId).fetchHistory();
  const payload = history.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads?.[0];
  if (!payload) throw new NotFoundError(`workflow "${workflowId}" has no recorded input`);
  return defaultPayloadConverter.fromPayload(payload as never) as T;
}

export type StartOutcome = 'started' | 'attached' | 'restarted' | 'completed';

/**
 * Starts the sweep, or attaches to it when it runs. A completed sweep is
 * shown, not run again; a failed or cancelled one is started again under the
 * same ID: its completed trials are kept, the others run (from cached steps).
 */
export async function startSweep(client: Client, input: SweepInput): Promise<{ handle: WorkflowHandle; outcome: StartOutcome }> {
  const id = input.name;
  const existing = await describeOrNull(client, id);
  if (existing) {
    const prev = await workflowInput<SweepInput>(client, id);
    if (prev.specHash !== input.specHash) {
      throw new UsageError(`sweep "${id}" already exists with a different spec (other trials or configs); give this one another name with --name`);
    }
    if (existing.status.name === 'RUNNING') return { handle: client.workflow.getHandle(id), outcome: 'attached' };
    if (existing.status.name === 'COMPLETED') return { handle: client.workflow.getHandle(id), outcome: 'completed' };
  }
  const handle = await client.workflow.start('sweepWorkflow', {
    taskQueue: queues(input.taskQueue).workflow,
    workflowId: id,
    args: [input],
    workflowIdConflictPolicy: 'USE_EXISTING',
    workflowIdReusePolicy: 'ALLOW_DUPLICATE',
    searchAttributes: { CrlhfKind: ['sweep'], CrlhfSweep: [id], CrlhfTask: [input.base.task] },
  });
  return { handle, outcome: existing ? 'restarted' : 'started' };
}

/** A sweep's workflow ID from its ID or its name (a scheduled sweep's name has no ':' in its time). */
export async function resolveSweepId(client: Client, idOrName: string): Promise<string> {
  if (await describeOrNull(client, idOrName)) return idOrName;
  for await (const wf of client.workflow.list({ query: `CrlhfKind = 'sweep' AND CrlhfSweep = '${idOrName.replace(/'/g, '')}'` })) return wf.workflowId;
  throw new NotFoundError(`no sweep named "${idOrName}"`);
}

const VISIBILITY_STATUS: Record<string, TrialStatus> = {
  RUNNING: 'running',
  COMPLETED: 'completed',
  FAILED: 'failed',
  CANCELLED: 'cancelled',
  TERMINATED: 'cancelled',
  TIMED_OUT: 'failed',
  CONTINUED_AS_NEW: 'running',
};

/**
 * The sweep's trials and their state: from the workflow while it runs, its
 * result when it completed, and otherwise its input plus the trials' own
 * workflow states (a failed or cancelled sweep answers no query without a worker).
 */
export async function sweepStatus(client: Client, idOrName: string): Promise<{ status: SweepStatus; workflowStatus: string }> {
  const id = await resolveSweepId(client, idOrName);
  const handle = client.workflow.getHandle(id);
  const desc = await handle.describe();
  const ws = desc.status.name;
  if (ws === 'COMPLETED') return { status: (await handle.result()) as SweepStatus, workflowStatus: ws };
  if (ws === 'RUNNING') {
    try {
      return { status: await handle.query<SweepStatus>('sweepStatus'), workflowStatus: ws };
    } catch {
      // No worker has answered yet (e.g. the first task is not processed): fall back to visibility.
    }
  }
  const input = await workflowInput<SweepInput>(client, id);
  const sweep = sweepNameFromWorkflowId(id);
  const seen = new Map<string, TrialStatus>();
  for await (const wf of client.workflow.list({ query: `CrlhfSweep = '${sweep}' AND CrlhfKind = 'experiment'` })) {
    // Newest first: keep the latest execution of each ID.
    if (!seen.has(wf.workflowId)) seen.set(wf.workflowId, VISIBILITY_STATUS[wf.status.name] ?? 'failed');
  }
  const trials = input.trials.map((t) => {
    const workflowId = trialWorkflowId(sweep, t.id);
    const s = input.settings[t.setting]!;
    // A closed sweep starts nothing more: its unstarted trials did not run.
    const status: TrialStatus = seen.get(workflowId) ?? (ws === 'RUNNING' ? 'pending' : 'cancelled');
    return { id: t.id, workflowId, setting: s.id, params: s.params, seed: t.seed, group: t.group, status };
  });
  const counts: Record<TrialStatus, number> = { pending: 0, running: 0, completed: 0, failed: 0, cancelled: 0 };
  for (const t of trials) counts[t.status]++;
  const groupSizes = input.groups.map((_, g) => input.trials.filter((t) => t.group === g).length);
  return {
    workflowStatus: ws,
    status: {
      sweep,
      workflowId: id,
      phase: ws === 'RUNNING' ? 'running' : ws === 'CANCELLED' || ws === 'TERMINATED' ? 'cancelled' : 'done',
      storeUri: input.storeUri,
      knobs: input.knobs,
      metric: input.metric,
      maxConcurrent: input.maxConcurrent,
      running: trials.filter((t) => t.status === 'running').map((t) => t.workflowId),
      peakRunning: 0,
      runs: 0,
      startedAt: desc.startTime.toISOString(),
      counts,
      trials: [...trials],
      groups: input.groups.map((g, i) => {
        const workflowId = sharedWorkflowId(sweep, g);
        const st = seen.get(workflowId);
        return { workflowId, key: g.key, trials: groupSizes[i]!, status: groupSizes[i]! < 2 ? 'not-needed' : st === 'completed' ? 'done' : st === 'running' ? 'running' : st ?? 'pending' };
      }),
    },
  };
}

/** Summaries of completed trials from the store (empty when the store cannot be read from here). */
async function summariesOf(status: SweepStatus): Promise<Map<string, ExperimentSummary>> {
  try {
    return await loadTrialSummaries(openStore(status.storeUri), status);
  } catch (err) {
    say(`cannot read trial results from ${status.storeUri}: ${(err as Error).message}`);
    return new Map();
  }
}

const num = (x: number | null | undefined) => (x === null || x === undefined || !Number.isFinite(x) ? '-' : Number(x.toPrecision(3)).toString());

export function sweepStatusTable(status: SweepStatus, summaries: Map<string, ExperimentSummary>): string {
  const arms = [...new Set([...summaries.values()].flatMap((s) => s.arms.filter((a) => a.goldMean !== null).map((a) => a.name)))];
  const t = table(['trial', ...status.knobs, 'seed', 'state', metricLabel(status.metric), ...arms.map((a) => `gold ${a}`)]);
  for (const tr of status.trials) {
    const s = summaries.get(tr.id);
    t.push([
      tr.id,
      ...status.knobs.map((k) => formatValue(tr.params[k])),
      String(tr.seed),
      tr.status + (tr.attached ? ' (earlier)' : '') + (tr.error ? `: ${tr.error.slice(0, 60)}` : ''),
      s ? num(metricValue(s, status.metric)) : '',
      ...arms.map((a) => (s ? num(s.arms.find((x) => x.name === a)?.goldMean) : '')),
    ]);
  }
  return t.toString();
}

function countsLine(s: SweepStatus): string {
  const c = s.counts;
  const total = s.trials.length;
  const shared = s.groups.filter((g) => g.status === 'running').length;
  return `sweep ${s.sweep}: ${c.completed}/${total} completed, ${c.running} running${shared ? ` (+${shared} shared-step runs)` : ''}, ${c.failed} failed${c.cancelled ? `, ${c.cancelled} cancelled` : ''}, ${c.pending} pending`;
}

export function printSweepStatus(status: SweepStatus, summaries: Map<string, ExperimentSummary>, workflowStatus: string): void {
  console.log(`${countsLine(status)} (workflow ${status.workflowId}: ${workflowStatus}, at most ${status.maxConcurrent} at once${status.peakRunning ? `, peak ${status.peakRunning}` : ''})`);
  console.log(sweepStatusTable(status, summaries));
  if (status.report) console.log(`report: ${status.report.html}`);
}

/** Prints a line whenever the counts change, until the sweep closes. */
export async function followSweep(client: Client, handle: WorkflowHandle, print: (line: string) => void = say): Promise<SweepStatus> {
  let finished = false;
  const result = handle.result().finally(() => (finished = true));
  let last = '';
  while (!finished) {
    try {
      const s = await handle.query<SweepStatus>('sweepStatus');
      const line = countsLine(s);
      if (line !== last) print(`[${new Date().toISOString().slice(11, 19)}] ${line}`);
      last = line;
    } catch {
      // Between workflow tasks a query can fail; ask again.
    }
    for (let i = 0; i < 20 && !finished; i++) await new Promise((r) => setTimeout(r, 100));
  }
  return (await result) as SweepStatus;
}

export async function sweepRunCommand(file: string, opts: SweepRunOptions): Promise<SweepStatus | undefined> {
  if (opts.dryRun) {
    const { expanded } = await prepareSweep(file, opts, { storeUri: 'file:///dry-run', taskQueue: 'dry-run' });
    printPlan(expanded);
    return undefined;
  }
  const ctx = await openContext({ worker: !opts.detach, say });
  try {
    const { expanded, input } = await prepareSweep(file, opts, { storeUri: ctx.storeUri, taskQueue: ctx.settings.taskQueue });
    if (expanded.trials.length < expanded.total) say(`run_cap: running ${expanded.trials.length} of ${expanded.total} trials`);
    if (expanded.duplicates) say(`random search drew ${expanded.duplicates} setting(s) twice; each runs once`);
    const { handle, outcome } = await startSweep(ctx.client, input);
    const shared = input.groups.filter((_, g) => input.trials.filter((t) => t.group === g).length > 1).length;
    say(
      {
        started: `sweep ${handle.workflowId}: ${input.trials.length} trials (${input.settings.length} settings × seeds), ${shared} shared-step run(s), at most ${input.maxConcurrent} at once`,
        attached: `sweep ${handle.workflowId} is running; attaching`,
        restarted: `sweep ${handle.workflowId} ended earlier without completing; starting it again: completed trials are kept, finished steps reused`,
        completed: `sweep ${handle.workflowId} already completed; showing its result (use --name for a new sweep)`,
      }[outcome],
    );
    const ui = workflowUiLink(ctx, handle.workflowId);
    if (ui) say(`Web UI: ${ui}`);
    if (opts.detach) {
      if (ctx.embedded && outcome !== 'completed') spawnBackgroundWorker(handle.workflowId);
      say(`detached; follow with: crlhf sweep status ${handle.workflowId}`);
      if (opts.json) console.log(JSON.stringify({ sweep: handle.workflowId, outcome, trials: input.trials.length, ui }));
      return undefined;
    }
    const status = await followSweep(ctx.client, handle);
    const summaries = await summariesOf(status);
    if (opts.json) console.log(JSON.stringify(withMetrics(status, summaries), null, 2));
    else printSweepStatus(status, summaries, 'COMPLETED');
    if (status.counts.failed + status.counts.cancelled > 0) process.exitCode = 1;
    return status;
  } finally {
    await ctx.close();
  }
}

function printPlan(s: ExpandedSweep): void {
  const t = table(['trial', ...s.knobs, 'seed', 'shared steps']);
  for (const tr of s.trials) t.push([tr.id, ...s.knobs.map((k) => formatValue(s.settings[tr.setting]!.params[k])), String(tr.seed), `g${tr.group} (${s.groups[tr.group]!.key.slice(0, 12)})`]);
  console.log(t.toString());
  console.log(
    `${s.trials.length} trials${s.trials.length < s.total ? ` (run_cap; ${s.total} in all)` : ''}, ${s.settings.length} settings, ${s.groups.length} distinct SFT/reward-model/baseline sets, at most ${s.maxConcurrent} at once; ranked by ${metricLabel(s.metric)}`,
  );
  for (const tr of s.trials.slice(0, 1)) console.log(`e.g. ${tr.id}: ${describeTrial(s, tr)}`);
}

function withMetrics(status: SweepStatus, summaries: Map<string, ExperimentSummary>) {
  return {
    ...status,
    trials: status.trials.map((t) => {
      const s = summaries.get(t.id);
      return { ...t, metric: s ? metricValue(s, status.metric) : null, summary: s ?? null };
    }),
  };
}

export async function sweepStatusCommand(idOrName: string, opts: { json?: boolean }): Promise<void> {
  const ctx = await openContext({ say });
  try {
    const { status, workflowStatus } = await sweepStatus(ctx.client, idOrName);
    const summaries = await summariesOf(status);
    if (opts.json) console.log(JSON.stringify({ workflowStatus, ...withMetrics(status, summaries) }, null, 2));
    else printSweepStatus(status, summaries, workflowStatus);
  } finally {
    await ctx.close();
  }
}

/** Aggregates the completed trials and writes report.{html,md,json} and plots/ to `out`. */
export async function writeSweepReportLocally(status: SweepStatus, out: string): Promise<{ dir: string; files: string[]; data: ReturnType<typeof aggregateSweep> }> {
  const summaries = await summariesOf(status);
  if (summaries.size === 0) throw new NotFoundError(`sweep ${status.sweep} has no completed trials with results in ${status.storeUri} yet`);
  const data = aggregateSweep(status, summaries);
  const rendered = await renderSweepReport(data);
  const dir = resolve(out);
  const files = await writeSweepReportFiles(rendered, async (rel, text) => {
    const target = join(dir, ...rel.split('/'));
    await mkdir(join(target, '..'), { recursive: true });
    await writeFile(target, text);
  });
  return { dir, files: files.map((f) => join(dir, f)), data };
}

export async function sweepReportCommand(idOrName: string, opts: { out?: string; json?: boolean }): Promise<void> {
  const ctx = await openContext({ say });
  try {
    const { status } = await sweepStatus(ctx.client, idOrName);
    const { dir, files, data } = await writeSweepReportLocally(status, opts.out ?? join('reports', status.sweep));
    if (opts.json) {
      console.log(JSON.stringify({ sweep: status.sweep, dir, files, best: data.best }, null, 2));
      return;
    }
    const t = table(['setting', ...status.knobs, 'seeds', `${data.metric.label} (mean ± 95% CI)`]);
    for (const s of data.settings) {
      const e = s.metric;
      t.push([s.id, ...status.knobs.map((k) => formatValue(s.params[k])), String(s.seeds.length), e ? `${num(e.mean)}${e.lo !== null && e.hi !== null ? ` ± ${num((e.hi - e.lo) / 2)}` : ''}` : '-']);
    }
    console.log(t.toString());
    console.log(`report of sweep ${status.sweep} written to ${dir}\n  ${join(dir, 'report.html')}\n  ${join(dir, 'report.md')}`);
  } finally {
    await ctx.close();
  }
}

export async function sweepCancelCommand(idOrName: string): Promise<void> {
  const ctx = await openContext({ say });
  try {
    const id = await resolveSweepId(ctx.client, idOrName);
    await ctx.client.workflow.getHandle(id).cancel();
    console.log(`cancellation of sweep ${id} requested: running trials stop (PPO arms after a final checkpoint); run the spec again to continue it`);
  } finally {
    await ctx.close();
  }
}

export async function sweepListCommand(opts: { limit?: number; json?: boolean }): Promise<void> {
  const ctx = await openContext({ say });
  try {
    const rows: { sweep: string; workflowId: string; status: string; started: string; closed: string | null }[] = [];
    for await (const wf of ctx.client.workflow.list({ query: `CrlhfKind = 'sweep'` })) {
      rows.push({ sweep: (wf.searchAttributes?.CrlhfSweep as string[] | undefined)?.[0] ?? wf.workflowId, workflowId: wf.workflowId, status: wf.status.name, started: wf.startTime.toISOString(), closed: wf.closeTime?.toISOString() ?? null });
      if (rows.length >= (opts.limit ?? 100)) break;
    }
    if (opts.json) {
      console.log(JSON.stringify(rows, null, 2));
      return;
    }
    const t = table(['sweep', 'status', 'started', 'closed']);
    for (const r of rows) t.push([r.sweep, r.status, r.started, r.closed ?? '']);
    console.log(t.toString());
  } finally {
    await ctx.close();
  }
}
