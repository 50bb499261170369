// Small helpers shared by workflows (deterministic, no I/O).
import type { Plan } from '../pipeline/plan.js';

/** Error types that fail an activity at once (bad config or data): retrying cannot help. */
export const NON_RETRYABLE = ['ConfigError', 'DataError', 'NotFoundError', 'UsageError', 'CorruptCheckpointError'];

export function queueNames(plan: Pick<Plan, 'taskQueue'>) {
  const p = plan.taskQueue;
  return { workflow: p, cpu: `${p}-cpu`, gpu: `${p}-gpu` };
}
