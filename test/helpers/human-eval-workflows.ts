// Workflows registered by the human-eval tests' own workers: the workflow
// under test, and a stand-in for the experiment's report step that waits for
// a quota of human votes.
import type { Duration } from '@temporalio/common';
import { collectHumanVotes, type HumanEvalInput } from '../../workflows/human-eval.js';

export { humanEvalWorkflow } from '../../workflows/human-eval.js';

export async function reportStepTestWorkflow(input: HumanEvalInput, humanEvalId: string, quotaTimeout: Duration) {
  return collectHumanVotes(input, { workflowId: humanEvalId, quotaTimeout });
}
