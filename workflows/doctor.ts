// The self-check workflow behind `crlhf doctor`: two activities, one that
// computes with heartbeats (and resumes from its last heartbeat after a
// retry), one that round-trips the artifact store.
import { proxyActivities } from '@temporalio/workflow';
import type * as activities from '../activities/doctor.js';

export interface DoctorInput {
  storeUri: string;
  steps: number;
  stepMs: number;
  /** The gpu queue, where heavy activities run. */
  /** Synchronous tensor work per step, in milliseconds (see the responsiveness test). */
  blockMs?: number;
  computeQueue: string;
  heartbeatTimeout?: string;
}

export interface DoctorResult {
  compute: Awaited<ReturnType<typeof activities.selfCheckCompute>>;
  store: Awaited<ReturnType<typeof activities.selfCheckStore>>;
}

export async function doctorWorkflow(input: DoctorInput): Promise<DoctorResult> {
  const { selfCheckCompute } = proxyActivities<typeof activities>({
    taskQueue: input.computeQueue,
    startToCloseTimeout: '10 minutes',
    heartbeatTimeout: input.heartbeatTimeout ?? '10 seconds',
    retry: { initialInterval: '200 milliseconds', backoffCoefficient: 2, maximumAttempts: 5 },
  });
  const { selfCheckStore } = proxyActivities<typeof activities>({
    startToCloseTimeout: '1 minute',
    retry: { maximumAttempts: 3 },
  });
  const compute = await selfCheckCompute({ steps: input.steps, stepMs: input.stepMs, blockMs: input.blockMs });
  const store = await selfCheckStore({ storeUri: input.storeUri, computeDigest: compute.digest });
  return { compute, store };
}
