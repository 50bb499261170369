// Durability against the infrastructure: the Temporal server stopped and
// started again on the same database mid-run; the S3 store failing mid-run
// and `crlhf resume` completing the run without redoing finished steps.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Client } from '@temporalio/client';
import { REPO_ROOT } from '../../common/dirs.js';
import { connectClient, queues, temporalSettings } from '../../common/temporal.js';
import { startS3Server, stopServer, s3Env } from '../../infra/servers.js';
import { layout } from '../../pipeline/layout.js';
import type { RunStepRecord, StepOutput } from '../../pipeline/steps.js';
import type { ExperimentSummary } from '../../pipeline/summary.js';
import { getJson, openStore } from '../../storage/index.js';
import { startTestS3, startTestTemporal } from '../helpers/servers.js';
import { startWorkerProcess, type WorkerProcess } from '../helpers/worker-process.js';
import { experimentInput, waitFor, waitForHeartbeat } from '../helpers/pipeline.js';

const workers: WorkerProcess[] = [];
const cleanup: (() => Promise<unknown>)[] = [];

after(async () => {
  for (const w of workers) await w.kill();
  // Newest first: a client closes before its server stops, a server stops before its directory goes.
  for (const c of cleanup.reverse()) await c().catch(() => {});
});

/** A Temporal server of this file's own, stopped and its database deleted after the tests. */
async function temporalServer(): Promise<{ stateDir: string; port: number; address: string }> {
  const t = await startTestTemporal();
  cleanup.push(() => t.stop().finally(() => rm(t.stateDir, { recursive: true, force: true })));
  return { stateDir: t.stateDir, port: t.rec.port, address: t.address };
}

test('a run survives the Temporal server stopping and starting again on the same database', { timeout: 300_000 }, async () => {
  const { stateDir, port, address } = await temporalServer();
  const tq = `restart-${Date.now()}`;
  const w = await startWorkerProcess({ TEMPORAL_ADDRESS: address, CRLHF_TASK_QUEUE: tq, CRLHF_TEST_STEP_DELAY_MS: 'ppo:1000' });
  workers.push(w);
  let client: Client = await connectClient(temporalSettings(address));
  await client.workflow.start('experimentWorkflow', {
    taskQueue: queues(tq).workflow,
    workflowId: 'restart',
    args: [await experimentInput({ runName: 'restart', storeUri: `file://${stateDir}/store`, taskQueue: tq })],
  });
  await waitForHeartbeat(client, 'restart/ppo/ppo', 'ppoBlock', 1);
  await client.connection.close();

  assert.equal(await stopServer(stateDir, 'temporal'), true);
  await new Promise((r) => setTimeout(r, 2000));
  await startTestTemporal({ stateDir, port });

  client = await connectClient(temporalSettings(address));
  const summary = (await client.workflow.getHandle('restart').result()) as ExperimentSummary;
  assert.deepEqual(summary.arms.map((a) => a.name), ['sft', 'ppo', 'ppo-cr']);
  assert.equal(w.child.exitCode, null, 'the same worker process carried on');
  await client.connection.close();
});

test('after the store fails mid-run, crlhf resume completes it without redoing finished steps', { timeout: 300_000 }, async () => {
  const { address } = await temporalServer();

  const s3 = await startTestS3();
  cleanup.push(() => s3.stop());
  await s3.createBucket('runs');
  const tq = `storefail-${Date.now()}`;
  const env = { TEMPORAL_ADDRESS: address, CRLHF_TASK_QUEUE: tq, CRLHF_TEST_STEP_DELAY_MS: 'ppo:1500', ...s3.env };
  workers.push(await startWorkerProcess(env));
  const client = await connectClient(temporalSettings(address));
  cleanup.push(() => client.connection.close());
  const input = await experimentInput({ runName: 'storefail', storeUri: 's3://runs/exp', taskQueue: tq, attempts: 2 });
  const handle = await client.workflow.start('experimentWorkflow', { taskQueue: queues(tq).workflow, workflowId: 'storefail', args: [input] });
  await waitForHeartbeat(client, 'storefail/ppo/ppo', 'ppoBlock', 1);

  // The S3 server goes away: activities fail after their two attempts and the run fails.
  const creds = { accessKeyId: s3.env.AWS_ACCESS_KEY_ID!, secretAccessKey: s3.env.AWS_SECRET_ACCESS_KEY! };
  await stopServer(s3.stateDir, 's3');
  await assert.rejects(handle.result(), /Workflow execution failed/);
  const failedAt = new Date().toISOString();

  // Same data directory, same port and credentials: the store is back.
  const rec = await startS3Server({ stateDir: s3.stateDir, port: s3.rec.port, credentials: creds });
  Object.assign(process.env, s3Env(rec));
  const res = await runCli(['resume', 'storefail', '--json'], { ...env, ...s3Env(rec) });
  assert.equal(res.code, 0, res.stderr);
  const summary = JSON.parse(res.stdout) as ExperimentSummary;
  assert.deepEqual(summary.arms.map((a) => a.name), ['sft', 'ppo', 'ppo-cr']);

  const store = openStore('s3://runs/exp');
  for (const step of ['data', 'sft', 'reward-model', 'baselines-0', 'baselines-1', 'baseline-scores']) {
    const rec = await getJson<RunStepRecord>(store, layout.runStep('storefail', step));
    assert.equal(rec.reused, true, `${step} was reused by the resumed run`);
    const out = await getJson<StepOutput<unknown>>(store, layout.cacheOutput(rec.step, rec.hash));
    assert.ok(out.completedAt < failedAt, `${step} was computed once, before the failure`);
  }
  assert.match(res.stderr, /finished steps are reused/);
});

function runCli(args: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(REPO_ROOT, 'bin/crlhf.js'), ...args], { cwd: REPO_ROOT, env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}


test('cancelling a run stops PPO at the next iteration with a final checkpoint; resume continues from it', { timeout: 300_000 }, async () => {
  const { stateDir: temporalDir, address } = await temporalServer();
  const tq = `cancel-${Date.now()}`;
  // One block of 6 iterations, checkpointed only at its end: the only earlier checkpoint is the one
  // cancellation writes. Iterations are slowed so the cancel request (delivered with a heartbeat
  // response, throttled to 80% of the heartbeat timeout) arrives mid-block.
  const env = { TEMPORAL_ADDRESS: address, CRLHF_TASK_QUEUE: tq, CRLHF_TEST_STEP_DELAY_MS: 'ppo:3000' };
  workers.push(await startWorkerProcess(env));
  const client = await connectClient(temporalSettings(address));
  cleanup.push(() => client.connection.close());
  const storeDir = join(temporalDir, 'store');
  const input = await experimentInput({ runName: 'cancelled', storeUri: `file://${storeDir}`, taskQueue: tq, overrides: { 'ppo.iterations': 6, 'ppo.checkpoint_every': 6, 'ppo.block_iterations': 6 } });
  const handle = await client.workflow.start('experimentWorkflow', { taskQueue: queues(tq).workflow, workflowId: 'cancelled', args: [input] });
  await waitForHeartbeat(client, 'cancelled/ppo/ppo', 'ppoBlock', 1);
  await handle.cancel();
  await assert.rejects(handle.result(), /cancel/i);
  // The arm closes once its block has written the final checkpoint.
  await waitFor('the PPO arm to close as cancelled', async () => (await client.workflow.getHandle('cancelled/ppo/ppo').describe()).status.name === 'CANCELLED', 60_000, 200);
  const store = openStore(`file://${storeDir}`);
  const ckpts = (await store.list(`${layout.armDir('cancelled', 'ppo')}/checkpoints/`)).filter((o) => o.key.endsWith('MANIFEST.json'));
  assert.equal(ckpts.length, 1, 'one checkpoint, written on cancellation');
  const step = Number(/step-(\d+)/.exec(ckpts[0]!.key)![1]);
  assert.ok(step >= 1 && step < 6, `stopped at an iteration boundary (step ${step})`);

  // The rest at full speed: a new worker without the slow-down.
  await workers.at(-1)!.kill('SIGTERM');
  const fast = { TEMPORAL_ADDRESS: address, CRLHF_TASK_QUEUE: tq };
  workers.push(await startWorkerProcess(fast));
  const res = await runCli(['resume', 'cancelled', '--json'], fast);
  assert.equal(res.code, 0, res.stderr);
  const summary = JSON.parse(res.stdout) as ExperimentSummary;
  assert.deepEqual(summary.arms.map((a) => a.name), ['sft', 'ppo', 'ppo-cr']);
  const metrics = (await readFile(join(storeDir, layout.armDir('cancelled', 'ppo'), 'metrics.jsonl'), 'utf8')).trim().split('\n');
  assert.deepEqual(metrics.map((l) => (JSON.parse(l) as { iteration: number }).iteration), [1, 2, 3, 4, 5, 6], 'no iteration lost or repeated');
});
