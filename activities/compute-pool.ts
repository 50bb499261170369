// The worker side of compute hosts: a small pool of child processes that run
// tensor-heavy jobs. Inside an activity, `runJob` relays the job's heartbeats
// to Temporal, re-sends the last heartbeat every few seconds while the host is
// alive (so one long synchronous TensorFlow op never looks like a dead
// worker), forwards cancellation, and turns a crashed host into a retryable
// failure.
import { fork, type ChildProcess } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { NON_RETRYABLE_ERROR_TYPES } from '../common/errors.js';
import { log } from '../common/log.js';
import type { JobName } from './jobs/index.js';

const HOST_SCRIPT = fileURLToPath(new URL('./compute-host.ts', import.meta.url));
const TSX = import.meta.resolve('tsx');
/** At most this often, and three times per heartbeat timeout, so one missed beat is never fatal. */
const MAX_LIVENESS_MS = 2000;

/**
 * Heartbeats the current activity every third of its heartbeat timeout (at
 * most every 2 s) with `details()`, so a dead worker is noticed within the
 * timeout even while the activity waits or runs elsewhere. Returns the stop.
 */
export function keepAlive(ctx: Context, details: () => unknown = () => undefined): () => void {
  const every = Math.max(50, Math.min(MAX_LIVENESS_MS, (ctx.info.heartbeatTimeoutMs ?? 30_000) / 3));
  const timer = setInterval(() => ctx.heartbeat(details()), every);
  return () => clearInterval(timer);
}

interface Host {
  child: ChildProcess;
  busy: boolean;
  ready: Promise<void>;
  /** Jobs that ran here, so callers can route work to a host with warm caches. */
  jobs: number;
  /** Affinity keys of jobs that ran here (whose models this host keeps in memory). */
  affinities: Set<string>;
}

interface SerializedError {
  name: string;
  message: string;
  stack?: string;
  retryable?: boolean;
}

export class ComputePool {
  private hosts: Host[] = [];
  private waiters: ((h: Host) => void)[] = [];
  private closed = false;

  constructor(readonly size: number) {}

  private spawnHost(): Host {
    const child = fork(HOST_SCRIPT, [], {
      execArgv: ['--import', TSX],
      serialization: 'advanced',
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      env: hostEnv(this.size),
    });
    const host: Host = {
      child,
      busy: false,
      jobs: 0,
      affinities: new Set(),
      ready: new Promise((resolve, reject) => {
        const onMsg = (m: { type: string }) => {
          if (m.type === 'ready') {
            child.off('message', onMsg);
            resolve();
          }
        };
        child.on('message', onMsg);
        child.once('exit', (code) => reject(new Error(`compute host exited during start-up (code ${code})`)));
      }),
    };
    host.ready.catch(() => {});
    child.once('exit', () => {
      this.hosts = this.hosts.filter((h) => h !== host);
    });
    this.hosts.push(host);
    return host;
  }

  private async acquire(affinity?: string): Promise<Host> {
    if (this.closed) throw new Error('compute pool is closed');
    const alive = this.hosts.filter((h) => !h.busy && h.child.exitCode === null);
    const idle = (affinity ? alive.find((h) => h.affinities.has(affinity)) : undefined) ?? alive[0];
    if (idle) {
      idle.busy = true;
      return idle;
    }
    if (this.hosts.length < this.size) {
      const h = this.spawnHost();
      h.busy = true;
      return h;
    }
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  private release(host: Host): void {
    const next = this.waiters.shift();
    if (next && host.child.exitCode === null && !host.child.killed) {
      next(host);
      return;
    }
    host.busy = false;
    if (next) {
      // The host died: give the waiter a fresh one.
      void this.acquire().then(next);
    }
  }

  /**
   * Runs a job in a host; must be called from inside an activity. Jobs with
   * the same `affinity` go to the host that ran the last one when it is idle.
   */
  async runJob<O = unknown>(job: JobName, input: unknown, opts: { affinity?: string } = {}): Promise<O> {
    const ctx = Context.current();
    const beat = { last: ctx.info.heartbeatDetails };
    // Waiting for a free host and a host's start-up (loading TensorFlow) count as alive too.
    const stopLiveness = keepAlive(ctx, () => beat.last);
    let host: Host | undefined;
    try {
      host = await this.acquire(opts.affinity);
      await host.ready;
      host.jobs++;
      if (opts.affinity) host.affinities.add(opts.affinity);
      return await this.runOn<O>(host, job, input, ctx, beat);
    } finally {
      stopLiveness();
      if (host) this.release(host);
    }
  }

  private runOn<O>(host: Host, job: JobName, input: unknown, ctx: Context, beat: { last: unknown }): Promise<O> {
    const id = Math.floor(Math.random() * 2 ** 31);
    const child = host.child;
    let killTimer: NodeJS.Timeout | undefined;
    return new Promise<O>((resolve, reject) => {
      const cleanup = () => {
        clearTimeout(killTimer);
        child.off('message', onMessage);
        child.off('exit', onExit);
        ctx.cancellationSignal.removeEventListener('abort', onCancel);
      };
      const onMessage = (m: { type: string; id?: number; details?: unknown; result?: O; error?: SerializedError; msg?: string; fields?: Record<string, unknown> }) => {
        if (m.id !== id) return;
        if (m.type === 'heartbeat') {
          beat.last = m.details;
          ctx.heartbeat(m.details);
        } else if (m.type === 'log') {
          log.info({ job, ...m.fields }, m.msg ?? '');
        } else if (m.type === 'done') {
          cleanup();
          resolve(m.result as O);
        } else if (m.type === 'error') {
          cleanup();
          reject(toFailure(m.error!));
        }
      };
      const onExit = (code: number | null, signal: string | null) => {
        cleanup();
        reject(
          ApplicationFailure.create({
            type: 'ComputeHostDied',
            message: `compute host for job "${job}" exited (code ${code}, signal ${signal}); the activity will be retried`,
          }),
        );
      };
      const onCancel = () => {
        child.send({ type: 'cancel', id });
        // A job that ignores cancellation for long is stopped the hard way.
        killTimer = setTimeout(() => {
          if (!child.killed && child.exitCode === null) child.kill('SIGKILL');
        }, 30_000);
        killTimer.unref();
      };
      child.on('message', onMessage);
      child.once('exit', onExit);
      ctx.cancellationSignal.addEventListener('abort', onCancel);
      child.send({ type: 'run', id, job, input, heartbeatDetails: ctx.info.heartbeatDetails, attempt: ctx.info.attempt });
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(
      this.hosts.map(
        (h) =>
          new Promise<void>((resolve) => {
            if (h.child.exitCode !== null) return resolve();
            h.child.once('exit', () => resolve());
            h.child.kill('SIGTERM');
          }),
      ),
    );
  }
}

function toFailure(e: SerializedError): ApplicationFailure {
  const nonRetryable = e.retryable === false || NON_RETRYABLE_ERROR_TYPES.includes(e.name);
  const f = ApplicationFailure.create({ type: e.name, message: e.message, nonRetryable });
  if (e.stack) f.stack = e.stack;
  return f;
}

/**
 * A host's environment: unless CRLHF_THREADS says otherwise, the hosts share
 * the cores as data-parallel ranks (rlhf/parallel), each rank on one
 * TensorFlow thread, so `size` hosts busy at once do not each use every core.
 */
export function hostEnv(size: number, env: NodeJS.ProcessEnv = process.env, cores = availableParallelism()): NodeJS.ProcessEnv {
  if (env.CRLHF_THREADS?.trim()) return env;
  return { ...env, CRLHF_THREADS: String(Math.max(1, Math.floor(cores / Math.max(1, size)))), TF_NUM_INTRAOP_THREADS: env.TF_NUM_INTRAOP_THREADS ?? '1' };
}

let shared: ComputePool | undefined;

/** The pool of this worker process; its size is set once by the worker entry point. */
export function computePool(size = Number(process.env.CRLHF_COMPUTE_HOSTS ?? 1)): ComputePool {
  shared ??= new ComputePool(size);
  return shared;
}

export async function closeComputePool(): Promise<void> {
  await shared?.close();
  shared = undefined;
}
