// What a pipeline step needs from its caller: heartbeats, cancellation, a
// cache that outlives one call (in a compute host), and the attempt number.
// Activities adapt Temporal's Context to it; benchmarks and tests pass a
// plain one.
export type { JobContext as StepContext } from '../activities/jobs/types.js';
import type { JobContext } from '../activities/jobs/types.js';

/** A context for calling steps directly, with no orchestration. */
export function directContext(onHeartbeat?: (details: unknown) => void): JobContext {
  return {
    heartbeatDetails: undefined,
    attempt: 1,
    signal: new AbortController().signal,
    heartbeat: onHeartbeat ?? (() => {}),
    log: () => {},
    cache: new Map(),
  };
}

/** Heartbeat details every long step sends, so the CLI can show one progress line for any stage. */
export interface StepProgress {
  phase: string;
  step: number;
  total: number;
  /** A few headline numbers (loss, reward, KL). */
  metrics?: Record<string, number>;
  checkpoint?: string;
}

/**
 * Fault-injection aid for the crash tests: CRLHF_TEST_STEP_DELAY_MS =
 * "phase:ms,..." (e.g. "baselines:1500,ppo:500") slows a long step down
 * between units of work (chunks, iterations) so a test can kill a worker in
 * the middle of one. No delay unless set.
 */
export async function testStepDelay(phase: string): Promise<void> {
  const spec = process.env.CRLHF_TEST_STEP_DELAY_MS;
  if (!spec) return;
  for (const part of spec.split(',')) {
    const [p, ms] = part.split(':');
    if (p === phase && Number(ms) > 0) await new Promise((r) => setTimeout(r, Number(ms)));
  }
}
