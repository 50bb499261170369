// `npm run bench:pipeline`: what orchestration costs and what a second worker buys.
//
// 1. Overhead: the same experiment (default examples/quickstart.yaml) through
//    Temporal (a real local server, an in-process worker, compute hosts, a
//    file store) against the same pipeline steps called directly in one
//    process with no orchestration. Fresh stores, so nothing is reused;
//    repetitions interleave the two; the ratio of medians is the overhead.
// 2. Scaling: the baseline-sampling stage with one worker process against two
//    (each with one compute host), timed from workflow history.
//
// Options: --config <file> (default the quickstart), --quick (the tiny test
// config), --reps N (default 1), --skip overhead|scaling, --out <file.json>.
import { mkdirSync, writeFileSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { tmpdir, cpus } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { mkdtemp } from 'node:fs/promises';
import type { Client } from '@temporalio/client';
import { REPO_ROOT } from '../common/dirs.js';
import { connectClient, queues, temporalSettings } from '../common/temporal.js';
import { parseConfig } from '../config/load.js';
import { startTemporalServer, stopServer } from '../infra/servers.js';
import { directContext } from '../pipeline/context.js';
import { prepareData } from '../pipeline/data.js';
import { trainSft } from '../pipeline/sft.js';
import { trainRewardModel } from '../pipeline/reward-model.js';
import { sampleBaselineShard, scoreBaselines } from '../pipeline/baselines.js';
import { finalizeArm, ppoBlock } from '../pipeline/ppo.js';
import { generateEval } from '../pipeline/evaluate.js';
import { judgeArms } from '../pipeline/judging.js';
import { writeReport } from '../pipeline/report.js';
import { summarize } from '../pipeline/summary.js';
import { makePlan, type Plan } from '../pipeline/plan.js';
import { cachedStep } from '../pipeline/steps.js';
import { recordRun } from '../pipeline/run-record.js';
import { openStore } from '../storage/index.js';
import { startWorkers } from '../workers/worker.js';
import type { ExperimentInput } from '../workflows/experiment.js';
import { startWorkerProcess } from '../test/helpers/worker-process.js';

interface Options {
  config: string;
  reps: number;
  skip: Set<string>;
  out?: string;
}

function parseArgs(argv: string[]): Options {
  const o: Options = { config: join(REPO_ROOT, 'examples/quickstart.yaml'), reps: 1, skip: new Set() };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--config') o.config = argv[++i]!;
    else if (a === '--quick') o.config = join(REPO_ROOT, 'test/fixtures/configs/tiny.yaml');
    else if (a === '--reps') o.reps = Number(argv[++i]);
    else if (a === '--skip') o.skip.add(argv[++i]!);
    else if (a === '--out') o.out = argv[++i];
    else throw new Error(`unknown option ${a}; see the header of bench/pipeline.ts`);
  }
  return o;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function input(file: string, runName: string, storeUri: string, taskQueue: string, overrides: Record<string, unknown> = {}): Promise<ExperimentInput> {
  const source = await readFile(file, 'utf8');
  const config = parseConfig(source, file, { ...overrides, name: runName });
  return { runName, storeUri, taskQueue, config, configSource: source, timeouts: { heartbeat: '60 seconds', attempts: 3 } };
}

/** Every step of the experiment workflow, in order, in this process. */
async function runDirect(plan: Plan, configSource: string): Promise<number> {
  const t0 = performance.now();
  const ctx = directContext();
  const store = openStore(plan.storeUri);
  await recordRun(plan, configSource);
  await cachedStep(store, plan.runName, plan.steps.data, 1, () => prepareData(store, plan.steps.data.dir, plan.config));
  await trainSft({ plan }, ctx);
  await trainRewardModel({ plan }, ctx);
  for (let shard = 0; shard < plan.steps.baselineShards.length; shard++) await sampleBaselineShard({ plan, shard }, ctx);
  await scoreBaselines({ plan }, ctx);
  const arms = [];
  for (const arm of plan.arms) {
    for (let it = 0; it < plan.config.ppo.iterations; it += plan.config.ppo.block_iterations) {
      await ppoBlock({ plan, arm: arm.name, until: Math.min(plan.config.ppo.iterations, it + plan.config.ppo.block_iterations) }, ctx);
    }
    arms.push(await finalizeArm({ plan, arm: arm.name }));
  }
  const evaluation = await judgeArms(plan, await generateEval({ plan }, ctx), ctx);
  const report = await writeReport(plan, { workflowId: plan.runName });
  await summarize({ plan, arms, evaluation, report });
  return (performance.now() - t0) / 1000;
}

async function withServer<T>(fn: (client: Client, address: string, stateDir: string) => Promise<T>): Promise<T> {
  const stateDir = await mkdtemp(join(tmpdir(), 'crlhf-bench-'));
  const rec = await startTemporalServer({ stateDir, preferDefaultPorts: false, headless: true });
  const address = `${rec.host}:${rec.port}`;
  const client = await connectClient(temporalSettings(address));
  try {
    return await fn(client, address, stateDir);
  } finally {
    await client.connection.close();
    await stopServer(stateDir, 'temporal');
    await rm(stateDir, { recursive: true, force: true });
  }
}

async function overhead(opts: Options) {
  const temporal: number[] = [];
  const direct: number[] = [];
  await withServer(async (client, address, stateDir) => {
    const workers = await startWorkers({ settings: temporalSettings(address) });
    try {
      for (let r = 0; r < opts.reps; r++) {
        const tq = 'crlhf';
        const inOrch = await input(opts.config, `bench-t${r}`, `file://${join(stateDir, `store-t${r}`)}`, tq);
        const t0 = performance.now();
        await client.workflow.execute('experimentWorkflow', { taskQueue: queues(tq).workflow, workflowId: inOrch.runName, args: [inOrch] });
        temporal.push((performance.now() - t0) / 1000);
        console.error(`[bench] temporal run ${r + 1}: ${temporal[r]!.toFixed(1)} s`);
        const inDirect = await input(opts.config, `bench-d${r}`, `file://${join(stateDir, `store-d${r}`)}`, tq);
        direct.push(await runDirect(makePlan(inDirect), inDirect.configSource));
        console.error(`[bench] direct run ${r + 1}: ${direct[r]!.toFixed(1)} s`);
      }
    } finally {
      await workers.shutdown();
    }
  });
  const t = median(temporal);
  const d = median(direct);
  return { temporalSeconds: temporal, directSeconds: direct, medianTemporal: t, medianDirect: d, overhead: t / d - 1 };
}

/** Wall time of the baseline-sampling stage, from the first shard scheduled to the last one completed. */
async function baselineStageSeconds(client: Client, workflowId: string): Promise<number> {
  const history = await client.workflow.getHandle(workflowId).fetchHistory();
  const byId = new Map<string, string>();
  let first = Infinity;
  let last = 0;
  for (const e of history.events ?? []) {
    const ms = Number(e.eventTime?.seconds ?? 0) * 1000 + Math.round((e.eventTime?.nanos ?? 0) / 1e6);
    const sched = e.activityTaskScheduledEventAttributes;
    if (sched?.activityType?.name === 'sampleBaselineShardStep') {
      byId.set(String(e.eventId), 'shard');
      first = Math.min(first, ms);
    }
    const done = e.activityTaskCompletedEventAttributes;
    if (done && byId.has(String(done.scheduledEventId))) last = Math.max(last, ms);
  }
  return (last - first) / 1000;
}

async function scaling(opts: Options) {
  const results: Record<'one' | 'two', number[]> = { one: [], two: [] };
  await withServer(async (client, address, stateDir) => {
    const store = `file://${join(stateDir, 'store')}`;
    // Data, SFT and the reward model once; every timed run samples fresh baselines
    // (a different temperature in the 4th decimal makes a new baseline step).
    const tq = 'scale';
    // Each worker stands for a one-core machine (one rank on one TensorFlow
    // thread), so the second one adds a core instead of sharing the first's.
    const env = { TEMPORAL_ADDRESS: address, CRLHF_TASK_QUEUE: tq, CRLHF_THREADS: '1', TF_NUM_INTRAOP_THREADS: '1' };
    let n = 0;
    const sample = async (name: string) => {
      const run = await input(opts.config, name, store, tq, { 'baselines.shards': 2, 'baselines.temperature': 1 - 1e-4 * n++ });
      await client.workflow.execute('experimentWorkflow', { taskQueue: queues(tq).workflow, workflowId: run.runName, args: [{ ...run, stopAfter: 'baseline_scoring' }] });
      return baselineStageSeconds(client, run.runName);
    };
    const workers = [await startWorkerProcess(env)];
    try {
      await sample('scale-prep'); // also warms the first worker's compute host
      for (let r = 0; r < opts.reps; r++) results.one.push(await sample(`scale-one-${r}`));
      workers.push(await startWorkerProcess(env));
      await sample('scale-warm'); // the second worker's compute host loads TensorFlow and the SFT model
      for (let r = 0; r < opts.reps; r++) results.two.push(await sample(`scale-two-${r}`));
      console.error(`[bench] baseline sampling: one worker ${results.one.map((x) => x.toFixed(1)).join(' ')} s, two workers ${results.two.map((x) => x.toFixed(1)).join(' ')} s`);
    } finally {
      for (const w of workers) await w.kill('SIGTERM');
    }
  });
  const one = median(results.one);
  const two = median(results.two);
  return { oneWorkerSeconds: results.one, twoWorkersSeconds: results.two, medianOne: one, medianTwo: two, speedup: one / two };
}

export async function runPipelineBench(argv: string[]): Promise<number> {
  const opts = parseArgs(argv);
  const out: Record<string, unknown> = { config: opts.config, reps: opts.reps, cores: cpus().length, node: process.version, at: new Date().toISOString() };
  if (!opts.skip.has('overhead')) out.overhead = await overhead(opts);
  if (!opts.skip.has('scaling')) out.scaling = await scaling(opts);
  const o = out.overhead as Awaited<ReturnType<typeof overhead>> | undefined;
  const s = out.scaling as Awaited<ReturnType<typeof scaling>> | undefined;
  const rows: string[][] = [['measure', 'value', 'runs', 'target']];
  if (o) {
    rows.push(['experiment through Temporal (median s)', o.medianTemporal.toFixed(1), o.temporalSeconds.map((x) => x.toFixed(1)).join(' '), '']);
    rows.push(['same steps called directly (median s)', o.medianDirect.toFixed(1), o.directSeconds.map((x) => x.toFixed(1)).join(' '), '']);
    rows.push(['orchestration overhead', `${(100 * o.overhead).toFixed(1)}%`, '', '< 5%']);
  }
  if (s) {
    rows.push(['baseline sampling, 1 worker process (median s)', s.medianOne.toFixed(1), s.oneWorkerSeconds.map((x) => x.toFixed(1)).join(' '), '']);
    rows.push(['baseline sampling, 2 worker processes (median s)', s.medianTwo.toFixed(1), s.twoWorkersSeconds.map((x) => x.toFixed(1)).join(' '), '']);
    rows.push(['speed-up', `${s.speedup.toFixed(2)}×`, '', '≥ 1.7×']);
  }
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  for (const r of rows) console.log(r.map((x, c) => x.padEnd(widths[c]!)).join('  '));
  const dir = fileURLToPath(new URL('./results/', import.meta.url));
  mkdirSync(dir, { recursive: true });
  const file = opts.out ?? join(dir, `pipeline-${new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19)}Z.json`);
  writeFileSync(file, `${JSON.stringify(out, null, 2)}\n`);
  console.log(`results: ${file}`);
  return 0;
}
