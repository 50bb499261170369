// KL coefficient controllers — Ziegler et al. 2019, arXiv 1909.08593 §2.2:
//   err = clip(KL/target − 1, −0.2, 0.2),   β ← β·(1 + err·nSteps/horizon).
// The same rule as OpenRLHF `kl_controller.py`, verl `core_algos.py`, trlx.
// nSteps is the number of samples behind this KL measurement (OpenRLHF and
// verl pass the rollout batch size), so the adaptation speed per sample does
// not depend on the batch size.
//
// The controller's state (β and its settings) goes into PPO checkpoints via
// toJSON()/klControllerFromJSON(), so a resumed run continues the trajectory.

import { z } from 'zod';
import { ConfigError, DataError } from '../common/errors.js';

export interface KLController {
  readonly value: number;
  update(currentKl: number, nSteps: number): void;
  toJSON(): KLControllerJSON;
}

export class FixedKLController implements KLController {
  constructor(readonly value: number) {
    if (!(value >= 0) || !Number.isFinite(value)) throw new RangeError(`FixedKLController: coef must be a finite number ≥ 0, got ${value}`);
  }

  update(_currentKl: number, _nSteps: number): void {}

  toJSON(): KLControllerJSON {
    return { kind: 'fixed', value: this.value };
  }
}

export class AdaptiveKLController implements KLController {
  private coef: number;

  constructor(
    initCoef: number,
    readonly target: number,
    readonly horizon: number,
  ) {
    if (!(initCoef >= 0) || !Number.isFinite(initCoef)) throw new RangeError(`AdaptiveKLController: coef must be a finite number ≥ 0, got ${initCoef}`);
    if (!(target > 0)) throw new RangeError(`AdaptiveKLController: target must be > 0, got ${target}`);
    if (!(horizon > 0)) throw new RangeError(`AdaptiveKLController: horizon must be > 0, got ${horizon}`);
    this.coef = initCoef;
  }

  get value(): number {
    return this.coef;
  }

  update(currentKl: number, nSteps: number): void {
    if (!Number.isFinite(currentKl)) throw new RangeError(`AdaptiveKLController.update: KL must be finite, got ${currentKl}`);
    if (!(nSteps >= 0)) throw new RangeError(`AdaptiveKLController.update: nSteps must be ≥ 0, got ${nSteps}`);
    const err = Math.min(0.2, Math.max(-0.2, currentKl / this.target - 1));
    this.coef *= 1 + (err * nSteps) / this.horizon;
  }

  toJSON(): KLControllerJSON {
    return { kind: 'adaptive', value: this.coef, target: this.target, horizon: this.horizon };
  }
}

export interface KLControllerConfig {
  kind: 'fixed' | 'adaptive';
  /** Initial β. */
  coef: number;
  /** Target KL per sequence (adaptive only). */
  target?: number;
  /** Horizon in samples (adaptive only). Default 10000, as OpenRLHF, TRL v1, verl. */
  horizon?: number;
}

export const DEFAULT_KL_HORIZON = 10000;

export function klControllerFromConfig(cfg: KLControllerConfig): KLController {
  if (!(cfg.coef >= 0) || !Number.isFinite(cfg.coef)) throw new ConfigError(`kl.coef must be a finite number ≥ 0, got ${cfg.coef}`, undefined, 'coef');
  if (cfg.kind === 'fixed') return new FixedKLController(cfg.coef);
  if (cfg.kind !== 'adaptive') throw new ConfigError(`kl.kind must be 'fixed' or 'adaptive', got ${JSON.stringify(cfg.kind)}`, undefined, 'kind');
  if (cfg.target === undefined) throw new ConfigError("kl.target is required when kl.kind is 'adaptive'", undefined, 'target');
  if (!(cfg.target > 0)) throw new ConfigError(`kl.target must be > 0, got ${cfg.target}`, undefined, 'target');
  const horizon = cfg.horizon ?? DEFAULT_KL_HORIZON;
  if (!(horizon > 0)) throw new ConfigError(`kl.horizon must be > 0, got ${horizon}`, undefined, 'horizon');
  return new AdaptiveKLController(cfg.coef, cfg.target, horizon);
}

const klControllerJSONSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('fixed'), value: z.number().min(0) }),
  z.object({
    kind: z.literal('adaptive'),
    value: z.number().min(0),
    target: z.number().positive(),
    horizon: z.number().positive(),
  }),
]);

export type KLControllerJSON = z.infer<typeof klControllerJSONSchema>;

/** Restore a controller saved with toJSON(); `source` names the checkpoint in errors. */
export function klControllerFromJSON(json: unknown, source?: string): KLController {
  const parsed = klControllerJSONSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const field = issue?.path.join('.') || undefined;
    throw new DataError(
      `${source ? source + ': ' : ''}invalid KL controller state${field ? ` at "${field}"` : ''}: ${issue?.message ?? 'unknown error'}`,
      source,
      undefined,
      field,
    );
  }
  const s = parsed.data;
  return s.kind === 'fixed' ? new FixedKLController(s.value) : new AdaptiveKLController(s.value, s.target, s.horizon);
}
