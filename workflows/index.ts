// Every workflow type the workers register.
export { doctorWorkflow } from './doctor.js';
export { experimentWorkflow } from './experiment.js';
export { ppoWorkflow } from './ppo.js';
export { humanEvalWorkflow } from './human-eval.js';
export { sweepWorkflow } from './sweep.js';
