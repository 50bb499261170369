// Scheduled sweeps on Temporal Schedules, through the `crlhf schedule`
// commands against a real local server: a short interval starts sweeps named
// with their scheduled time, pause stops new ones, trigger starts one now,
// backfill starts the past ones, delete removes the schedule.
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import type { Client } from '@temporalio/client';
import { Command } from 'commander';
import { registerScheduleCommands } from '../../cli/schedule.js';
import { createSweepSchedule, type ScheduleView } from '../../sweep/schedules.js';
import { prepareSweep } from '../../sweep/commands.js';
import { UsageError } from '../../common/errors.js';
import { connectClient, temporalSettings } from '../../common/temporal.js';
import type { SweepStatus } from '../../workflows/sweep.js';
import { startTestTemporal, tempDir } from '../helpers/servers.js';
import { startSweepWorkers, type SweepWorkers } from '../helpers/sweep-worker.js';

const TINY = fileURLToPath(new URL('../fixtures/configs/tiny.yaml', import.meta.url));
const taskQueue = `schedule-${process.pid}`;

let temporal: Awaited<ReturnType<typeof startTestTemporal>>;
let client: Client;
let workers: SweepWorkers;
let specFile: string;
let storeDir: string;
const savedEnv: Record<string, string | undefined> = {};

before(async () => {
  temporal = await startTestTemporal();
  client = await connectClient(temporalSettings(temporal.address));
  workers = await startSweepWorkers({ address: temporal.address, taskQueue });
  const dir = await tempDir('crlhf-schedule-');
  storeDir = join(dir, 'store');
  specFile = join(dir, 'nightly.yaml');
  // One trial per sweep, as small as the pipeline allows.
  writeFileSync(
    specFile,
    `name: nightly
base: ${TINY}
overrides:
  sft.steps: 5
  reward_model.steps: 5
  ppo.iterations: 1
  data.rl_prompts: 16
  data.eval_prompts: 8
  evaluation.bootstrap: 50
seeds: [1]
`,
  );
  const env = { TEMPORAL_ADDRESS: temporal.address, CRLHF_TASK_QUEUE: taskQueue, CRLHF_STORE: `file://${storeDir}` };
  for (const [k, v] of Object.entries(env)) {
    savedEnv[k] = process.env[k];
    process.env[k] = v;
  }
});

after(async () => {
  for (const [k, v] of Object.entries(savedEnv)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  // Sweeps a test left running stop with the server; cancel them so the worker drains quickly.
  for await (const wf of client.workflow.list({ query: `CrlhfKind = 'sweep' AND ExecutionStatus = 'Running'` })) {
    await client.workflow.getHandle(wf.workflowId).cancel().catch(() => {});
  }
  await workers?.shutdown();
  await client?.connection.close();
  await temporal?.stop();
});

/** Runs `crlhf schedule ...` and returns what it printed. */
async function crlhf(...args: string[]): Promise<string> {
  const lines: string[] = [];
  const log = console.log;
  console.log = (...a: unknown[]) => void lines.push(a.join(' '));
  try {
    const program = new Command().exitOverride();
    registerScheduleCommands(program);
    await program.parseAsync(['node', 'crlhf', 'schedule', ...args]);
  } finally {
    console.log = log;
  }
  return lines.join('\n');
}

const describeJson = async (id: string) => JSON.parse(await crlhf('describe', id, '--json')) as ScheduleView;

async function until<T>(what: string, ms: number, probe: () => Promise<T | undefined | false>): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v) return v;
    assert.ok(Date.now() < deadline, `timed out waiting for ${what}`);
    await sleep(300);
  }
}

async function cancelSweep(workflowId: string): Promise<void> {
  const h = client.workflow.getHandle(workflowId);
  if ((await h.describe()).status.name === 'RUNNING') await h.cancel();
  await h.result().catch(() => {});
}

test('a schedule starts sweeps; pause stops them, trigger starts one now, backfill the past ones, delete removes it', { timeout: 300_000 }, async () => {
  const created = JSON.parse(await crlhf('create', specFile, '--every', '10s', '--id', 'nightly', '--note', 'test schedule', '--json')) as ScheduleView;
  assert.equal(created.id, 'nightly');
  assert.equal(created.when, 'every 10s');
  assert.equal(created.paused, false);
  assert.equal(created.overlap, 'SKIP');
  assert.ok(created.next.length > 0);

  // The first scheduled sweep: its ID carries the scheduled time; its name drops the colons.
  const first = await until('a scheduled sweep', 30_000, async () => (await describeJson('nightly')).recent[0]);
  assert.match(first.workflowId, /^nightly-\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  assert.equal(first.sweep, first.workflowId.replace(/:/g, ''));
  const result = (await client.workflow.getHandle(first.workflowId).result()) as SweepStatus;
  assert.equal(result.sweep, first.sweep);
  assert.deepEqual(result.counts, { pending: 0, running: 0, completed: 1, failed: 0, cancelled: 0 });
  assert.equal(result.trials[0]!.workflowId, `${first.sweep}/t000`);
  assert.ok(existsSync(join(storeDir, 'runs', first.sweep, 't000', 'summary.json')), 'the trial wrote its results under the sweep name');
  let listed = false;
  for await (const wf of client.workflow.list({ query: `CrlhfKind = 'sweep' AND CrlhfSweep = '${first.sweep}'` })) listed ||= wf.workflowId === first.workflowId;
  assert.ok(listed, 'the sweep is findable by its name');

  // Pause: no new sweeps, even after more than one interval.
  assert.match(await crlhf('pause', 'nightly', '--note', 'maintenance'), /paused/);
  const paused = await describeJson('nightly');
  assert.equal(paused.paused, true);
  assert.equal(paused.note, 'maintenance');
  const taken = paused.actionsTaken!;
  await sleep(12_000);
  assert.equal((await describeJson('nightly')).actionsTaken, taken, 'no sweep started while paused');

  // Trigger: one now, paused or not.
  await crlhf('trigger', 'nightly');
  const triggered = await until('the triggered sweep', 15_000, async () => {
    const v = await describeJson('nightly');
    return v.actionsTaken === taken + 1 && v.recent[v.recent.length - 1];
  });
  assert.notEqual(triggered.workflowId, first.workflowId);
  await cancelSweep(triggered.workflowId);

  // Backfill: the sweeps of a past half-minute (3 intervals of 10 s), all allowed to overlap.
  const end = new Date(Math.floor(Date.now() / 10_000) * 10_000 - 60_000);
  const start = new Date(end.getTime() - 25_000);
  assert.match(await crlhf('backfill', 'nightly', '--start', start.toISOString(), '--end', end.toISOString()), /backfill/);
  const backfilled = await until('backfilled sweeps', 20_000, async () => {
    const ids: string[] = [];
    for await (const wf of client.workflow.list({ query: `CrlhfKind = 'sweep'` })) {
      const t = Date.parse(wf.workflowId.slice('nightly-'.length));
      if (t >= start.getTime() && t <= end.getTime()) ids.push(wf.workflowId);
    }
    return ids.length >= 2 && ids;
  });
  for (const id of backfilled) await cancelSweep(id);

  const list = JSON.parse(await crlhf('list', '--json')) as ScheduleView[];
  assert.deepEqual(list.map((v) => [v.id, v.paused]), [['nightly', true]]);
  assert.match(await crlhf('unpause', 'nightly'), /unpaused/);
  assert.equal((await describeJson('nightly')).paused, false);

  assert.match(await crlhf('delete', 'nightly'), /deleted/);
  await assert.rejects(crlhf('describe', 'nightly'), /no schedule "nightly"/);
  await until('the schedule to leave the list', 15_000, async () => (JSON.parse(await crlhf('list', '--json')) as ScheduleView[]).length === 0);
  for await (const wf of client.workflow.list({ query: `CrlhfKind = 'sweep' AND ExecutionStatus = 'Running'` })) await cancelSweep(wf.workflowId);
});

test('cron schedules, overlap and catch-up policies are passed to Temporal; bad options are usage errors', { timeout: 60_000 }, async () => {
  const { input } = await prepareSweep(specFile, {}, { storeUri: `file://${storeDir}`, taskQueue });
  const id = await createSweepSchedule(client, input, { id: 'at-three', cron: '0 3 * * *', overlap: 'buffer-one', catchup: '1h', paused: true, specFile });
  const v = await describeJson(id);
  assert.equal(v.when, 'cron "0 3 * * *"');
  assert.equal(v.overlap, 'BUFFER_ONE');
  assert.equal(v.catchupWindowMs, 3_600_000);
  assert.equal(v.paused, true);
  for (const t of v.next) assert.match(t, /T03:00:00\.000Z$/);
  await assert.rejects(createSweepSchedule(client, input, { id: 'at-three', cron: '0 3 * * *', specFile }), /exists already/);
  await crlhf('delete', id);

  await assert.rejects(createSweepSchedule(client, input, { cron: '* * * * *', every: '1h', specFile }), UsageError);
  await assert.rejects(createSweepSchedule(client, input, { specFile }), /exactly one of --cron/);
  await assert.rejects(createSweepSchedule(client, input, { every: 'soon', specFile }), /--every "soon": expected a duration/);
  await assert.rejects(createSweepSchedule(client, input, { every: '1h', overlap: 'sometimes', specFile }), /--overlap "sometimes": expected one of skip, buffer-one/);
  await assert.rejects(crlhf('pause', 'nope'), /no schedule "nope"/);
});
