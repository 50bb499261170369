// Records the workflow histories that the replay test checks new workflow code
// against: runs the tiny experiment on a temporary Temporal server and saves
// the histories of the experiment and of one PPO arm. Run it (npm run
// record-histories) only when a workflow change is meant to be incompatible;
// otherwise use patched() so running workflows replay.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import proto from '@temporalio/proto';
import { REPO_ROOT } from '../common/dirs.js';
import { connectClient, queues, temporalSettings } from '../common/temporal.js';
import { startTemporalServer, stopServer } from '../infra/servers.js';
import { startWorkers } from '../workers/worker.js';
import { experimentInput } from '../test/helpers/pipeline.js';

const { temporal } = proto;

const stateDir = await mkdtemp(join(tmpdir(), 'crlhf-histories-'));
const rec = await startTemporalServer({ stateDir, preferDefaultPorts: false, headless: true });
const settings = temporalSettings(`${rec.host}:${rec.port}`);
const client = await connectClient(settings);
const workers = await startWorkers({ settings });
try {
  const input = await experimentInput({ runName: 'tiny', storeUri: `file://${join(stateDir, 'store')}`, taskQueue: settings.taskQueue, heartbeat: '60 seconds' });
  await client.workflow.execute('experimentWorkflow', { taskQueue: queues(settings.taskQueue).workflow, workflowId: 'tiny', args: [input] });
  for (const [id, file] of [['tiny', 'experiment-tiny.json'], ['tiny/ppo/ppo-cr', 'ppo-tiny.json']] as const) {
    const history = await client.workflow.getHandle(id).fetchHistory();
    // Plain JSON (int64 and enums as strings, bytes as base64) that History.fromObject reads back.
    const json = temporal.api.history.v1.History.toObject(temporal.api.history.v1.History.fromObject(history), { longs: String, enums: String, bytes: String });
    await writeFile(join(REPO_ROOT, 'test/fixtures/histories', file), `${JSON.stringify(json)}\n`);
    console.log(`recorded ${id}: ${history.events?.length} events`);
  }
} finally {
  await workers.shutdown();
  await client.connection.close();
  await stopServer(stateDir, 'temporal');
  await rm(stateDir, { recursive: true, force: true });
}
