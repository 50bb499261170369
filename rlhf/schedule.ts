// Learning-rate schedules: linear warm-up to the peak, then cosine
// (arXiv 1608.03983, without restarts) or linear decay to a floor.

export interface LrSchedule {
  peakLr: number;
  /** Steps of linear warm-up; step s < warmupSteps gets peakLr·(s+1)/warmupSteps. */
  warmupSteps?: number;
  /** Step at which decay reaches the floor (held there afterwards). */
  totalSteps: number;
  decay?: 'cosine' | 'linear' | 'constant';
  /** Floor of the decay (default 0). */
  minLr?: number;
}

/** Learning rate for the 0-based optimizer step `step`. */
export function lrAt(s: LrSchedule, step: number): number {
  const warmup = s.warmupSteps ?? 0;
  const floor = s.minLr ?? 0;
  if (step < warmup) return (s.peakLr * (step + 1)) / warmup;
  const decay = s.decay ?? 'cosine';
  if (decay === 'constant') return s.peakLr;
  const span = Math.max(1, s.totalSteps - warmup);
  const progress = Math.min(1, Math.max(0, (step - warmup) / span));
  const shape = decay === 'cosine' ? 0.5 * (1 + Math.cos(Math.PI * progress)) : 1 - progress;
  return floor + (s.peakLr - floor) * shape;
}

/** A schedule that is the peak forever. */
export function constantLr(lr: number): LrSchedule {
  return { peakLr: lr, totalSteps: 1, decay: 'constant' };
}
