// What a sweep workflow is given and how it names things: the expanded trial
// list (settings × seeds, grouped by the steps they share) and the pure
// functions that turn it into experiment configs and workflow IDs. Imported
// by the workflow bundle, so: no I/O, no Node modules, no randomness.
import type { ExperimentConfig } from '../config/schema.js';
import type { Timeouts } from '../pipeline/plan.js';

/** One exact change of a leaf of the (fully defaulted) base config. */
export type ConfigChange = { path: string[]; value: unknown } | { path: string[]; unset: true };

export interface SweepSetting {
  /** `s000`: a combination of knob values. */
  id: string;
  /** Knob (dotted path) → value, as written in the spec or drawn by random search. */
  params: Record<string, unknown>;
  /** The changes that turn the base config into this setting's config (exact, defaults included). */
  changes: ConfigChange[];
}

export interface SweepTrial {
  /** `t000`: stable for a given spec, so the trial's workflow ID is too. */
  id: string;
  /** Index into `settings`. */
  setting: number;
  seed: number;
  /** Index into `groups`. */
  group: number;
}

/** Trials whose data, SFT, reward model and baselines are identical (same step hashes). */
export interface SweepGroup {
  /** The hash of the group's baseline scores step, which folds in data, SFT, reward model and baseline samples. */
  key: string;
  sft: string;
  rewardModel: string;
  baselineScores: string;
}

export const METRIC_NAMES = ['adjusted_win_rate', 'win_rate', 'lc_win_rate', 'gold', 'rm_score', 'kl', 'length'] as const;
export type MetricName = (typeof METRIC_NAMES)[number];

export interface SweepMetric {
  name: MetricName;
  /** The arm measured (win rates: the candidate). */
  arm: string;
  /** Win rates: the baseline it is compared with. */
  vs?: string;
  /** Win rates: which judge (oracle, llm:<model>, human). */
  judge: string;
  goal: 'maximize' | 'minimize';
}

export interface SweepInput {
  /** The sweep's name as written; a scheduled execution's name is its workflow ID (with the scheduled time). */
  name: string;
  storeUri: string;
  /** Task-queue prefix of the workers. */
  taskQueue: string;
  timeouts?: Partial<Timeouts>;
  /** The sweep spec as written, kept in every trial's run record. */
  specSource: string;
  /** Hash of everything that defines the trials, to refuse re-running a name with a different spec. */
  specHash: string;
  base: ExperimentConfig;
  /** Swept knobs in display order (dotted paths; the seed is separate). */
  knobs: string[];
  settings: SweepSetting[];
  trials: SweepTrial[];
  groups: SweepGroup[];
  maxConcurrent: number;
  metric: SweepMetric;
  /** Child workflows one execution of the sweep starts before it continues as new (history stays small). */
  childrenPerRun?: number;
  /** Write the aggregate report to the store when the sweep ends (default true). */
  report?: boolean;
}

/** A scheduled execution's workflow ID is `<schedule action ID>-<RFC 3339 time>`; store keys allow no ':'. */
export function sweepNameFromWorkflowId(workflowId: string): string {
  return workflowId.replace(/:/g, '').replace(/[^A-Za-z0-9._-]/g, '-');
}

export function trialWorkflowId(sweep: string, trial: string): string {
  return `${sweep}/${trial}`;
}

/** The child that prepares a group's shared steps (data → baseline scores) before its trials start. */
export function sharedWorkflowId(sweep: string, group: SweepGroup): string {
  return `${sweep}/shared-${group.key.slice(0, 12)}`;
}

export function trialId(index: number, count: number): string {
  return `t${String(index).padStart(Math.max(3, String(count - 1).length), '0')}`;
}

export function settingId(index: number, count: number): string {
  return `s${String(index).padStart(Math.max(3, String(count - 1).length), '0')}`;
}

function clone<T>(x: T): T {
  return JSON.parse(JSON.stringify(x)) as T;
}

export function applyChanges(base: ExperimentConfig, changes: readonly ConfigChange[]): ExperimentConfig {
  const out = clone(base) as unknown as Record<string, unknown>;
  for (const ch of changes) {
    let cur = out;
    for (const key of ch.path.slice(0, -1)) {
      const next = cur[key];
      if (next === null || typeof next !== 'object' || Array.isArray(next)) cur[key] = {};
      cur = cur[key] as Record<string, unknown>;
    }
    const last = ch.path[ch.path.length - 1]!;
    if ('unset' in ch) delete cur[last];
    else cur[last] = clone(ch.value);
  }
  return out as unknown as ExperimentConfig;
}

/** The full config of a trial: base, the setting's changes, the trial's seed, and its run name. */
export function trialConfig(input: Pick<SweepInput, 'base' | 'settings'>, trial: SweepTrial, sweep: string): ExperimentConfig {
  const config = applyChanges(input.base, input.settings[trial.setting]!.changes);
  config.seed = trial.seed;
  config.name = `${sweep}.${trial.id}`.slice(0, 100);
  return config;
}

/** `reward.contrastive.k=2 ppo.kl.coef=0.05 seed=1` */
export function describeTrial(input: Pick<SweepInput, 'settings'>, trial: SweepTrial): string {
  const params = input.settings[trial.setting]!.params;
  return [...Object.entries(params).map(([k, v]) => `${k}=${formatValue(v)}`), `seed=${trial.seed}`].join(' ');
}

export function formatValue(v: unknown): string {
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(4)));
  if (typeof v === 'string') return v;
  return JSON.stringify(v);
}
