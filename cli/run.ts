// `crlhf run` and `crlhf resume`: start (or attach to) an experiment, show
// live progress, and end with a summary table and the artifact URIs.
import { spawn } from 'node:child_process';
import { mkdirSync, openSync } from 'node:fs';
import { join } from 'node:path';
import type { Client, WorkflowHandle } from '@temporalio/client';
import { table } from './table.js';
import { parse as parseYaml } from 'yaml';
import { REPO_ROOT, stateDir } from '../common/dirs.js';
import { ConfigError, NotFoundError, UsageError } from '../common/errors.js';
import { queues } from '../common/temporal.js';
import { loadConfig } from '../config/load.js';
import type { ExperimentSummary } from '../pipeline/summary.js';
import { openObject, toUri } from '../storage/index.js';
import type { ExperimentConfig } from '../config/schema.js';
import type { ExperimentInput } from '../workflows/experiment.js';
import type { CliContext } from './context.js';
import { describeSnapshot, ProgressPrinter, RateTracker, snapshot } from './progress.js';

export interface RunOptions {
  name?: string;
  detach?: boolean;
  json?: boolean;
  set?: string[];
}

/** `--set a.b=value` pairs; values are parsed as YAML scalars (numbers, booleans, lists). */
export function parseOverrides(pairs: string[] = []): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const p of pairs) {
    const eq = p.indexOf('=');
    if (eq <= 0) throw new UsageError(`--set expects key=value, got "${p}"`);
    out[p.slice(0, eq)] = parseYaml(p.slice(eq + 1));
  }
  return out;
}

const say = (msg: string) => process.stderr.write(`${msg}\n`);

export async function runCommand(file: string, opts: RunOptions): Promise<ExperimentSummary | undefined> {
  const overrides = parseOverrides(opts.set);
  if (opts.name) overrides.name = opts.name;
  const loaded = await loadConfig(file, overrides);
  await checkDataFiles(file, loaded.config);
  // Loaded after validation, so a config error answers without starting anything.
  const { openContext } = await import('./context.js');
  const ctx = await openContext({ worker: !opts.detach, say });
  try {
    const input: ExperimentInput = {
      runName: loaded.config.name!,
      storeUri: loaded.config.store ? toUri(loaded.config.store) : ctx.storeUri,
      taskQueue: ctx.settings.taskQueue,
      config: loaded.config,
      configSource: loaded.source,
      timeouts: { heartbeat: process.env.CRLHF_HEARTBEAT_TIMEOUT ?? '60 seconds', attempts: Number(process.env.CRLHF_ACTIVITY_ATTEMPTS ?? 10) },
    };
    const handle = await startOrAttach(ctx.client, input, ctx);
    return await follow(ctx, handle, opts);
  } finally {
    await ctx.close();
  }
}

/** Real-data files must exist before anything starts (the data step would fail later otherwise). */
async function checkDataFiles(file: string, config: ExperimentConfig): Promise<void> {
  const files = config.data.files;
  if (!files) return;
  for (const [field, uri] of [['preferences', files.preferences], ['sft', files.sft]] as const) {
    if (!uri) continue;
    const { store, key } = openObject(uri);
    if (!(await store.exists(key))) throw new ConfigError(`${file}: field "data.files.${field}" = ${JSON.stringify(uri)}: no such file (${store.uri(key)})`, file, `data.files.${field}`);
  }
}

async function startOrAttach(client: Client, input: ExperimentInput, ctx: CliContext): Promise<WorkflowHandle> {
  try {
    const handle = await client.workflow.start('experimentWorkflow', {
      taskQueue: queues(ctx.settings.taskQueue).workflow,
      workflowId: input.runName,
      args: [input],
      // Starting the same run twice attaches to it; a failed run may be started again (as resume does).
      workflowIdConflictPolicy: 'USE_EXISTING',
      workflowIdReusePolicy: 'ALLOW_DUPLICATE_FAILED_ONLY',
      searchAttributes: { CrlhfKind: ['experiment'], CrlhfExperiment: [input.runName], CrlhfTask: [input.config.task] },
    });
    say(`run ${input.runName}: workflow ${handle.workflowId}${ctx.embedded ? ' (embedded Temporal server)' : ` on ${ctx.settings.address}`}`);
    return handle;
  } catch (err) {
    if ((err as Error).name !== 'WorkflowExecutionAlreadyStartedError') throw err;
    say(`run ${input.runName} already completed; showing its result (use --name for a new run)`);
    return client.workflow.getHandle(input.runName);
  }
}

async function follow(ctx: CliContext, handle: WorkflowHandle, opts: RunOptions): Promise<ExperimentSummary | undefined> {
  const { workflowUiLink } = await import('./context.js');
  const ui = workflowUiLink(ctx, handle.workflowId);
  if (ui) say(`Web UI: ${ui}`);
  if (opts.detach) {
    if (ctx.embedded) spawnBackgroundWorker(handle.workflowId);
    say(`detached; follow with: crlhf status ${handle.workflowId}`);
    if (opts.json) console.log(JSON.stringify({ run: handle.workflowId, status: 'RUNNING', ui }));
    return undefined;
  }
  const printer = new ProgressPrinter(Boolean(process.stderr.isTTY) && !opts.json);
  const rates = new RateTracker();
  let finished = false;
  const result = handle.result().finally(() => (finished = true));
  const poll = (async () => {
    while (!finished) {
      try {
        printer.update(describeSnapshot(await snapshot(ctx.client, handle.workflowId), rates));
      } catch {
        // A query can fail while the workflow moves between tasks; try again.
      }
      for (let i = 0; i < 10 && !finished; i++) await new Promise((r) => setTimeout(r, 100));
    }
  })();
  try {
    const summary = (await result) as ExperimentSummary;
    await poll;
    printer.done();
    if (opts.json) console.log(JSON.stringify({ ...summary, ui }, null, 2));
    else printSummary(summary);
    return summary;
  } catch (err) {
    finished = true;
    await poll;
    printer.done();
    say(`run ${handle.workflowId} did not complete; fix the cause and continue with: crlhf resume ${handle.workflowId}`);
    throw err;
  }
}

/** Embedded mode with --detach: a worker process that exits when the run (or sweep) closes. */
export function spawnBackgroundWorker(workflowId: string): void {
  const logs = join(stateDir(), 'logs');
  mkdirSync(logs, { recursive: true });
  const log = join(logs, `worker-${workflowId.replace(/[^A-Za-z0-9._-]/g, '_')}.log`);
  const fd = openSync(log, 'a');
  const child = spawn(process.execPath, [join(REPO_ROOT, 'bin/crlhf.js'), 'worker', '--until', workflowId], {
    detached: true,
    stdio: ['ignore', fd, fd],
    env: { ...process.env, TEMPORAL_ADDRESS: undefined, CRLHF_EMBEDDED_WORKER: '1' },
  });
  child.unref();
  say(`background worker pid ${child.pid}, log ${log}`);
}

const n = (x: number | null | undefined, d = 3) => (x === null || x === undefined || !Number.isFinite(x) ? '-' : x.toFixed(d));

export function printSummary(s: ExperimentSummary): void {
  const arms = table(['policy', 'reward', 'gold', 'RM score', 'KL to ref', 'length']);
  for (const a of s.arms) arms.push([a.name, a.rewardMode, n(a.goldMean), n(a.rmScoreMean), n(a.klToRef), n(a.responseLength, 1)]);
  console.log(arms.toString());
  const wins = table(['judge', 'candidate vs baseline', 'W / T / L', 'win rate', 'adjusted [95% CI]', 'length-controlled']);
  for (const w of s.winRates) {
    wins.push([
      w.judge,
      `${w.candidate} vs ${w.baseline}`,
      `${w.wins} / ${w.ties} / ${w.losses}`,
      n(w.winRate),
      `${n(w.adjustedWinRate)}${w.adjustedWinRateCI ? ` [${n(w.adjustedWinRateCI[0])}, ${n(w.adjustedWinRateCI[1])}]` : ''}`,
      n(w.lengthControlledWinRate),
    ]);
  }
  console.log(wins.toString());
  console.log(`report:    ${s.artifacts.report}`);
  console.log(`markdown:  ${s.artifacts.reportMarkdown}`);
  console.log(`artifacts: ${s.artifacts.store}/runs/${s.run}/`);
}

/** The input a run was started with, from its first history event (for resume). */
export async function runInput(client: Client, workflowId: string): Promise<ExperimentInput> {
  const handle = client.workflow.getHandle(workflowId);
  let history;
  try {
    history = await handle.fetchHistory();
  } catch (err) {
    if ((err as Error).name === 'WorkflowNotFoundError') throw new NotFoundError(`no run named "${workflowId}"`);
    throw err;
  }
  const started = history.events?.[0]?.workflowExecutionStartedEventAttributes;
  const payload = started?.input?.payloads?.[0];
  if (!payload) throw new NotFoundError(`run "${workflowId}" has no recorded input`);
  const { defaultPayloadConverter } = await import('@temporalio/common');
  return defaultPayloadConverter.fromPayload(payload as never) as ExperimentInput;
}

export async function resumeCommand(run: string, opts: RunOptions): Promise<ExperimentSummary | undefined> {
  const { openContext } = await import('./context.js');
  const ctx = await openContext({ worker: !opts.detach, say });
  try {
    const handle = ctx.client.workflow.getHandle(run);
    let status: string;
    try {
      status = (await handle.describe()).status.name;
    } catch (err) {
      if ((err as Error).name === 'WorkflowNotFoundError') throw new NotFoundError(`no run named "${run}"`);
      throw err;
    }
    if (status === 'RUNNING') {
      say(`run ${run} is running; attaching`);
      return await follow(ctx, handle, opts);
    }
    if (status === 'COMPLETED') {
      say(`run ${run} already completed`);
      return await follow(ctx, handle, opts);
    }
    const input = await runInput(ctx.client, run);
    say(`run ${run} ended ${status.toLowerCase()}; starting it again: finished steps are reused from the store`);
    const next = await ctx.client.workflow.start('experimentWorkflow', {
      taskQueue: queues(ctx.settings.taskQueue).workflow,
      workflowId: run,
      args: [{ ...input, taskQueue: ctx.settings.taskQueue }],
      workflowIdReusePolicy: 'ALLOW_DUPLICATE',
      searchAttributes: { CrlhfKind: ['experiment'], CrlhfExperiment: [input.runName], CrlhfTask: [input.config.task] },
    });
    return await follow(ctx, next, opts);
  } finally {
    await ctx.close();
  }
}
