// Every activity the workers register. Each is a thin wrapper: read inputs
// from the store, call the library (in a compute host when tensor-heavy),
// write outputs, return small references.
export * from './doctor.js';
export * from './pipeline.js';
export * from '../sweep/activities.js';
