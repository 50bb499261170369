// A compute host: a child process of the worker that runs tensor-heavy jobs,
// so the worker's event loop (heartbeats, completions, workflow tasks) never
// waits on TensorFlow's synchronous ops. It keeps loaded models between jobs.
import type { JobContext, JobFn } from './jobs/types.js';
import { JOBS, type JobName } from './jobs/index.js';

interface RunMsg {
  type: 'run';
  id: number;
  job: JobName;
  input: unknown;
  heartbeatDetails: unknown;
  attempt: number;
}
interface CancelMsg {
  type: 'cancel';
  id: number;
}

const cache = new Map<string, unknown>();
const running = new Map<number, AbortController>();

function send(msg: unknown): void {
  process.send?.(msg);
}

function serializeError(err: unknown) {
  const e = err as Error & { retryable?: boolean; permanent?: boolean; file?: string; line?: number; field?: string; uri?: string };
  return {
    name: e?.name ?? 'Error',
    message: e?.message ?? String(err),
    stack: e?.stack,
    retryable: typeof e?.retryable === 'boolean' ? e.retryable : undefined,
    file: e?.file,
    line: e?.line,
    field: e?.field,
    uri: e?.uri,
  };
}

async function run(msg: RunMsg): Promise<void> {
  const ac = new AbortController();
  running.set(msg.id, ac);
  const ctx: JobContext = {
    heartbeatDetails: msg.heartbeatDetails,
    attempt: msg.attempt,
    signal: ac.signal,
    heartbeat: (details) => send({ type: 'heartbeat', id: msg.id, details }),
    log: (m, fields) => send({ type: 'log', id: msg.id, msg: m, fields }),
    cache,
  };
  try {
    const load = JOBS[msg.job];
    if (!load) throw new Error(`unknown compute job "${msg.job}"`);
    const fn = (await load()) as JobFn;
    const result = await fn(msg.input, ctx);
    send({ type: 'done', id: msg.id, result });
  } catch (err) {
    send({ type: 'error', id: msg.id, error: serializeError(err) });
  } finally {
    running.delete(msg.id);
  }
}

process.on('message', (msg: RunMsg | CancelMsg) => {
  if (msg.type === 'run') void run(msg);
  else if (msg.type === 'cancel') running.get(msg.id)?.abort();
});
// The worker died (even by SIGKILL): do not outlive it.
process.on('disconnect', () => process.exit(0));
send({ type: 'ready', pid: process.pid });
