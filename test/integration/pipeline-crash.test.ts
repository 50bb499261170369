// Crash and resume against the real Temporal server: workers SIGKILLed during
// baseline sampling and during PPO, and the run still ends with exactly the
// numbers of an uninterrupted run with the same seed on the same backend.
import assert from 'node:assert/strict';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Client } from '@temporalio/client';
import { connectClient, queues, temporalSettings } from '../../common/temporal.js';
import { layout } from '../../pipeline/layout.js';
import type { ExperimentSummary } from '../../pipeline/summary.js';
import { startTestTemporal, tempDir } from '../helpers/servers.js';
import { startWorkerProcess, type WorkerProcess } from '../helpers/worker-process.js';
import { experimentInput, waitForHeartbeat } from '../helpers/pipeline.js';

let temporal: Awaited<ReturnType<typeof startTestTemporal>>;
let client: Client;
let dir: string;
const workers: WorkerProcess[] = [];

before(async () => {
  temporal = await startTestTemporal();
  client = await connectClient(temporalSettings(temporal.address));
  dir = await tempDir('crlhf-crash-');
});

after(async () => {
  for (const w of workers) await w.kill();
  await client?.connection.close();
  await temporal?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

// Enough baseline rows for two chunks per shard; a pause after each chunk and PPO iteration gives the test time to kill.
const OVERRIDES = { 'baselines.k': 4, 'ppo.iterations': 4 };

async function worker(taskQueue: string): Promise<WorkerProcess> {
  const w = await startWorkerProcess({
    TEMPORAL_ADDRESS: temporal.address,
    CRLHF_TASK_QUEUE: taskQueue,
    CRLHF_TEST_STEP_DELAY_MS: 'baselines:1500,ppo:1500',
  });
  workers.push(w);
  return w;
}

async function readJsonl(path: string): Promise<Record<string, number>[]> {
  return (await readFile(path, 'utf8'))
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, number>);
}

/** Training metrics without wall-clock timings (every `…Ms` field, so a new timing cannot break the comparison). */
async function trainingCurve(storeDir: string, run: string, arm: string) {
  const rows = await readJsonl(join(storeDir, layout.armDir(run, arm), 'metrics.jsonl'));
  return rows.map((row) => Object.fromEntries(Object.entries(row).filter(([k]) => !k.endsWith('Ms'))));
}

test('a run killed during baseline sampling and during PPO ends with the numbers of an uninterrupted run', { timeout: 600_000 }, async () => {
  const tq = `crash-${Date.now()}`;
  const killedStore = join(dir, 'killed');
  const cleanStore = join(dir, 'clean');

  let w = await worker(tq);
  const input = await experimentInput({ runName: 'killed', storeUri: `file://${killedStore}`, taskQueue: tq, overrides: OVERRIDES });
  const handle = await client.workflow.start('experimentWorkflow', { taskQueue: queues(tq).workflow, workflowId: 'killed', args: [input] });

  await waitForHeartbeat(client, 'killed', 'sampleBaselineShardStep', 64);
  await w.kill('SIGKILL');
  w = await worker(tq);

  const ppoId = 'killed/ppo/ppo-cr';
  await waitForHeartbeat(client, ppoId, 'ppoBlock', 1);
  await w.kill('SIGKILL');
  await worker(tq);
  const killed = (await handle.result()) as ExperimentSummary;

  // Did the kills land where intended? Shards kept finished chunks; PPO continued from a checkpoint.
  const shards = await Promise.all(
    [0, 1].map(async (i) => JSON.parse(await readFile(join(killedStore, layout.runStep('killed', `baselines-${i}`)), 'utf8')) as { hash: string }),
  );
  const reusedChunks = await Promise.all(
    shards.map(async (s) => (JSON.parse(await readFile(join(killedStore, layout.cacheOutput('baselines', s.hash)), 'utf8')) as { result: { chunksReused: number } }).result.chunksReused),
  );
  assert.ok(reusedChunks.some((n) => n >= 1), `a retried shard kept its finished chunks (reused: ${reusedChunks})`);

  const clean = (await client.workflow.execute('experimentWorkflow', {
    taskQueue: queues(tq).workflow,
    workflowId: 'clean',
    args: [await experimentInput({ runName: 'clean', storeUri: `file://${cleanStore}`, taskQueue: tq, overrides: OVERRIDES })],
  })) as ExperimentSummary;

  assert.deepEqual(killed.arms, clean.arms, 'per-arm evaluation metrics equal');
  assert.deepEqual(killed.winRates, clean.winRates, 'win rates equal');
  for (const arm of ['ppo', 'ppo-cr']) {
    assert.deepEqual(await trainingCurve(killedStore, 'killed', arm), await trainingCurve(cleanStore, 'clean', arm), `${arm} training curve equal`);
  }
  const tables = await Promise.all(
    [killedStore, cleanStore].map(async (s) => {
      const rec = JSON.parse(await readFile(join(s, layout.runStep(s === killedStore ? 'killed' : 'clean', 'baseline-scores')), 'utf8')) as { hash: string };
      const table = JSON.parse(await readFile(join(s, layout.cacheDir('baseline-scores', rec.hash), 'baseline_table.json'), 'utf8')) as { prompts: unknown[] };
      return JSON.stringify(table.prompts);
    }),
  );
  assert.ok(tables[0] === tables[1], 'per-prompt baseline rewards identical');
});
