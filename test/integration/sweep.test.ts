// Sweeps against a real local Temporal server and real (tiny) experiments:
// 2 KL coefficients × 2 seeds with at most 2 experiments at once. The
// trials that share data, SFT, reward model and baselines get them from one
// shared-step run; a worker SIGKILLed mid-sweep (and the server restarted)
// loses and duplicates nothing; a re-run attaches to finished trials;
// cancel stops the trials; the CLI commands read it all back.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { WorkflowFailedError, type Client } from '@temporalio/client';
import { Command } from 'commander';
import { registerSweepCommands } from '../../cli/sweep.js';
import { prepareSweep, startSweep, writeSweepReportLocally } from '../../sweep/commands.js';
import { connectClient, temporalSettings } from '../../common/temporal.js';
import { sharedWorkflowId, type SweepInput } from '../../sweep/trials.js';
import type { SweepStatus } from '../../workflows/sweep.js';
import { startTestTemporal, tempDir } from '../helpers/servers.js';
import { startSweepWorkerProcess, startSweepWorkers, type SweepWorkerProcess, type SweepWorkers } from '../helpers/sweep-worker.js';

const TINY = fileURLToPath(new URL('../fixtures/configs/tiny.yaml', import.meta.url));

let temporal: Awaited<ReturnType<typeof startTestTemporal>>;
let client: Client;
let workers: SweepWorkers | undefined;
const processes: SweepWorkerProcess[] = [];

before(async () => {
  temporal = await startTestTemporal();
  client = await connectClient(temporalSettings(temporal.address));
});

after(async () => {
  for (const p of processes) await p.kill();
  await workers?.shutdown();
  await client?.connection.close();
  await temporal?.stop();
});

/** A sweep of a smaller tiny config: 2 PPO-only knob values × 2 seeds. */
async function spec(name: string, extra = ''): Promise<{ file: string; store: string }> {
  const dir = await tempDir('crlhf-sweep-');
  const file = join(dir, `${name}.yaml`);
  writeFileSync(
    file,
    `name: ${name}
base: ${TINY}
overrides:
  sft.steps: 10
  reward_model.steps: 10
  ppo.iterations: 2
  ppo.block_iterations: 1
  data.rl_prompts: 32
  data.eval_prompts: 16
  evaluation.bootstrap: 100
grid:
  ppo.kl.coef: [0.02, 0.1]
seeds: [1, 2]
max_concurrent: 2
${extra}`,
  );
  return { file, store: `file://${join(dir, 'store')}` };
}

async function input(name: string, taskQueue: string, extra = ''): Promise<{ input: SweepInput; storeDir: string }> {
  const s = await spec(name, extra);
  const { input } = await prepareSweep(s.file, {}, { storeUri: s.store, taskQueue });
  return { input, storeDir: fileURLToPath(s.store) };
}

/** Every execution of the sweep's experiments (trials and shared-step runs), from Temporal's visibility. */
async function experiments(sweep: string): Promise<{ workflowId: string; runId: string; status: string }[]> {
  const out: { workflowId: string; runId: string; status: string }[] = [];
  for await (const wf of client.workflow.list({ query: `CrlhfSweep = '${sweep}' AND CrlhfKind = 'experiment'` })) {
    out.push({ workflowId: wf.workflowId, runId: wf.runId, status: wf.status.name });
  }
  return out;
}

const readJson = <T>(path: string): T => JSON.parse(readFileSync(path, 'utf8')) as T;

function assertSharedStepsComputedOnce(storeDir: string, status: SweepStatus, input: SweepInput): void {
  const cache = join(storeDir, 'cache');
  assert.equal(readdirSync(join(cache, 'sft')).length, input.groups.length, 'one SFT model per distinct group, no more');
  assert.equal(readdirSync(join(cache, 'reward-model')).length, input.groups.length);
  assert.equal(readdirSync(join(cache, 'baseline-scores')).length, input.groups.length);
  for (const [g, group] of input.groups.entries()) {
    const shared = status.groups[g]!.workflowId;
    for (const [step, hash] of [['sft', group.sft], ['reward-model', group.rewardModel], ['baseline-scores', group.baselineScores]] as const) {
      const out = readJson<{ computedBy: { run: string } }>(join(cache, step, hash, 'OUTPUT.json'));
      assert.equal(out.computedBy.run, shared, `${step} of group ${g} computed by its shared-step run`);
    }
  }
  for (const t of status.trials) {
    const dir = join(storeDir, 'runs', ...t.workflowId.split('/'), 'steps');
    const records = readdirSync(dir);
    assert.deepEqual(records.sort(), ['baseline-scores.json', 'baselines-0.json', 'baselines-1.json', 'data.json', 'reward-model.json', 'sft.json']);
    for (const r of records) assert.equal(readJson<{ reused: boolean }>(join(dir, r)).reused, true, `${t.id}: ${r} reused`);
  }
}

test('a 2 × 2 sweep runs 4 trials, at most 2 experiments at once, shared steps computed once', { timeout: 300_000 }, async () => {
  const taskQueue = `sweep-${process.pid}`;
  workers = await startSweepWorkers({ address: temporal.address, taskQueue });
  const { input: inp, storeDir } = await input('sw', taskQueue);
  inp.childrenPerRun = 3; // continue as new mid-sweep
  assert.equal(inp.trials.length, 4);
  assert.equal(inp.groups.length, 2, 'one group per seed: the KL coefficient is a PPO knob');

  const t0 = Date.now();
  const { handle, outcome } = await startSweep(client, inp);
  assert.equal(outcome, 'started');
  assert.equal(handle.workflowId, 'sw');
  let done = false;
  const result = handle.result().finally(() => (done = true)) as Promise<SweepStatus>;
  let maxQueried = 0;
  let maxVisible = 0;
  let polls = 0;
  while (!done) {
    const s = await handle.query<SweepStatus>('sweepStatus').catch(() => null);
    if (s) {
      maxQueried = Math.max(maxQueried, s.running.length);
      assert.ok(s.running.length <= 2, `running ${s.running.join(', ')}`);
      assert.ok(s.peakRunning <= 2);
    }
    if (polls++ % 4 === 0) {
      const running = (await experiments('sw')).filter((e) => e.status === 'RUNNING');
      maxVisible = Math.max(maxVisible, running.length);
      assert.ok(running.length <= 2, `experiments running at once: ${running.map((r) => r.workflowId).join(', ')}`);
    }
    await sleep(250);
  }
  const status = await result;
  const seconds = (Date.now() - t0) / 1000;

  assert.equal(status.trials.length, 4);
  assert.deepEqual(status.counts, { pending: 0, running: 0, completed: 4, failed: 0, cancelled: 0 });
  assert.deepEqual(status.trials.map((t) => t.workflowId), ['sw/t000', 'sw/t001', 'sw/t002', 'sw/t003']);
  assert.equal(status.peakRunning, 2, 'the window was used');
  assert.equal(maxQueried, 2);
  assert.ok(maxVisible <= 2);
  assert.ok(status.runs >= 2, `continued as new (${status.runs} runs)`);

  const execs = await experiments('sw');
  assert.equal(execs.length, 6, `4 trials + 2 shared-step runs: ${execs.map((e) => e.workflowId).join(', ')}`);
  assert.equal(new Set(execs.map((e) => e.workflowId)).size, 6, 'one execution each');
  assert.ok(execs.every((e) => e.status === 'COMPLETED'));
  assertSharedStepsComputedOnce(storeDir, status, inp);

  // The report the sweep wrote to the store, and the one `crlhf sweep report` writes locally.
  assert.ok(status.report, `report written (${status.reportError ?? ''})`);
  const reportDir = join(storeDir, 'sweeps', 'sw', 'report');
  const data = readJson<{ settings: { id: string; seeds: number[]; values: Record<string, Record<string, { mean: number; lo: number | null }>> }[] }>(join(reportDir, 'report.json'));
  assert.equal(data.settings.length, 2);
  for (const s of data.settings) {
    assert.deepEqual(s.seeds, [1, 2]);
    assert.equal(typeof s.values.gold!['ppo-cr']!.lo, 'number', 'a 95% CI over two seeds');
    assert.equal(typeof s.values['adjusted_win_rate:oracle']!['ppo-cr vs sft']!.mean, 'number');
  }
  assert.deepEqual(readdirSync(join(reportDir, 'plots')).sort(), ['ppo.kl.coef--adjusted_win_rate_oracle.svg', 'ppo.kl.coef--gold.svg', 'ppo.kl.coef--win_rate_oracle.svg']);
  const local = await writeSweepReportLocally(status, join(storeDir, '..', 'local-report'));
  const md = readFileSync(join(local.dir, 'report.md'), 'utf8');
  assert.match(md, /## Gold reward/);
  assert.match(md, /\| s000 \| 0\.02 \| 2 \| /);
  assert.match(md, /±/);
  assert.match(readFileSync(join(local.dir, 'report.html'), 'utf8'), /<svg/);
  console.log(`# sweep of 4 trials + 2 shared-step runs: ${seconds.toFixed(1)} s`);

  // Running the spec again shows the completed sweep; a new execution of it attaches to every trial.
  assert.equal((await startSweep(client, inp)).outcome, 'completed');
  const again = (await client.workflow.execute('sweepWorkflow', {
    taskQueue,
    workflowId: 'sw',
    args: [{ ...inp, report: false }],
    workflowIdReusePolicy: 'ALLOW_DUPLICATE',
  })) as SweepStatus;
  assert.deepEqual(again.counts, { pending: 0, running: 0, completed: 4, failed: 0, cancelled: 0 });
  assert.ok(again.trials.every((t) => t.attached), 'no trial ran again');
  assert.ok(again.groups.every((g) => g.status === 'done'));
  assert.equal((await experiments('sw')).length, 6, 'still one execution per experiment');
});

test('crlhf sweep status and report read a finished sweep back', { timeout: 120_000 }, async () => {
  const saved = process.env.TEMPORAL_ADDRESS;
  process.env.TEMPORAL_ADDRESS = temporal.address;
  const lines: string[] = [];
  const log = console.log;
  console.log = (...args: unknown[]) => void lines.push(args.join(' '));
  try {
    const program = new Command().exitOverride();
    registerSweepCommands(program);
    await program.parseAsync(['node', 'crlhf', 'sweep', 'status', 'sw', '--json']);
    const status = JSON.parse(lines.join('\n')) as { workflowStatus: string; trials: { metric: number | null }[] };
    assert.equal(status.workflowStatus, 'COMPLETED');
    assert.equal(status.trials.length, 4);
    assert.ok(status.trials.every((t) => typeof t.metric === 'number'));
    lines.length = 0;
    await program.parseAsync(['node', 'crlhf', 'sweep', 'status', 'sw']);
    assert.match(lines.join('\n'), /sweep sw: 4\/4 completed/);
    assert.match(lines.join('\n'), /t003/);
    lines.length = 0;
    const out = join(await tempDir('crlhf-sweep-report-'), 'r');
    await program.parseAsync(['node', 'crlhf', 'sweep', 'report', 'sw', '--out', out]);
    assert.ok(existsSync(join(out, 'report.html')));
    assert.match(lines.join('\n'), /mean ± 95% CI/);
  } finally {
    console.log = log;
    if (saved === undefined) delete process.env.TEMPORAL_ADDRESS;
    else process.env.TEMPORAL_ADDRESS = saved;
  }
});

test('cancelling a sweep cancels its running trials and starts no more', { timeout: 180_000 }, async () => {
  const taskQueue = `sweep-${process.pid}`;
  const { input: inp } = await input('swc', taskQueue);
  const { handle } = await startSweep(client, inp);
  const deadline = Date.now() + 120_000;
  for (;;) {
    const s = await handle.query<SweepStatus>('sweepStatus').catch(() => null);
    if (s && s.counts.running > 0) break;
    assert.ok(Date.now() < deadline, 'a trial started');
    await sleep(200);
  }
  await handle.cancel();
  await assert.rejects(handle.result(), (err: unknown) => err instanceof WorkflowFailedError);
  assert.equal((await handle.describe()).status.name, 'CANCELLED');
  const execs = await experiments('swc');
  assert.ok(execs.every((e) => e.status !== 'RUNNING'), execs.map((e) => `${e.workflowId} ${e.status}`).join(', '));
  assert.ok(execs.some((e) => /\/t\d+$/.test(e.workflowId) && e.status === 'CANCELLED'), 'the running trial was cancelled');
  const final = await handle.query<SweepStatus>('sweepStatus');
  assert.equal(final.phase, 'cancelled');
  assert.ok(final.counts.cancelled >= 1);
  assert.equal(final.counts.pending + final.counts.running, 0, 'no trial left pending or running');
  for (const t of final.trials) {
    const ran = execs.find((e) => e.workflowId === t.workflowId);
    assert.equal(t.status, ran?.status === 'COMPLETED' ? 'completed' : 'cancelled', `${t.id} (${ran?.status ?? 'never started'})`);
  }
  await workers?.shutdown();
  workers = undefined;
});

test('a worker SIGKILLed mid-sweep and a server restart lose and duplicate no trial', { timeout: 420_000 }, async () => {
  const taskQueue = `sweep-kill-${process.pid}`;
  const env = { TEMPORAL_ADDRESS: temporal.address, CRLHF_TASK_QUEUE: taskQueue, CRLHF_LOG_LEVEL: 'warn' };
  processes.push(await startSweepWorkerProcess(env));
  const { input: inp, storeDir } = await input('swk', taskQueue);
  inp.timeouts = { heartbeat: '4 seconds' };
  // Longer PPO than the other tests: more moments to kill the worker in.
  inp.base = { ...inp.base, ppo: { ...inp.base.ppo, iterations: 4 } };
  const { handle } = await startSweep(client, inp);

  // Kill while every running trial trains PPO (not about to finalize an arm): the activities in
  // flight then heartbeat with a short timeout, so they are retried quickly on the next worker.
  const inPpo = async (id: string): Promise<boolean> => {
    const h = client.workflow.getHandle(id);
    const progress = await h.query<{ stage: string; arms: { workflowId: string }[] }>('progress').catch(() => null);
    if (progress?.stage !== 'ppo') return false;
    let training = 0;
    for (const arm of progress.arms) {
      const a = client.workflow.getHandle(arm.workflowId);
      const [p, d] = await Promise.all([a.query<{ status: string }>('progress').catch(() => null), a.describe().catch(() => null)]);
      if (p?.status === 'done') continue;
      const pending = d?.raw.pendingActivities ?? [];
      if (p?.status !== 'running' || pending.length === 0 || pending.some((x) => x.activityType?.name !== 'ppoBlock')) return false;
      training++;
    }
    return training > 0;
  };
  const deadline = Date.now() + 150_000;
  let killedAt: SweepStatus | undefined;
  while (!killedAt) {
    assert.ok(Date.now() < deadline, 'a moment with trials in PPO came');
    await sleep(100);
    const s = await handle.query<SweepStatus>('sweepStatus').catch(() => null);
    assert.ok(s?.counts.completed !== 4, 'the sweep ended before a kill moment came');
    if (!s || s.counts.running === 0 || s.groups.some((g) => g.status === 'running')) continue;
    if ((await Promise.all(s.running.map(inPpo))).every(Boolean)) killedAt = s;
  }
  await processes[0]!.kill('SIGKILL');
  console.log(`# worker killed with ${killedAt.counts.completed} trial(s) completed, running: ${killedAt.running.join(', ')}`);
  const stateDir = temporal.stateDir;
  const port = temporal.rec.port;
  await temporal.stop();
  temporal = await startTestTemporal({ stateDir, port });
  processes.push(await startSweepWorkerProcess(env));

  const status = (await handle.result()) as SweepStatus;
  assert.deepEqual(status.counts, { pending: 0, running: 0, completed: 4, failed: 0, cancelled: 0 }, `killed with ${killedAt.counts.completed} completed and ${killedAt.running.join(', ')} running`);
  assert.ok(status.trials.every((t) => !t.attached));
  assert.ok(status.peakRunning <= 2);
  const execs = await experiments('swk');
  assert.equal(execs.length, 6);
  assert.equal(new Set(execs.map((e) => e.workflowId)).size, 6, 'no experiment started twice');
  assert.ok(execs.every((e) => e.status === 'COMPLETED'));
  assertSharedStepsComputedOnce(storeDir, status, inp);

  // The kill interrupted PPO blocks in flight: retried after a heartbeat timeout, or moved off the dead worker's own queue.
  let interrupted = 0;
  for (const id of killedAt.running.flatMap((t) => [`${t}/ppo/ppo`, `${t}/ppo/ppo-cr`])) {
    for (const ev of (await client.workflow.getHandle(id).fetchHistory()).events ?? []) {
      if ((ev.activityTaskStartedEventAttributes?.attempt ?? 1) > 1 || ev.activityTaskTimedOutEventAttributes) interrupted++;
    }
  }
  assert.ok(interrupted > 0, 'work in flight was interrupted by the kill');
});

// The orchestration alone, fast: the same sweep workflow with a stand-in experiment that sleeps.
test('with stand-in experiments: 12 trials through a window of 3, continuing as new every 4 children', { timeout: 120_000 }, async () => {
  const taskQueue = `sweep-fake-${process.pid}`;
  const fake = await startSweepWorkers({ address: temporal.address, taskQueue, fakeExperiments: true });
  try {
    const { file, store } = await spec('fk');
    writeFileSync(
      file,
      readFileSync(file, 'utf8')
        .replace('grid:\n  ppo.kl.coef: [0.02, 0.1]', 'grid:\n  ppo.lr: [1.0e-4, 2.0e-4, 3.0e-4]\n  ppo.kl.coef: [0.02, 0.1]')
        .replace('max_concurrent: 2', 'max_concurrent: 3'),
    );
    const { input: many } = await prepareSweep(file, {}, { storeUri: store, taskQueue });
    many.childrenPerRun = 4;
    many.report = false;
    assert.equal(many.trials.length, 12);
    const { handle } = await startSweep(client, many);
    let done = false;
    const result = handle.result().finally(() => (done = true)) as Promise<SweepStatus>;
    let max = 0;
    while (!done) {
      const s = await handle.query<SweepStatus>('sweepStatus').catch(() => null);
      if (s) max = Math.max(max, s.running.length);
      await sleep(100);
    }
    const status = await result;
    assert.equal(status.counts.completed, 12);
    assert.ok(max <= 3 && status.peakRunning === 3, `max ${max}, peak ${status.peakRunning}`);
    assert.ok(status.runs >= 4, `${status.runs} workflow runs`);
    const execs = await experiments('fk');
    assert.equal(execs.length, 14);
    assert.equal(new Set(execs.map((e) => e.workflowId)).size, 14);
  } finally {
    await fake.shutdown();
  }
});

test('with stand-in experiments: failed shared steps fail their trials only, a failed trial fails alone', { timeout: 120_000 }, async () => {
  const taskQueue = `sweep-fake-${process.pid}`;
  const fake = await startSweepWorkers({ address: temporal.address, taskQueue, fakeExperiments: true });
  try {
    const { file, store } = await spec('ff');
    writeFileSync(file, readFileSync(file, 'utf8').replace('grid:\n', 'grid:\n  data.label_noise: [0, 0.4]\n').replace('seeds: [1, 2]', 'seeds: [1, 13]'));
    const { input: ff } = await prepareSweep(file, {}, { storeUri: store, taskQueue });
    ff.report = false;
    assert.equal(ff.trials.length, 8);
    assert.equal(ff.groups.length, 4);
    const status = (await (await startSweep(client, ff)).handle.result()) as SweepStatus;
    assert.deepEqual(status.counts, { pending: 0, running: 0, completed: 2, failed: 6, cancelled: 0 });
    for (const t of status.trials) {
      const noisy = t.params['data.label_noise'] === 0.4;
      if (noisy) assert.match(t.error ?? '', /^shared steps failed: no data for this noise level/, t.id);
      else if (t.seed === 13) assert.equal(t.error, 'reward model diverged', t.id);
      else assert.equal(t.status, 'completed', t.id);
    }
    assert.deepEqual(status.groups.map((g) => g.status).sort(), ['done', 'done', 'failed', 'failed']);
    assert.equal((await experiments('ff')).filter((e) => /\/t\d+$/.test(e.workflowId)).length, 4, 'trials of failed groups never start');
  } finally {
    await fake.shutdown();
  }
});

test('with stand-in experiments: a re-run waits for a trial an earlier execution left running, then attaches to it', { timeout: 120_000 }, async () => {
  const taskQueue = `sweep-fake-${process.pid}`;
  const fake = await startSweepWorkers({ address: temporal.address, taskQueue, fakeExperiments: true });
  try {
    const { file, store } = await spec('fr');
    writeFileSync(file, readFileSync(file, 'utf8').replace('grid:\n  ppo.kl.coef: [0.02, 0.1]\n', '').replace('seeds: [1, 2]', 'seeds: [1]').replace('ppo.block_iterations: 1', 'ppo.block_iterations: 1\n  ppo.epochs: 9'));
    const { input: fr } = await prepareSweep(file, {}, { storeUri: store, taskQueue });
    fr.report = false;
    const first = await startSweep(client, fr);
    await until(async () => ((await handleStatus(first.handle.workflowId))?.counts.running ?? 0) > 0);
    // The trial ignores cancellation for a while: it outlives the sweep that started it.
    await first.handle.terminate('test: leave the trial running');
    const again = await startSweep(client, fr);
    assert.equal(again.outcome, 'restarted');
    const status = (await again.handle.result()) as SweepStatus;
    assert.equal(status.counts.completed, 1);
    assert.equal(status.trials[0]!.attached, true, 'completed by the first execution, not run again');
    assert.equal((await experiments('fr')).length, 1);
  } finally {
    await fake.shutdown();
  }
});

async function handleStatus(id: string): Promise<SweepStatus | null> {
  return client.workflow.getHandle(id).query<SweepStatus>('sweepStatus').catch(() => null);
}

async function until(probe: () => Promise<boolean>, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await probe())) {
    assert.ok(Date.now() < deadline, 'timed out');
    await sleep(100);
  }
}

test('with stand-in experiments: groups that share an SFT model (label noise only) never compute it at the same time', { timeout: 120_000 }, async () => {
  const taskQueue = `sweep-fake-${process.pid}`;
  const fake = await startSweepWorkers({ address: temporal.address, taskQueue, fakeExperiments: true });
  try {
    const { file, store } = await spec('fn');
    writeFileSync(file, readFileSync(file, 'utf8').replace('grid:\n', 'grid:\n  data.label_noise: [0, 0.2]\n').replace('max_concurrent: 2', 'max_concurrent: 4'));
    const { input: fn } = await prepareSweep(file, {}, { storeUri: store, taskQueue });
    fn.report = false;
    assert.equal(fn.groups.length, 4, 'two noise levels × two seeds');
    assert.equal(new Set(fn.groups.map((g) => g.sft)).size, 2, 'one SFT model per seed');
    await (await startSweep(client, fn)).handle.result();
    const spans = new Map<string, { sft: string; start: number; end: number }>();
    for await (const wf of client.workflow.list({ query: `CrlhfSweep = 'fn' AND CrlhfKind = 'experiment'` })) {
      const g = fn.groups.find((x) => wf.workflowId === sharedWorkflowId('fn', x));
      if (g) spans.set(wf.workflowId, { sft: g.sft, start: wf.startTime.getTime(), end: wf.closeTime!.getTime() });
    }
    assert.equal(spans.size, 4, 'one shared-step run per group');
    const list = [...spans.values()];
    for (const a of list) {
      for (const b of list) {
        if (a !== b && a.sft === b.sft) assert.ok(a.end <= b.start || b.end <= a.start, 'shared-step runs with the same SFT did not overlap');
      }
    }
  } finally {
    await fake.shutdown();
  }
});
