// Every workflow type the workers register.
export { doctorWorkflow } from './doctor.js';
