// A stand-in experiment workflow for fast tests of the sweep's orchestration
// (window, failures, continue-as-new, attaching): registered under the real
// one's name, it sleeps instead of training. Config fields steer it:
// seed 13 fails the trial, data.label_noise 0.4 fails the shared steps,
// ppo.epochs 9 ignores cancellation for a few seconds.
import { ApplicationFailure, CancellationScope, sleep } from '@temporalio/workflow';
import type { ExperimentInput } from '../../workflows/experiment.js';

export { sweepWorkflow } from '../../workflows/sweep.js';

export async function experimentWorkflow(input: ExperimentInput): Promise<{ run: string } | null> {
  const c = input.config;
  if (input.stopAfter) {
    await sleep(200);
    if (c.data.label_noise === 0.4) throw ApplicationFailure.nonRetryable('no data for this noise level', 'DataError');
    return null;
  }
  if (c.ppo.epochs === 9) await CancellationScope.nonCancellable(() => sleep(4000));
  else await sleep(300 + 100 * c.ppo.iterations);
  if (c.seed === 13) throw ApplicationFailure.nonRetryable('reward model diverged', 'DataError');
  return { run: input.runName };
}
