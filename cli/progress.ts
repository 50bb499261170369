// Live progress of a run from workflow queries and the heartbeat details of
// running activities: a redrawn line on a terminal, plain lines otherwise.
import type { Client, WorkflowHandle } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import type { StepProgress } from '../pipeline/context.js';
import type { ExperimentProgress } from '../workflows/experiment.js';
import type { PpoProgress } from '../workflows/ppo.js';

export interface Snapshot {
  status: string;
  progress?: ExperimentProgress;
  /** Heartbeat details of the experiment's running activities. */
  activities: StepProgress[];
  arms: (PpoProgress & { activity?: StepProgress })[];
}

function decodeHeartbeats(desc: Awaited<ReturnType<WorkflowHandle['describe']>>): StepProgress[] {
  const out: StepProgress[] = [];
  for (const a of desc.raw.pendingActivities ?? []) {
    const p = a.heartbeatDetails?.payloads?.[0];
    if (!p) continue;
    try {
      const d = defaultPayloadConverter.fromPayload(p as never) as StepProgress | undefined;
      if (d && typeof d === 'object' && 'phase' in d) out.push(d);
    } catch {
      // Not ours (e.g. a doctor heartbeat): skip.
    }
  }
  return out;
}

export async function snapshot(client: Client, runId: string): Promise<Snapshot> {
  const handle = client.workflow.getHandle(runId);
  const desc = await handle.describe();
  const snap: Snapshot = { status: desc.status.name, activities: [], arms: [] };
  if (desc.status.name !== 'RUNNING') return snap;
  snap.progress = await handle.query<ExperimentProgress>('progress').catch(() => undefined);
  snap.activities = decodeHeartbeats(desc);
  if (snap.progress?.stage === 'ppo') {
    for (const arm of snap.progress.arms) {
      const h = client.workflow.getHandle(arm.workflowId);
      try {
        const [p, d] = await Promise.all([h.query<PpoProgress>('progress'), h.describe()]);
        snap.arms.push({ ...p, activity: decodeHeartbeats(d)[0] });
      } catch {
        // Not started yet, or finished.
      }
    }
  }
  return snap;
}

function fmt(x: number | undefined, digits = 3): string {
  if (x === undefined || !Number.isFinite(x)) return '-';
  return Math.abs(x) >= 100 ? x.toFixed(0) : x.toPrecision(digits);
}

/** Step rate and ETA from the last two observations of the same phase. */
export class RateTracker {
  private seen = new Map<string, { step: number; t: number; rate?: number }>();

  observe(key: string, step: number, now = Date.now()): { rate?: number; eta?: (total: number) => number | undefined } {
    const prev = this.seen.get(key);
    let rate = prev?.rate;
    if (prev && step > prev.step && now > prev.t) {
      const r = (step - prev.step) / ((now - prev.t) / 1000);
      rate = prev.rate === undefined ? r : 0.7 * prev.rate + 0.3 * r;
    }
    if (!prev || step !== prev.step) this.seen.set(key, { step, t: now, rate });
    return { rate, eta: (total) => (rate ? (total - step) / rate : undefined) };
  }
}

function duration(s: number | undefined): string {
  if (s === undefined || !Number.isFinite(s)) return '?';
  if (s < 60) return `${Math.round(s)}s`;
  return `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, '0')}s`;
}

export function describeSnapshot(snap: Snapshot, rates: RateTracker): string {
  const stage = snap.progress?.stage ?? snap.status.toLowerCase();
  const parts: string[] = [`stage ${stage}`];
  const line = (p: StepProgress, key: string) => {
    const r = rates.observe(key, p.step);
    const eta = r.eta?.(p.total);
    const metrics = Object.entries(p.metrics ?? {})
      .filter(([k]) => k !== 'lr' && k !== 'msPerIter')
      .map(([k, v]) => `${k} ${fmt(v)}`)
      .join(' ');
    return `${p.step}/${p.total}${r.rate ? ` ${r.rate.toFixed(1)}/s ETA ${duration(eta)}` : ''}${metrics ? ` ${metrics}` : ''}`;
  };
  if (snap.arms.length) {
    for (const a of snap.arms) {
      parts.push(a.activity ? `${a.arm}: ${line(a.activity, `ppo:${a.arm}`)}` : `${a.arm}: ${a.iteration}/${a.total} ${a.status}`);
    }
  } else {
    for (const [i, a] of snap.activities.entries()) parts.push(`${a.phase} ${line(a, `${a.phase}:${i}`)}`);
  }
  return parts.join(' | ');
}

/** Redraws one line on a TTY; prints a line at most every `everyMs` otherwise. */
export class ProgressPrinter {
  private last = '';
  private lastPrinted = 0;
  constructor(
    private readonly tty = Boolean(process.stderr.isTTY),
    private readonly everyMs = 10_000,
  ) {}

  update(text: string): void {
    if (this.tty) {
      const cols = process.stderr.columns ?? 120;
      process.stderr.write(`\r\x1b[2K${text.slice(0, cols - 1)}`);
    } else if (text !== this.last && Date.now() - this.lastPrinted >= this.everyMs) {
      process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${text}\n`);
      this.lastPrinted = Date.now();
    }
    this.last = text;
  }

  done(): void {
    if (this.tty && this.last) process.stderr.write('\n');
  }
}
