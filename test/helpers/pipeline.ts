// Running experiments in integration tests: an input built like the CLI
// builds it, worker processes that can be killed, and waiting on what a
// workflow is doing (pending activities and their heartbeat details).
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Client } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import { REPO_ROOT } from '../../common/dirs.js';
import { parseConfig } from '../../config/load.js';
import type { StepProgress } from '../../pipeline/context.js';
import type { ExperimentInput } from '../../workflows/experiment.js';

export const TINY = join(REPO_ROOT, 'test/fixtures/configs/tiny.yaml');

export async function experimentInput(opts: {
  runName: string;
  storeUri: string;
  taskQueue: string;
  overrides?: Record<string, unknown>;
  heartbeat?: string;
  attempts?: number;
  file?: string;
}): Promise<ExperimentInput> {
  const file = opts.file ?? TINY;
  const source = await readFile(file, 'utf8');
  const config = parseConfig(source, file, { ...opts.overrides, name: opts.runName });
  return {
    runName: opts.runName,
    storeUri: opts.storeUri,
    taskQueue: opts.taskQueue,
    config,
    configSource: source,
    timeouts: { heartbeat: opts.heartbeat ?? '5 seconds', attempts: opts.attempts ?? 10 },
  };
}

export interface Pending {
  activityType: string;
  attempt: number;
  heartbeat?: StepProgress;
}

export async function pendingActivities(client: Client, workflowId: string): Promise<Pending[]> {
  try {
    const desc = await client.workflow.getHandle(workflowId).describe();
    return (desc.raw.pendingActivities ?? []).map((a) => {
      const p = a.heartbeatDetails?.payloads?.[0];
      let heartbeat: StepProgress | undefined;
      try {
        heartbeat = p ? (defaultPayloadConverter.fromPayload(p as never) as StepProgress | undefined) : undefined;
      } catch {
        heartbeat = undefined;
      }
      return { activityType: a.activityType?.name ?? '', attempt: a.attempt ?? 1, heartbeat: heartbeat ?? undefined };
    });
  } catch {
    return [];
  }
}

export async function waitFor<T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs = 120_000, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000}s waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Waits until `workflowId` runs an activity of `type` whose heartbeat has reached `minStep`. */
export function waitForHeartbeat(client: Client, workflowId: string, type: string, minStep: number, timeoutMs = 180_000): Promise<Pending> {
  return waitFor(
    `${type} of ${workflowId} to heartbeat step >= ${minStep}`,
    async () => (await pendingActivities(client, workflowId)).find((a) => a.activityType === type && (a.heartbeat?.step ?? 0) >= minStep),
    timeoutMs,
  );
}
