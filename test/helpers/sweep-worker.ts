// Workers for the sweep tests: the three task queues of workers/worker.ts,
// with the sweep workflow and activity registered beside the pipeline's.
// In-process (`startSweepWorkers`) or as a child process that a test can
// SIGKILL (`startSweepWorkerProcess`; this file is its entry point).
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundleWorkflowCode, NativeConnection, Runtime, Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import * as pipelineActivities from '../../activities/index.js';
import { closeComputePool, computePool } from '../../activities/compute-pool.js';
import { setStickyQueue } from '../../activities/worker-info.js';
import { REPO_ROOT } from '../../common/dirs.js';
import { queues } from '../../common/temporal.js';
import * as sweepActivities from '../../sweep/activities.js';

const activities = { ...pipelineActivities, ...sweepActivities };
let runtimeInstalled = false;

function quietRuntime(): void {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  try {
    Runtime.install({
      logger: {
        log() {},
        trace() {},
        debug() {},
        info() {},
        warn: (m: string) => /No workflows registered|No activities registered|unhandled signal|Workflow failed|Activity failed/i.test(m) || console.warn(`[temporal] ${m}`),
        error: (m: string) => console.error(`[temporal] ${m}`),
      },
    });
  } catch {
    // Installed already in this process.
  }
}

export interface SweepWorkers {
  identity: string;
  shutdown(): Promise<void>;
}

const bundles = new Map<string, Promise<WorkflowBundleWithSourceMap>>();

/** The real workflows, or (`fake`) the sweep with a stand-in experiment that only sleeps. */
function workflowBundle(fake: boolean): Promise<WorkflowBundleWithSourceMap> {
  const file = fake ? './sweep-fake-workflows.ts' : './sweep-workflows.ts';
  let b = bundles.get(file);
  if (!b) {
    b = bundleWorkflowCode({
      workflowsPath: fileURLToPath(new URL(file, import.meta.url)),
      logger: { trace() {}, debug() {}, info() {}, warn() {}, error: console.error, log() {} } as never,
    });
    bundles.set(file, b);
  }
  return b;
}

export async function startSweepWorkers(opts: { address: string; taskQueue: string; computeHosts?: number; fakeExperiments?: boolean }): Promise<SweepWorkers> {
  quietRuntime();
  const bundle = workflowBundle(Boolean(opts.fakeExperiments));
  const names = queues(opts.taskQueue);
  const identity = `sweep-test-${process.pid}-${randomBytes(3).toString('hex')}`;
  const sticky = `${names.gpu}@${identity}`;
  setStickyQueue(sticky);
  const hosts = opts.computeHosts ?? 1;
  computePool(hosts);
  const connection = await NativeConnection.connect({ address: opts.address });
  const common = { connection, identity, activities };
  const workers = [
    await Worker.create({ ...common, taskQueue: names.workflow, workflowBundle: await bundle, maxConcurrentActivityTaskExecutions: 4 }),
    await Worker.create({ ...common, taskQueue: names.cpu, maxConcurrentActivityTaskExecutions: 4 }),
    await Worker.create({ ...common, taskQueue: names.gpu, maxConcurrentActivityTaskExecutions: hosts }),
    await Worker.create({ ...common, taskQueue: sticky, maxConcurrentActivityTaskExecutions: hosts }),
  ];
  const done = Promise.all(workers.map((w) => w.run())).then(async () => {
    await closeComputePool();
    await connection.close();
  });
  return {
    identity,
    async shutdown() {
      for (const w of workers) if (w.getState() === 'RUNNING') w.shutdown();
      await done;
    },
  };
}

export interface SweepWorkerProcess {
  child: ChildProcess;
  output(): string;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

/** A worker in a child process: SIGKILL it to lose everything it had in memory. */
export async function startSweepWorkerProcess(env: { TEMPORAL_ADDRESS: string; CRLHF_TASK_QUEUE: string } & Record<string, string>): Promise<SweepWorkerProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url)], {
    cwd: REPO_ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  await new Promise<void>((ok, fail) => {
    const timer = setTimeout(() => fail(new Error(`sweep worker did not start in 90s:\n${out}`)), 90_000);
    const onExit = (code: number | null) => {
      clearTimeout(timer);
      fail(new Error(`sweep worker exited with ${code}:\n${out}`));
    };
    child.once('exit', onExit);
    const check = () => {
      if (!out.includes('polling')) return;
      clearTimeout(timer);
      child.stdout!.off('data', check);
      child.off('exit', onExit);
      ok();
    };
    child.stdout!.on('data', check);
  });
  return {
    child,
    output: () => out,
    async kill(signal: NodeJS.Signals = 'SIGKILL') {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill(signal);
      await exited;
    },
  };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const w = await startSweepWorkers({ address: process.env.TEMPORAL_ADDRESS!, taskQueue: process.env.CRLHF_TASK_QUEUE! });
  process.stdout.write(`sweep worker ${w.identity} polling ${process.env.CRLHF_TASK_QUEUE}\n`);
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => void w.shutdown().then(() => process.exit(0)));
}
