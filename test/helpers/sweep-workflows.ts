// Workflows registered by the sweep tests' own workers: the sweep and every
// workflow its trials start.
export { experimentWorkflow } from '../../workflows/experiment.js';
export { ppoWorkflow } from '../../workflows/ppo.js';
export { humanEvalWorkflow } from '../../workflows/human-eval.js';
export { sweepWorkflow } from '../../workflows/sweep.js';
