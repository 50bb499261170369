// One PPO arm: blocks of iterations, each one activity that keeps the models
// in memory, heartbeats every iteration and checkpoints every N. Consecutive
// blocks go to the worker that ran the previous one (its own task queue) so
// weights are not reloaded; if that worker is gone they fall back to the
// shared queue and resume from the last checkpoint. Continue-as-new keeps the
// history small for runs of any length.
import {
  ActivityCancellationType,
  ActivityFailure,
  CancellationScope,
  CancelledFailure,
  condition,
  continueAsNew,
  defineQuery,
  proxyActivities,
  setHandler,
  allHandlersFinished,
  TimeoutFailure,
  workflowInfo,
} from '@temporalio/workflow';
import type * as activities from '../activities/pipeline.js';
import type { BlockResult, PpoArmResult } from '../activities/pipeline.js';
import type { Plan } from '../pipeline/plan.js';
import { NON_RETRYABLE, queueNames } from './shared.js';

export interface PpoState {
  iteration: number;
  blocks: number;
  checkpoint?: string;
  stickyQueue?: string;
  last?: BlockResult['last'];
}

export interface PpoInput {
  plan: Plan;
  arm: string;
  state?: PpoState;
}

export interface PpoProgress {
  arm: string;
  iteration: number;
  total: number;
  checkpoint?: string;
  stickyQueue?: string;
  last?: BlockResult['last'];
  status: 'running' | 'finalizing' | 'done' | 'cancelling';
}

export const ppoProgressQuery = defineQuery<PpoProgress>('progress');

/** Blocks per workflow run before continue-as-new (each block adds a handful of events). */
const BLOCKS_PER_RUN = 25;

export async function ppoWorkflow(input: PpoInput): Promise<PpoArmResult> {
  const { plan, arm } = input;
  const q = queueNames(plan);
  const total = plan.config.ppo.iterations;
  const state: PpoState = input.state ?? { iteration: 0, blocks: 0 };
  let status: PpoProgress['status'] = 'running';
  setHandler(ppoProgressQuery, () => ({ arm, iteration: state.iteration, total, checkpoint: state.checkpoint, stickyQueue: state.stickyQueue, last: state.last, status }));

  const blockOptions = {
    startToCloseTimeout: '6 hours',
    heartbeatTimeout: plan.timeouts.heartbeat,
    // Cancellation is honoured at the next iteration, after a final checkpoint.
    cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
    retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute', maximumAttempts: Math.max(plan.timeouts.attempts, 2), nonRetryableErrorTypes: NON_RETRYABLE },
  } as const;
  const shared = proxyActivities<typeof activities>({ ...blockOptions, taskQueue: q.gpu });
  const { finalizeArm } = proxyActivities<typeof activities>({
    taskQueue: q.cpu,
    startToCloseTimeout: '10 minutes',
    heartbeatTimeout: plan.timeouts.heartbeat,
    retry: { maximumAttempts: plan.timeouts.attempts, nonRetryableErrorTypes: NON_RETRYABLE },
  });

  const runBlock = async (until: number): Promise<BlockResult> => {
    if (state.stickyQueue) {
      const sticky = proxyActivities<typeof activities>({
        ...blockOptions,
        taskQueue: state.stickyQueue,
        // The worker that holds the models may be gone; then take the shared queue.
        scheduleToStartTimeout: '20 seconds',
      });
      try {
        return await sticky.ppoBlock({ plan, arm, until });
      } catch (err) {
        if (!(err instanceof ActivityFailure && err.cause instanceof TimeoutFailure && err.cause.timeoutType === 'SCHEDULE_TO_START')) throw err;
        state.stickyQueue = undefined;
      }
    }
    return shared.ppoBlock({ plan, arm, until });
  };

  while (state.iteration < total) {
    const until = Math.min(total, state.iteration + plan.config.ppo.block_iterations);
    const res = await runBlock(until);
    state.iteration = res.iteration;
    state.checkpoint = res.checkpoint;
    state.stickyQueue = res.stickyQueue;
    state.last = res.last;
    state.blocks++;
    if (res.cancelled || CancellationScope.current().consideredCancelled) {
      // The block stopped at an iteration boundary and wrote a final checkpoint.
      status = 'cancelling';
      throw new CancelledFailure(`PPO arm ${arm} cancelled at iteration ${state.iteration}; last checkpoint ${state.checkpoint}`);
    }
    if (state.iteration < total && (state.blocks % BLOCKS_PER_RUN === 0 || workflowInfo().continueAsNewSuggested)) {
      await condition(allHandlersFinished);
      await continueAsNew<typeof ppoWorkflow>({ plan, arm, state });
    }
  }
  status = 'finalizing';
  const result = await finalizeArm({ plan, arm });
  status = 'done';
  return result;
}
