// Temporal wiring proven for real: a workflow with two activities runs on a
// worker process; the worker is SIGKILLed while the compute activity
// heartbeats; a new worker picks it up and the activity resumes from its
// last heartbeat details.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { defaultPayloadConverter } from '@temporalio/common';
import type { Client } from '@temporalio/client';
import { connectClient, queues, temporalSettings } from '../../common/temporal.js';
import { startTestTemporal, tempDir } from '../helpers/servers.js';
import { startWorkerProcess, type WorkerProcess } from '../helpers/worker-process.js';

let temporal: Awaited<ReturnType<typeof startTestTemporal>>;
let client: Client;
const workers: WorkerProcess[] = [];

before(async () => {
  temporal = await startTestTemporal();
  client = await connectClient(temporalSettings(temporal.address));
});

after(async () => {
  for (const w of workers) await w.kill();
  await client?.connection.close();
  await temporal?.stop();
});

function expectedDigest(steps: number): number {
  let acc = 0;
  for (let s = 0; s < steps; s++) acc = (acc * 31 + s + 1) % 1_000_003;
  return acc;
}

async function heartbeatStep(workflowId: string): Promise<number> {
  const desc = await client.workflow.getHandle(workflowId).describe();
  const pending = desc.raw.pendingActivities?.[0];
  const payload = pending?.heartbeatDetails?.payloads?.[0];
  if (!payload) return 0;
  return (defaultPayloadConverter.fromPayload(payload as never) as { step: number } | undefined)?.step ?? 0;
}

test('the compute activity resumes from its heartbeat after the worker is SIGKILLed', { timeout: 180_000 }, async () => {
  const taskQueue = `kill-${Date.now()}`;
  const env = { TEMPORAL_ADDRESS: temporal.address, CRLHF_TASK_QUEUE: taskQueue };
  const storeDir = await tempDir('crlhf-doctor-store-');
  workers.push(await startWorkerProcess(env));
  const handle = await client.workflow.start('doctorWorkflow', {
    taskQueue: queues(taskQueue).workflow,
    workflowId: `doctor-kill-${Date.now()}`,
    args: [{ storeUri: `file://${storeDir}`, steps: 16, stepMs: 250, computeQueue: queues(taskQueue).gpu, heartbeatTimeout: '3 seconds' }],
  });

  let step = 0;
  const deadline = Date.now() + 60_000;
  while (step < 5 && Date.now() < deadline) {
    await sleep(200);
    step = await heartbeatStep(handle.workflowId);
  }
  assert.ok(step >= 5, `activity heartbeated up to step ${step}`);
  const firstPid = workers[0]!.child.pid!;
  await workers[0]!.kill('SIGKILL');
  assert.throws(() => process.kill(firstPid, 0), 'first worker is gone');

  workers.push(await startWorkerProcess(env));
  const result = await handle.result();
  assert.equal(result.compute.steps, 16);
  assert.ok(result.compute.resumedFrom >= step, `resumed from ${result.compute.resumedFrom}, last seen heartbeat ${step}`);
  assert.ok(result.compute.resumedFrom < 16);
  assert.ok(result.compute.attempt >= 2);
  assert.equal(result.compute.digest, expectedDigest(16), 'progress carried over exactly');
  assert.equal(result.compute.matmulOk, true);
  assert.equal(result.store.roundTrip, true);
});

test('a long synchronous tensor block does not starve heartbeats (heartbeat timeout 2 s, 4 s blocks)', { timeout: 120_000 }, async () => {
  const taskQueue = `block-${Date.now()}`;
  const storeDir = await tempDir('crlhf-doctor-store-');
  workers.push(await startWorkerProcess({ TEMPORAL_ADDRESS: temporal.address, CRLHF_TASK_QUEUE: taskQueue }));
  const result = await client.workflow.execute('doctorWorkflow', {
    taskQueue: queues(taskQueue).workflow,
    workflowId: `doctor-block-${Date.now()}`,
    args: [{ storeUri: `file://${storeDir}`, steps: 3, stepMs: 0, blockMs: 4000, computeQueue: queues(taskQueue).gpu, heartbeatTimeout: '2 seconds' }],
  });
  assert.equal(result.compute.steps, 3);
  assert.equal(result.compute.attempt, 1, 'no heartbeat timeout, no retry');
});
