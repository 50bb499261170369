// Jobs a compute host can run, loaded lazily so a host only imports what it uses.
import type { JobFn } from './types.js';

export const JOBS = {
  selfCheck: async () => (await import('./self-check.js')).selfCheck as JobFn,
} satisfies Record<string, () => Promise<JobFn>>;

export type JobName = keyof typeof JOBS;
