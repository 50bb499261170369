// `crlhf worker`: polls the task queues until interrupted (or until one workflow closes).
import { stateDir } from '../common/dirs.js';
import { UsageError } from '../common/errors.js';
import { connectClient, temporalSettings, type TemporalSettings } from '../common/temporal.js';
import { ensureTemporalServer } from '../infra/servers.js';
import { ALL_QUEUES, startWorkers, type QueueKind } from '../workers/worker.js';

/** TEMPORAL_ADDRESS, or the embedded server (the background worker of `run --detach`). */
async function workerSettings(say: (msg: string) => void): Promise<TemporalSettings> {
  if (process.env.TEMPORAL_ADDRESS) return temporalSettings();
  const rec = await ensureTemporalServer({ stateDir: stateDir(), say });
  return temporalSettings(`${rec.host}:${rec.port}`);
}

async function shutdownWhenClosed(settings: TemporalSettings, workflowId: string, shutdown: () => Promise<void>): Promise<void> {
  const client = await connectClient(settings);
  for (;;) {
    await new Promise((r) => setTimeout(r, 5000));
    const desc = await client.workflow.getHandle(workflowId).describe().catch(() => null);
    if (desc && desc.status.name !== 'RUNNING') break;
  }
  await client.connection.close();
  await shutdown();
}

export async function workerCommand(opts: { queues: string; computeHosts?: number; until?: string }, say: (msg: string) => void): Promise<void> {
  const kinds = opts.queues.split(',').map((q) => q.trim()) as QueueKind[];
  for (const k of kinds) if (!ALL_QUEUES.includes(k)) throw new UsageError(`unknown queue "${k}"; expected some of ${ALL_QUEUES.join(', ')}`);
  const settings = await workerSettings(say);
  const running = await startWorkers({ settings, queues: kinds, computeHosts: opts.computeHosts });
  say(`worker ${running.identity} polling ${kinds.join(',')} on ${settings.address} (task queue prefix ${settings.taskQueue})`);
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => void running.shutdown());
  if (opts.until) void shutdownWhenClosed(settings, opts.until, running.shutdown);
  await running.done;
}
