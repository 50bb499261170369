// What `crlhf schedule ...` does: sweeps on a Temporal Schedule (cron or
// interval, with overlap and catch-up policies, pause, trigger, backfill). The spec is
// validated and expanded when the schedule is created; each scheduled
// execution is a sweep whose workflow ID is `<schedule>-<scheduled time>`,
// so its trials are `<schedule>-2025-05-14T030000Z/t000`, ....
import type { Client, ScheduleDescription, ScheduleOverlapPolicy, ScheduleSummary } from '@temporalio/client';
import { msToNumber } from '@temporalio/common';
import { table } from '../cli/table.js';
import { NotFoundError, UsageError } from '../common/errors.js';
import { queues } from '../common/temporal.js';
import type { SweepInput } from './trials.js';
import { sweepNameFromWorkflowId } from './trials.js';
import { openContext, type CliContext } from '../cli/context.js';
import { prepareSweep } from './commands.js';

const say = (msg: string) => process.stderr.write(`${msg}\n`);

import { OVERLAP, OVERLAP_POLICIES } from '../cli/schedule.js';

export { OVERLAP };

function overlapPolicy(v: string | undefined): ScheduleOverlapPolicy | undefined {
  if (v === undefined) return undefined;
  const p = OVERLAP[v];
  if (!p) throw new UsageError(`--overlap "${v}": expected one of ${OVERLAP_POLICIES}`);
  return p;
}

function duration(flag: string, v: string): string {
  try {
    if (!(msToNumber(v as never) > 0)) throw new Error('not positive');
  } catch {
    throw new UsageError(`${flag} "${v}": expected a duration such as 30s, 15m, 1h, 24h or 7d`);
  }
  return v;
}

function parseTime(flag: string, v: string): Date {
  const t = new Date(v);
  if (Number.isNaN(t.getTime())) throw new UsageError(`${flag} "${v}": expected a date and time, e.g. 2025-05-14T00:00:00Z`);
  return t;
}

export interface ScheduleCreateOptions {
  id?: string;
  cron?: string;
  every?: string;
  overlap?: string;
  catchup?: string;
  timezone?: string;
  paused?: boolean;
  note?: string;
  name?: string;
  set?: string[];
}

/** The schedule's memo: what `list` and `describe` show about it. */
interface ScheduleMemo {
  crlhfSweep: { spec: string; when: string; trials: number; settings: number; specHash: string };
}

export async function createSweepSchedule(
  client: Client,
  input: SweepInput,
  opts: Omit<ScheduleCreateOptions, 'name' | 'set'> & { specFile: string },
): Promise<string> {
  if ((opts.cron === undefined) === (opts.every === undefined)) throw new UsageError('give exactly one of --cron "<expression>" or --every <duration>');
  const scheduleId = opts.id ?? input.name;
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,59}$/.test(scheduleId)) {
    throw new UsageError(`schedule ID "${scheduleId}": letters, digits, ".", "_", "-"; at most 60 characters (each sweep adds its time)`);
  }
  const when = opts.cron !== undefined ? `cron "${opts.cron}"${opts.timezone ? ` (${opts.timezone})` : ''}` : `every ${duration('--every', opts.every!)}`;
  const memo: ScheduleMemo = {
    crlhfSweep: { spec: opts.specFile, when, trials: input.trials.length, settings: input.settings.length, specHash: input.specHash },
  };
  try {
    await client.schedule.create({
      scheduleId,
      spec: {
        ...(opts.cron !== undefined ? { cronExpressions: [opts.cron] } : { intervals: [{ every: opts.every! }] }),
        ...(opts.timezone ? { timezone: opts.timezone } : {}),
      },
      action: {
        type: 'startWorkflow',
        workflowType: 'sweepWorkflow',
        // The server appends the scheduled time: `<scheduleId>-2025-05-14T03:00:00Z`.
        workflowId: scheduleId,
        args: [input],
        taskQueue: queues(input.taskQueue).workflow,
        searchAttributes: { CrlhfKind: ['sweep'], CrlhfTask: [input.base.task] },
      },
      policies: {
        overlap: overlapPolicy(opts.overlap) ?? 'SKIP',
        ...(opts.catchup ? { catchupWindow: duration('--catchup', opts.catchup) } : {}),
      },
      state: { paused: Boolean(opts.paused), ...(opts.note ? { note: opts.note } : {}) },
      memo: memo as unknown as Record<string, unknown>,
    });
  } catch (err) {
    if ((err as Error).name === 'ScheduleAlreadyRunning') throw new UsageError(`a schedule "${scheduleId}" exists already; delete it first or choose --id`);
    throw err;
  }
  return scheduleId;
}

function handleOf(client: Client, id: string) {
  return client.schedule.getHandle(id);
}

export async function describeSchedule(client: Client, id: string): Promise<ScheduleDescription> {
  try {
    return await handleOf(client, id).describe();
  } catch (err) {
    if ((err as Error).name === 'ScheduleNotFoundError') throw new NotFoundError(`no schedule "${id}"`);
    throw err;
  }
}

export interface ScheduleView {
  id: string;
  when: string;
  spec?: string;
  paused: boolean;
  note?: string;
  overlap?: string;
  catchupWindowMs?: number;
  next: string[];
  /** Sweeps the schedule started, oldest first: workflow ID, sweep name, scheduled and actual time. */
  recent: { workflowId: string; sweep: string; scheduledAt: string; takenAt: string }[];
  running?: string[];
  actionsTaken?: number;
}

function whenOf(memo: Record<string, unknown> | undefined, spec: ScheduleSummary['spec'] | undefined): string {
  const m = (memo as Partial<ScheduleMemo> | undefined)?.crlhfSweep;
  if (m?.when) return m.when;
  const every = spec?.intervals?.map((i) => `every ${i.every}ms`) ?? [];
  return every.length ? every.join(', ') : 'calendar';
}

function viewOf(s: ScheduleDescription | ScheduleSummary): ScheduleView {
  const recent = s.info.recentActions.map((a) => ({
    workflowId: a.action.workflow.workflowId,
    sweep: sweepNameFromWorkflowId(a.action.workflow.workflowId),
    scheduledAt: a.scheduledAt.toISOString(),
    takenAt: a.takenAt.toISOString(),
  }));
  const d = 'policies' in s ? s : undefined;
  return {
    id: s.scheduleId,
    when: whenOf(s.memo, s.spec),
    spec: (s.memo as Partial<ScheduleMemo> | undefined)?.crlhfSweep?.spec,
    paused: s.state.paused,
    ...(s.state.note ? { note: s.state.note } : {}),
    ...(d ? { overlap: d.policies.overlap, catchupWindowMs: d.policies.catchupWindow, running: d.info.runningActions.map((a) => a.workflow.workflowId), actionsTaken: d.info.numActionsTaken } : {}),
    next: s.info.nextActionTimes.map((t) => t.toISOString()),
    recent,
  };
}

/** Schedules whose action starts a sweep. */
export async function listSweepSchedules(client: Client): Promise<ScheduleView[]> {
  const out: ScheduleView[] = [];
  for await (const s of client.schedule.list()) {
    if (s.action?.type === 'startWorkflow' && s.action.workflowType === 'sweepWorkflow') out.push(viewOf(s));
  }
  return out;
}

export async function scheduleView(client: Client, id: string): Promise<ScheduleView> {
  return viewOf(await describeSchedule(client, id));
}

export async function pauseSchedule(client: Client, id: string, note?: string): Promise<void> {
  await describeSchedule(client, id);
  await handleOf(client, id).pause(note ?? 'paused with crlhf schedule pause');
}

export async function unpauseSchedule(client: Client, id: string, note?: string): Promise<void> {
  await describeSchedule(client, id);
  await handleOf(client, id).unpause(note ?? 'unpaused with crlhf schedule unpause');
}

/** Starts a sweep now (the schedule's overlap policy applies unless another is given). */
export async function triggerSchedule(client: Client, id: string, overlap?: string): Promise<void> {
  await describeSchedule(client, id);
  await handleOf(client, id).trigger(overlapPolicy(overlap));
}

/** Runs the sweeps the schedule would have started between start and end. */
export async function backfillSchedule(client: Client, id: string, start: Date, end: Date, overlap?: string): Promise<void> {
  if (!(start < end)) throw new UsageError('--start must be before --end');
  await describeSchedule(client, id);
  await handleOf(client, id).backfill([{ start, end, overlap: overlapPolicy(overlap) ?? 'ALLOW_ALL' }]);
}

export async function deleteSchedule(client: Client, id: string): Promise<void> {
  await describeSchedule(client, id);
  await handleOf(client, id).delete();
}

function printView(v: ScheduleView): void {
  console.log(`schedule ${v.id}: ${v.when}${v.paused ? ' (PAUSED)' : ''}${v.spec ? `, spec ${v.spec}` : ''}`);
  if (v.note) console.log(`note:      ${v.note}`);
  if (v.overlap) console.log(`overlap:   ${v.overlap}${v.catchupWindowMs !== undefined ? `, catch-up window ${Math.round(v.catchupWindowMs / 1000)}s` : ''}`);
  if (v.actionsTaken !== undefined) console.log(`sweeps started: ${v.actionsTaken}${v.running?.length ? `; running: ${v.running.join(', ')}` : ''}`);
  console.log(`next:      ${v.next.slice(0, 3).join(', ') || '-'}`);
  if (v.recent.length) {
    const t = table(['sweep', 'scheduled', 'started']);
    for (const r of v.recent) t.push([r.sweep, r.scheduledAt, r.takenAt]);
    console.log(t.toString());
  }
}

async function withContext<T>(fn: (ctx: CliContext) => Promise<T>): Promise<T> {
  const ctx = await openContext({ say });
  try {
    return await fn(ctx);
  } finally {
    await ctx.close();
  }
}

const withClient = <T>(fn: (client: Client) => Promise<T>): Promise<T> => withContext((ctx) => fn(ctx.client));

// ------------------------------------------------------------ the commands

export async function scheduleCreateCommand(file: string, opts: ScheduleCreateOptions & { json?: boolean }): Promise<void> {
  await withContext(async ({ client, storeUri, settings }) => {
    const { input } = await prepareSweep(file, { name: opts.name ?? opts.id, set: opts.set }, { storeUri, taskQueue: settings.taskQueue });
    const id = await createSweepSchedule(client, input, { ...opts, specFile: file });
    const v = await scheduleView(client, id);
    if (opts.json) console.log(JSON.stringify(v, null, 2));
    else {
      console.log(`schedule ${id} created: ${input.trials.length} trials per sweep; sweeps run on the workers of task queue ${settings.taskQueue}`);
      printView(v);
    }
  });
}

export async function scheduleListCommand(opts: { json?: boolean }): Promise<void> {
  await withClient(async (client) => {
    const views = await listSweepSchedules(client);
    if (opts.json) return console.log(JSON.stringify(views, null, 2));
    const t = table(['schedule', 'when', 'state', 'next', 'last sweep']);
    for (const v of views) t.push([v.id, v.when, v.paused ? 'paused' : 'active', v.next[0] ?? '-', v.recent[v.recent.length - 1]?.sweep ?? '-']);
    console.log(t.toString());
  });
}

export async function scheduleDescribeCommand(id: string, opts: { json?: boolean }): Promise<void> {
  await withClient(async (client) => {
    const v = await scheduleView(client, id);
    if (opts.json) console.log(JSON.stringify(v, null, 2));
    else printView(v);
  });
}

export async function schedulePauseCommand(id: string, opts: { note?: string }): Promise<void> {
  await withClient((client) => pauseSchedule(client, id, opts.note));
  console.log(`schedule ${id} paused`);
}

export async function scheduleUnpauseCommand(id: string, opts: { note?: string }): Promise<void> {
  await withClient((client) => unpauseSchedule(client, id, opts.note));
  console.log(`schedule ${id} unpaused`);
}

export async function scheduleTriggerCommand(id: string, opts: { overlap?: string }): Promise<void> {
  await withClient((client) => triggerSchedule(client, id, opts.overlap));
  console.log(`schedule ${id} triggered; see crlhf schedule describe ${id}`);
}

export async function scheduleBackfillCommand(id: string, opts: { start: string; end: string; overlap?: string }): Promise<void> {
  const start = parseTime('--start', opts.start);
  const end = parseTime('--end', opts.end);
  await withClient((client) => backfillSchedule(client, id, start, end, opts.overlap));
  console.log(`schedule ${id}: backfill of ${start.toISOString()} .. ${end.toISOString()} requested`);
}

export async function scheduleDeleteCommand(id: string): Promise<void> {
  await withClient((client) => deleteSchedule(client, id));
  console.log(`schedule ${id} deleted`);
}
