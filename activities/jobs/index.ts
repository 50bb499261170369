// Jobs a compute host can run, loaded lazily so a host only imports what it uses.
import type { JobFn } from './types.js';

export const JOBS = {
  selfCheck: async () => (await import('./self-check.js')).selfCheck as JobFn,
  trainSft: async () => (await import('../../pipeline/sft.js')).trainSft as JobFn,
  trainRewardModel: async () => (await import('../../pipeline/reward-model.js')).trainRewardModel as JobFn,
  sampleBaselineShard: async () => (await import('../../pipeline/baselines.js')).sampleBaselineShard as JobFn,
  scoreBaselines: async () => (await import('../../pipeline/baselines.js')).scoreBaselines as JobFn,
  ppoBlock: async () => (await import('../../pipeline/ppo.js')).ppoBlock as JobFn,
  generateEval: async () => (await import('../../pipeline/evaluate.js')).generateEval as JobFn,
} satisfies Record<string, () => Promise<JobFn>>;

export type JobName = keyof typeof JOBS;
