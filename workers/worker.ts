// Worker processes: which task queues, which activities, how much concurrency.
// Workflows and light activities (data, judging, reports) poll `<prefix>` and
// `<prefix>-cpu`; tensor work (training, sampling, scoring) polls
// `<prefix>-gpu`, with as many slots as compute hosts (child processes, see
// activities/compute-pool.ts), so a worker never takes more than it can run.
import { fileURLToPath } from 'node:url';
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { bundleWorkflowCode, NativeConnection, Runtime, Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import * as activities from '../activities/index.js';
import { closeComputePool, computePool } from '../activities/compute-pool.js';
import { setStickyQueue } from '../activities/worker-info.js';
import { queues as queueNames, type TemporalSettings } from '../common/temporal.js';

export type QueueKind = 'workflow' | 'cpu' | 'gpu';
export const ALL_QUEUES: QueueKind[] = ['workflow', 'cpu', 'gpu'];

export interface WorkerOptions {
  settings: TemporalSettings;
  queues?: QueueKind[];
  /** Concurrent heavy activities (= compute hosts) in this process. */
  computeHosts?: number;
  cpuConcurrency?: number;
  /** Identity shown in the Web UI; also names this worker's own task queue. */
  identity?: string;
}

export interface RunningWorkers {
  identity: string;
  /** The worker-specific queue: PPO blocks are routed here to keep models in memory. */
  stickyQueue: string;
  shutdown(): Promise<void>;
  /** Resolves when every worker has stopped. */
  done: Promise<void>;
}

let bundle: Promise<WorkflowBundleWithSourceMap> | undefined;

/** Bundled once per process, shared by every Worker in it. */
export function workflowBundle(): Promise<WorkflowBundleWithSourceMap> {
  bundle ??= bundleWorkflowCode({
    workflowsPath: fileURLToPath(new URL('../workflows/index.ts', import.meta.url)),
    logger: { trace() {}, debug() {}, info() {}, warn: console.warn, error: console.error, log() {} } as never,
  });
  return bundle;
}

let runtimeInstalled = false;

function installRuntime(): void {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  try {
    Runtime.install({
      // Native (core) logs go through the logger below, to stderr: stdout stays clean for --json.
      telemetryOptions: { logging: { filter: { core: 'ERROR', other: 'ERROR' }, forward: {} } },
      logger: {
        log() {},
        trace() {},
        debug() {},
        info() {},
        warn: (m: string, meta?: unknown) => {
          // Activity-only queues are expected to have no workflows.
          if (!m.startsWith('No workflows registered')) console.warn(`[temporal] ${m}`, meta ?? '');
        },
        error: (m: string, meta?: unknown) => console.error(`[temporal] ${m}`, meta ?? ''),
      },
    });
  } catch {
    // Already installed by this process (tests create workers more than once).
  }
}

export async function startWorkers(opts: WorkerOptions): Promise<RunningWorkers> {
  installRuntime();
  const kinds = opts.queues ?? ALL_QUEUES;
  const names = queueNames(opts.settings.taskQueue);
  const identity = opts.identity ?? `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
  const stickyQueue = `${names.gpu}@${identity}`;
  setStickyQueue(stickyQueue);
  const connection = await NativeConnection.connect({ address: opts.settings.address });
  const computeHosts = opts.computeHosts ?? Number(process.env.CRLHF_COMPUTE_HOSTS ?? 1);
  computePool(computeHosts);
  const common = { connection, namespace: opts.settings.namespace, identity };
  const workers: Worker[] = [];
  if (kinds.includes('workflow')) {
    workers.push(
      await Worker.create({
        ...common,
        taskQueue: names.workflow,
        workflowBundle: await workflowBundle(),
        activities,
        maxConcurrentActivityTaskExecutions: opts.cpuConcurrency ?? 4,
      }),
    );
  }
  if (kinds.includes('cpu')) {
    workers.push(
      await Worker.create({ ...common, taskQueue: names.cpu, activities, maxConcurrentActivityTaskExecutions: opts.cpuConcurrency ?? 4 }),
    );
  }
  if (kinds.includes('gpu')) {
    for (const taskQueue of [names.gpu, stickyQueue]) {
      workers.push(
        await Worker.create({ ...common, taskQueue, activities, maxConcurrentActivityTaskExecutions: computeHosts }),
      );
    }
  }
  const done = Promise.all(workers.map((w) => w.run())).then(async () => {
    await closeComputePool();
    await connection.close();
  });
  return {
    identity,
    stickyQueue,
    done,
    async shutdown() {
      for (const w of workers) {
        if (w.getState() === 'RUNNING') w.shutdown();
      }
      await done;
    },
  };
}
