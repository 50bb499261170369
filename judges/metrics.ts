// The evaluation metrics in one place for reports and activities; each lives
// in its own small module.
export * from './win-rate.js';
export * from './length-control.js';
export * from './agreement.js';
export * from './distinct.js';
