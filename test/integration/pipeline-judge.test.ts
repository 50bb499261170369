// The LLM judge inside a run: an OpenAI-compatible test double on loopback,
// a worker SIGKILLed in the middle of judging (no ordered call is paid for
// twice once answered: the judgment cache in the store serves it), and the
// API key never appears in workflow history or in the store.
import assert from 'node:assert/strict';
import { readdir, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Client } from '@temporalio/client';
import { connectClient, queues, temporalSettings } from '../../common/temporal.js';
import { evaluationKey, type EvaluationResult } from '../../pipeline/judging.js';
import { getJson, openStore } from '../../storage/index.js';
import { startFakeOpenAI, type FakeOpenAI } from '../unit/judges/fake-openai.js';
import { startTestTemporal, tempDir } from '../helpers/servers.js';
import { startWorkerProcess, type WorkerProcess } from '../helpers/worker-process.js';
import { experimentInput, waitFor } from '../helpers/pipeline.js';

const KEY = 'sk-test-NEVER-IN-HISTORY-7d41c0e2a9';
let temporal: Awaited<ReturnType<typeof startTestTemporal>>;
let client: Client;
let fake: FakeOpenAI;
let dir: string;
const workers: WorkerProcess[] = [];

before(async () => {
  temporal = await startTestTemporal();
  client = await connectClient(temporalSettings(temporal.address));
  // The longer answer wins, with a delay so judging takes long enough to interrupt.
  fake = await startFakeOpenAI({
    delayMs: 120,
    rule: (req) => ({ kind: 'verdict', label: req.shownA.length >= req.shownB.length ? 'A' : 'B', explanation: 'longer is better' }),
  });
  dir = await tempDir('crlhf-judge-');
});

after(async () => {
  for (const w of workers) await w.kill();
  await client?.connection.close();
  await fake?.close();
  await temporal?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function filesUnder(root: string): Promise<string[]> {
  const out: string[] = [];
  for (const name of await readdir(root)) {
    const p = join(root, name);
    if ((await stat(p)).isDirectory()) out.push(...(await filesUnder(p)));
    else out.push(p);
  }
  return out;
}

test('judging survives a killed worker without paying twice, and the key stays out of history and store', { timeout: 300_000 }, async () => {
  const tq = `judge-${Date.now()}`;
  const env = { TEMPORAL_ADDRESS: temporal.address, CRLHF_TASK_QUEUE: tq, CRLHF_TEST_JUDGE_KEY: KEY };
  const storeDir = join(dir, 'store');
  workers.push(await startWorkerProcess(env));
  const input = await experimentInput({
    runName: 'judged',
    storeUri: `file://${storeDir}`,
    taskQueue: tq,
    overrides: {
      'evaluation.judges': ['oracle', 'llm'],
      'evaluation.llm': { base_url: fake.baseUrl, model: 'fake-judge', api_key_env: 'CRLHF_TEST_JUDGE_KEY', concurrency: 2, backoff_base_ms: 10 },
    },
  });
  const handle = await client.workflow.start('experimentWorkflow', { taskQueue: queues(tq).workflow, workflowId: 'judged', args: [input] });

  await waitFor('20 judge calls', async () => fake.requests.length >= 20, 240_000, 20);
  await workers[0]!.kill('SIGKILL');
  const beforeKill = fake.requests.length;
  workers.push(await startWorkerProcess(env));
  await handle.result();

  const evaluation = await getJson<EvaluationResult>(openStore(`file://${storeDir}`), evaluationKey(input as never));
  const llm = evaluation.comparisons.filter((c) => c.judge.startsWith('llm:'));
  const pairs = llm.reduce((n, c) => n + c.stats.n + c.stats.errors, 0);
  assert.equal(pairs, 3 * input.config.data.eval_prompts, 'every pair of the three comparisons was judged');
  // Identical texts make identical calls (the cache key is the content), so count distinct shown orders.
  const shown = new Set<string>();
  for (const line of (await readFile(join(storeDir, 'runs/judged/eval/pairs.jsonl'), 'utf8')).trim().split('\n')) {
    const p = JSON.parse(line) as { prompt: string; responseA: string; responseB: string };
    shown.add(JSON.stringify([p.prompt, p.responseA, p.responseB]));
    shown.add(JSON.stringify([p.prompt, p.responseB, p.responseA]));
  }
  const distinct = new Set(fake.requests.map((r) => r.rawBody)).size;
  assert.equal(distinct, shown.size, 'each distinct pair judged in both orders, once');
  const repeated = fake.requests.length - distinct;
  assert.ok(repeated <= 2, `only calls in flight at the kill (concurrency 2) were repeated, got ${repeated}`);
  assert.ok(evaluation.llm!.usage.cacheHits! >= beforeKill - 2, `answered calls came from the cache after the restart (hits ${evaluation.llm!.usage.cacheHits}, answered before kill ≥ ${beforeKill - 2})`);

  assert.equal(fake.requests[0]!.headers.authorization, `Bearer ${KEY}`, 'the key is sent to the judge endpoint');
  for (const id of ['judged', 'judged/ppo/ppo', 'judged/ppo/ppo-cr']) {
    const history = JSON.stringify(await client.workflow.getHandle(id).fetchHistory());
    assert.ok(history.length > 1000);
    assert.ok(!history.includes(KEY) && !history.includes(Buffer.from(KEY).toString('base64')), `the key is not in the history of ${id}`);
  }
  for (const f of await filesUnder(storeDir)) {
    assert.ok(!(await readFile(f, 'utf8')).includes(KEY), `the key is not in ${f}`);
  }
});
