// Sweep specs: a base experiment config plus `grid` and/or `random` over any
// config field by dotted path, `seeds`, `max_concurrent`, `run_cap` and the
// metric to rank by. Loaded and validated like experiment configs: every
// error names the file, the line and the field; a knob that is not a config
// field says which fields exist there; every expanded trial config is
// validated before anything starts. Expansion is deterministic (random search
// draws from a seeded generator), so trial IDs are stable for a given spec.
import { readFileSync } from 'node:fs';
import { basename, dirname, extname, resolve } from 'node:path';
import type { Document, LineCounter } from 'yaml';
import { z } from 'zod';
import { ConfigError } from '../common/errors.js';
import { readYamlDocument } from './load.js';
import { referenceTable, typeOf, type JsonSchema } from './reference.js';
import { makePlan } from '../pipeline/plan.js';
import { Rng } from '../rlhf/rng.js';
import { hashJson } from '../storage/digest.js';
import { getTask } from '../tasks/index.js';
import {
  applyChanges,
  METRIC_NAMES,
  settingId,
  trialId,
  type ConfigChange,
  type SweepGroup,
  type SweepInput,
  type SweepMetric,
  type SweepSetting,
  type SweepTrial,
} from '../sweep/trials.js';
import { formatIssues, parseConfig, setPath } from './load.js';
import { ExperimentSchema, type ExperimentConfig } from './schema.js';

/** Sweep names prefix trial run names (`<sweep>/t000`) and scheduled times are appended to them. */
const SWEEP_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$/;
/** The trial list and its states travel in workflow inputs and results (2 MB at most): beyond this, split the sweep. */
export const MAX_TRIALS = 5000;
const KNOB = /^[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)*$/;
const knob = () => z.string().regex(KNOB, 'a dotted path of config fields, e.g. ppo.kl.coef');

/** Fields a sweep may not vary: names and stores are per sweep, seeds have their own key. */
const FIXED_FIELDS: Record<string, string> = {
  name: 'trial names come from the sweep name',
  store: 'all trials of a sweep share one store',
  seed: 'list seeds under "seeds"',
};

export const DistributionSchema = z
  .strictObject({
    values: z.array(z.unknown()).min(1).optional().describe('pick one of these values uniformly'),
    distribution: z.enum(['uniform', 'log_uniform', 'int_uniform']).optional().describe('draw a number between min and max (default uniform)'),
    min: z.number().optional(),
    max: z.number().optional(),
  })
  .superRefine((d, ctx) => {
    if (d.values !== undefined) {
      if (d.distribution !== undefined || d.min !== undefined || d.max !== undefined) {
        ctx.addIssue({ code: 'custom', message: 'give either values or distribution/min/max, not both' });
      }
      return;
    }
    if (d.min === undefined || d.max === undefined) {
      ctx.addIssue({ code: 'custom', message: 'needs values: [...] or min and max (with distribution: uniform, log_uniform or int_uniform)' });
      return;
    }
    if (!(d.min <= d.max)) ctx.addIssue({ code: 'custom', path: ['max'], message: `max (${d.max}) must not be below min (${d.min})` });
    if (d.distribution === 'log_uniform' && d.min <= 0) ctx.addIssue({ code: 'custom', path: ['min'], message: 'log_uniform needs min > 0' });
    if (d.distribution === 'int_uniform' && (!Number.isInteger(d.min) || !Number.isInteger(d.max))) {
      ctx.addIssue({ code: 'custom', path: ['min'], message: 'int_uniform needs integer min and max' });
    }
  })
  .describe('a random-search parameter: {values: [...]} or {distribution, min, max}');

export const MetricSchema = z
  .strictObject({
    name: z.enum(METRIC_NAMES).default('adjusted_win_rate').describe('win rates of arm vs `vs` by `judge`, or a per-arm value: gold, rm_score, kl, length'),
    arm: z.string().optional().describe('arm measured (win rates: the candidate); default: the first contrastive arm'),
    vs: z.string().optional().describe('win rates: the baseline arm; default: sft'),
    judge: z.string().optional().describe('win rates: oracle, llm:MODEL or human; default: oracle if it judges, else the first judge'),
    goal: z.enum(['maximize', 'minimize']).default('maximize').describe('whether higher or lower values rank first'),
  })
  .describe('the metric trials are ranked by');

export const SweepSpecSchema = z
  .strictObject({
    name: z
      .string()
      .regex(SWEEP_NAME, 'letters, digits, ".", "_", "-"; at most 80 characters')
      .optional()
      .describe('sweep name: its workflow ID and the prefix of its trial IDs (name/t000); default: the file name'),
    base: z.string().optional().describe('the base experiment config file, relative to this file'),
    experiment: z.record(z.string(), z.unknown()).optional().describe('the base experiment config written inline (instead of base)'),
    overrides: z.record(knob(), z.unknown()).default({}).describe('fields set in every trial, by dotted path'),
    grid: z.record(knob(), z.array(z.unknown()).min(1)).default({}).describe('knob → list of values; every combination is a setting'),
    random: z
      .strictObject({
        samples: z.number().int().positive().describe('settings drawn'),
        seed: z.number().int().nonnegative().default(0).describe('seed of the draws (the same seed draws the same settings)'),
        parameters: z.record(knob(), DistributionSchema).describe('knob → distribution'),
      })
      .optional()
      .describe('random search; with grid, every grid point is combined with every sample'),
    seeds: z.array(z.number().int().nonnegative()).min(1).optional().describe('each setting runs once per seed; default: the base config seed'),
    max_concurrent: z.number().int().positive().max(500).default(4).describe('experiments (trials and shared-step runs) running at once'),
    run_cap: z.number().int().positive().max(MAX_TRIALS).optional().describe('run at most this many trials (the first ones, settings in order, seeds inner)'),
    metric: MetricSchema.prefault({}),
  })
  .superRefine((s, ctx) => {
    if ((s.base === undefined) === (s.experiment === undefined)) {
      ctx.addIssue({ code: 'custom', path: [], message: 'give the base experiment either as base: <file> or inline as experiment: {...}' });
    }
  });

export type SweepSpec = z.infer<typeof SweepSpecSchema>;

export interface ExpandedSweep extends Omit<SweepInput, 'storeUri' | 'taskQueue' | 'timeouts'> {
  file: string;
  /** Trials before run_cap. */
  total: number;
  /** Settings dropped because random search drew one already present. */
  duplicates: number;
}

export interface SweepLoadOptions {
  /** Overrides the spec's name (`--name`). */
  name?: string;
  /** Extra `overrides` (`--set key=value`). */
  set?: Record<string, unknown>;
  /** Reads the base config file (tests pass their own). */
  readFile?: (path: string) => string;
}

export async function loadSweep(file: string, opts: SweepLoadOptions = {}): Promise<ExpandedSweep> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ConfigError(code === 'ENOENT' ? `${file}: no such sweep spec` : `${file}: cannot read: ${(err as Error).message}`, file);
  }
  return parseSweep(text, file, opts);
}

// ------------------------------------------------------------ knob paths

type AnyZod = z.ZodType & { _zod: { def: Record<string, unknown> & { type: string } } };

function unwrap(s: AnyZod): AnyZod {
  for (;;) {
    const def = s._zod.def;
    if (['default', 'prefault', 'optional', 'nullable', 'readonly', 'catch', 'nonoptional'].includes(def.type)) s = def.innerType as AnyZod;
    else if (def.type === 'pipe') s = def.in as AnyZod;
    else return s;
  }
}

function objectShape(s: AnyZod): Record<string, AnyZod> | undefined {
  return s._zod.def.type === 'object' ? (s._zod.def.shape as Record<string, AnyZod>) : undefined;
}

/** Why a dotted path is not an experiment config field, or null when it is one. */
export function knobPathError(path: string): string | null {
  const keys = path.split('.');
  if (keys[0]! in FIXED_FIELDS) return `"${keys[0]}" cannot be swept: ${FIXED_FIELDS[keys[0]!]}`;
  let s = unwrap(ExperimentSchema as unknown as AnyZod);
  for (const [i, key] of keys.entries()) {
    const here = keys.slice(0, i).join('.');
    let shapes: Record<string, AnyZod>[] = [];
    const direct = objectShape(s);
    if (direct) shapes = [direct];
    else if (s._zod.def.type === 'union') {
      shapes = (s._zod.def.options as AnyZod[]).map((o) => objectShape(unwrap(o))).filter((x): x is Record<string, AnyZod> => !!x);
    }
    if (shapes.length === 0) return `"${here}" is a value, not a mapping: sweep "${here}" itself`;
    const hit = shapes.find((sh) => key in sh);
    if (!hit) {
      const known = [...new Set(shapes.flatMap((sh) => Object.keys(sh)))].filter((k) => i > 0 || !(k in FIXED_FIELDS));
      return `unknown field "${keys.slice(0, i + 1).join('.')}"; ${here ? `fields of ${here}` : 'top-level fields'}: ${known.join(', ')}`;
    }
    s = unwrap(hit[key]!);
  }
  return null;
}

// ------------------------------------------------------------ parsing

interface Doc {
  doc: Document;
  counter: LineCounter;
  file: string;
}

function lineAt(d: Doc, path: (string | number)[]): number | undefined {
  for (let n = path.length; n >= 0; n--) {
    const node = n === 0 ? d.doc.contents : d.doc.getIn(path.slice(0, n), true);
    const range = (node as { range?: [number, number, number] } | undefined)?.range;
    if (range) return d.counter.linePos(range[0]).line;
  }
  return undefined;
}

/** The line of a mapping key (dotted knobs are single keys, so `getIn` finds the value, not the key). */
function keyLineAt(d: Doc, parent: (string | number)[], key: string): number | undefined {
  const node = parent.length ? d.doc.getIn(parent, true) : d.doc.contents;
  const items = (node as { items?: { key?: { value?: unknown; range?: [number, number, number] } }[] } | undefined)?.items;
  const item = items?.find((it) => it.key?.value === key);
  return item?.key?.range ? d.counter.linePos(item.key.range[0]).line : lineAt(d, parent);
}

const at = (d: Doc, line: number | undefined) => `${d.file}${line ? `:${line}` : ''}`;

function readYaml(text: string, file: string): Doc & { raw: unknown } {
  const { doc, counter } = readYamlDocument(text, file);
  return { doc, counter, file, raw: doc.toJS() ?? {} };
}

function clone<T>(x: T): T {
  return JSON.parse(JSON.stringify(x)) as T;
}

const isPlainObject = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);

/** The exact leaf changes from `a` to `b` (lists are leaves). */
export function configChanges(a: unknown, b: unknown, path: string[] = []): ConfigChange[] {
  if (isPlainObject(a) && isPlainObject(b)) {
    const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])];
    return keys.flatMap((k) => {
      if (!(k in b) || b[k] === undefined) return k in a && a[k] !== undefined ? [{ path: [...path, k], unset: true as const }] : [];
      return configChanges(a[k], b[k], [...path, k]);
    });
  }
  return JSON.stringify(a) === JSON.stringify(b) ? [] : [{ path, value: clone(b) }];
}

function round(x: number): number {
  return Number(x.toPrecision(6));
}

function draw(rng: Rng, d: z.infer<typeof DistributionSchema>): unknown {
  if (d.values) return clone(d.values[rng.int(d.values.length)]);
  const min = d.min!;
  const max = d.max!;
  switch (d.distribution ?? 'uniform') {
    case 'int_uniform':
      return min + rng.int(max - min + 1);
    case 'log_uniform':
      return round(Math.exp(Math.log(min) + (Math.log(max) - Math.log(min)) * rng.next()));
    default:
      return round(min + (max - min) * rng.next());
  }
}

/** Every combination of the grid's values, the last knob varying fastest. */
function gridPoints(grid: Record<string, unknown[]>): Record<string, unknown>[] {
  let points: Record<string, unknown>[] = [{}];
  for (const [k, values] of Object.entries(grid)) points = points.flatMap((p) => values.map((v) => ({ ...p, [k]: clone(v) })));
  return points;
}

function defaultMetric(spec: SweepSpec['metric'], base: ExperimentConfig): SweepMetric {
  const arm = spec.arm ?? base.arms.find((a) => a.reward_mode === 'contrastive')?.name ?? base.arms[0]!.name;
  const judges = base.evaluation.judges;
  const judge = spec.judge ?? (judges.includes('oracle') || judges.length === 0 ? 'oracle' : judges[0] === 'llm' ? `llm:${base.evaluation.llm?.model ?? ''}` : judges[0]!);
  const winRate = spec.name.endsWith('win_rate');
  return { name: spec.name, arm, judge, goal: spec.goal, ...(winRate ? { vs: spec.vs ?? 'sft' } : {}) };
}

/** Parses, validates and expands a sweep spec; `file` names it in messages and anchors `base`. */
export function parseSweep(text: string, file: string, opts: SweepLoadOptions = {}): ExpandedSweep {
  const sweepDoc = readYaml(text, file);
  if (!isPlainObject(sweepDoc.raw)) throw new ConfigError(`${file}: the sweep spec must be a YAML mapping (key: value lines)`, file);
  const parsed = SweepSpecSchema.safeParse(sweepDoc.raw);
  if (!parsed.success) {
    const first = parsed.error.issues[0]!;
    throw new ConfigError(formatIssues(file, sweepDoc.doc, sweepDoc.counter, parsed.error.issues).join('\n'), file, first.path.join('.'));
  }
  const spec = parsed.data;
  const overrides: Record<string, unknown> = { ...spec.overrides, ...(opts.set ?? {}) };

  // Every knob must be a config field, and each may be set in one place only.
  const where = new Map<string, (string | number)[]>();
  const errors: string[] = [];
  const addKnob = (k: string, section: (string | number)[]) => {
    const line = keyLineAt(sweepDoc, section, k);
    const label = `${section.join('.')}."${k}"`;
    const err = knobPathError(k);
    if (err) errors.push(`${at(sweepDoc, line)}: ${label}: ${err}`);
    for (const [other, otherSection] of where) {
      if (other === k || other.startsWith(`${k}.`) || k.startsWith(`${other}.`)) {
        errors.push(`${at(sweepDoc, line)}: ${label}: overlaps ${otherSection.join('.')}."${other}"; set each field in one place`);
      }
    }
    where.set(k, section);
  };
  for (const k of Object.keys(overrides)) addKnob(k, ['overrides']);
  for (const k of Object.keys(spec.grid)) addKnob(k, ['grid']);
  for (const k of Object.keys(spec.random?.parameters ?? {})) addKnob(k, ['random', 'parameters']);
  if (errors.length) throw new ConfigError(errors.join('\n'), file, errors.length === 1 ? [...where.keys()][0] : undefined);

  // The base config, validated on its own (its errors point into its own file).
  let baseRaw: Record<string, unknown>;
  let base: ExperimentConfig;
  if (spec.base !== undefined) {
    const baseFile = resolve(dirname(file), spec.base);
    let baseText: string;
    try {
      baseText = (opts.readFile ?? ((p: string) => readFileSync(p, 'utf8')))(baseFile);
    } catch {
      throw new ConfigError(`${at(sweepDoc, lineAt(sweepDoc, ['base']))}: field "base" = ${JSON.stringify(spec.base)}: no such config file (${baseFile})`, file, 'base');
    }
    base = parseConfig(baseText, baseFile);
    baseRaw = readYaml(baseText, baseFile).raw as Record<string, unknown>;
  } else {
    baseRaw = clone(spec.experiment!);
    const res = ExperimentSchema.safeParse(baseRaw);
    if (!res.success) {
      const issues = res.error.issues.map((i) => ({ ...i, path: ['experiment', ...i.path] }));
      throw new ConfigError(formatIssues(file, sweepDoc.doc, sweepDoc.counter, issues).join('\n'), file, issues[0]!.path.join('.'));
    }
    base = res.data;
  }

  const name = opts.name ?? spec.name ?? basename(file, extname(file)).replace(/[^A-Za-z0-9._-]/g, '-');
  if (!SWEEP_NAME.test(name)) {
    throw new ConfigError(`sweep name "${name}" (${opts.name !== undefined ? '--name' : spec.name !== undefined ? 'name' : 'from the file name'}): letters, digits, ".", "_", "-"; at most 80 characters`, file, 'name');
  }
  const seeds = spec.seeds ?? [base.seed];

  // Settings: grid points × random samples, in order, without repeats.
  const random: Record<string, unknown>[] = [];
  if (spec.random) {
    const rng = new Rng(`crlhf-sweep:${spec.random.seed}`);
    for (let i = 0; i < spec.random.samples; i++) {
      random.push(Object.fromEntries(Object.entries(spec.random.parameters).map(([k, d]) => [k, draw(rng, d)])));
    }
  }
  const combos: Record<string, unknown>[] = [];
  const seen = new Set<string>();
  let duplicates = 0;
  for (const g of gridPoints(spec.grid)) {
    for (const r of random.length ? random : [{}]) {
      const params = { ...g, ...r };
      const key = JSON.stringify(params);
      if (seen.has(key)) {
        duplicates++;
        continue;
      }
      seen.add(key);
      combos.push(params);
    }
  }
  const knobs = [...Object.keys(spec.grid), ...Object.keys(spec.random?.parameters ?? {})];

  // Each setting's config, validated like an experiment config; errors point at the value in the sweep spec.
  const withBase = clone(baseRaw);
  for (const [k, v] of Object.entries(overrides)) setPath(withBase, k.split('.'), clone(v));
  const baseParsed = validateSetting(withBase, {}, sweepDoc, spec, knobs, overrides, name, 'all trials');
  const fixedBase: ExperimentConfig = { ...baseParsed, name, seed: base.seed };
  const settings: SweepSetting[] = [];
  const settingErrors = new Set<string>();
  if (Math.min(combos.length * seeds.length, spec.run_cap ?? Infinity) > MAX_TRIALS) {
    throw new ConfigError(`${file}: the sweep expands to ${combos.length * seeds.length} trials; at most ${MAX_TRIALS} per sweep: set run_cap or split it`, file, 'run_cap');
  }
  // Only the settings run_cap keeps are validated and run.
  const used = combos.slice(0, spec.run_cap !== undefined ? Math.ceil(spec.run_cap / seeds.length) : combos.length);
  for (const [i, params] of used.entries()) {
    const raw = clone(withBase);
    for (const [k, v] of Object.entries(params)) setPath(raw, k.split('.'), clone(v));
    try {
      const config = validateSetting(raw, params, sweepDoc, spec, knobs, overrides, name, describeParams(params));
      settings.push({ id: settingId(i, used.length), params, changes: configChanges({ ...fixedBase }, { ...config, name, seed: base.seed }) });
    } catch (err) {
      for (const line of (err as Error).message.split('\n')) settingErrors.add(line);
    }
  }
  if (settingErrors.size) {
    const lines = [...settingErrors];
    throw new ConfigError(lines.length > 12 ? [...lines.slice(0, 12), `... and ${lines.length - 12} more`].join('\n') : lines.join('\n'), file);
  }

  const all: Omit<SweepTrial, 'group'>[] = [];
  for (const [s] of settings.entries()) for (const seed of seeds) all.push({ id: '', setting: s, seed });
  const total = combos.length * seeds.length;
  const kept = spec.run_cap !== undefined ? all.slice(0, spec.run_cap) : all;

  // Groups: trials whose shared steps have the same hashes (their plans say so).
  const groups: SweepGroup[] = [];
  const groupIndex = new Map<string, number>();
  const trials: SweepTrial[] = kept.map((t, i) => {
    const config = { ...applyChanges(fixedBase, settings[t.setting]!.changes), seed: t.seed };
    const plan = makePlan({ runName: `${name}/x`, storeUri: 'file:///', taskQueue: 'q', config });
    const key = plan.steps.baselineScores.hash;
    let g = groupIndex.get(key);
    if (g === undefined) {
      g = groups.length;
      groupIndex.set(key, g);
      groups.push({ key, sft: plan.steps.sft.hash, rewardModel: plan.steps.rewardModel.hash, baselineScores: key });
    }
    return { id: trialId(i, kept.length), setting: t.setting, seed: t.seed, group: g };
  });
  if (trials.length === 0) throw new ConfigError(`${file}: the sweep expands to no trials`, file);

  const metric = defaultMetric(spec.metric, fixedBase);
  const armNames = new Set(['sft', ...fixedBase.arms.map((a) => a.name)]);
  for (const field of ['arm', 'vs'] as const) {
    const v = metric[field];
    if (v !== undefined && !armNames.has(v)) {
      throw new ConfigError(`${at(sweepDoc, lineAt(sweepDoc, ['metric', field]))}: field "metric.${field}" = ${JSON.stringify(v)}: unknown arm; arms: ${[...armNames].join(', ')}`, file, `metric.${field}`);
    }
  }

  const specHash = hashJson({ base: fixedBase, settings, trials, metric });
  return {
    name,
    file,
    specSource: text,
    specHash,
    base: fixedBase,
    knobs,
    settings,
    trials,
    groups,
    maxConcurrent: spec.max_concurrent,
    metric,
    total,
    duplicates,
  };
}

function describeParams(params: Record<string, unknown>): string {
  return Object.entries(params)
    .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
    .join(', ');
}

/** Validates one setting's raw config; an issue is reported at the sweep value that caused it, or with the setting's values. */
function validateSetting(
  raw: Record<string, unknown>,
  params: Record<string, unknown>,
  d: Doc,
  spec: SweepSpec,
  knobs: string[],
  overrides: Record<string, unknown>,
  name: string,
  label: string,
): ExperimentConfig {
  raw.name = name;
  const res = ExperimentSchema.safeParse(raw);
  const lines: string[] = [];
  if (!res.success) {
    for (const issue of res.error.issues) {
      const path = issue.path.map(String);
      const field = path.join('.');
      const candidates = [...knobs.filter((k) => k in params), ...Object.keys(overrides)];
      // The field itself, a field inside it, or (for rules across fields) the field the message names.
      const cause =
        candidates.find((k) => field === k || field.startsWith(`${k}.`)) ?? candidates.find((k) => new RegExp(`(^|[^\\w.])${k.replace(/\./g, '\\.')}($|[^\\w.])`).test(issue.message));
      if (cause !== undefined) {
        const value = cause in params ? params[cause] : overrides[cause];
        const section = cause in params ? (cause in spec.grid ? ['grid', cause] : ['random', 'parameters', cause]) : ['overrides', cause];
        const idx = cause in spec.grid ? spec.grid[cause]!.findIndex((v) => JSON.stringify(v) === JSON.stringify(value)) : -1;
        // An override given with --set is not in the file: no line to point at.
        const line = idx >= 0 ? lineAt(d, [...section, idx]) : d.doc.hasIn(section) ? lineAt(d, section) : undefined;
        lines.push(`${at(d, line)}: ${section.slice(0, -1).join('.')}."${cause}" = ${JSON.stringify(value)}: ${field === cause ? '' : `field "${field}": `}${issue.message}`);
      } else {
        lines.push(`${d.file}: ${label}: field "${field || '(top level)'}": ${issue.message}`);
      }
    }
    throw new ConfigError(lines.join('\n'), d.file);
  }
  const config = res.data;
  if (config.task !== 'files') {
    try {
      getTask(config.task);
    } catch (err) {
      throw new ConfigError(`${d.file}: ${label}: field "task" = ${JSON.stringify(config.task)}: ${(err as Error).message}`, d.file, 'task');
    }
  }
  return config;
}

/** Assembles the workflow input from an expanded sweep and where it runs. */
export function sweepInput(
  sweep: ExpandedSweep,
  where: { storeUri: string; taskQueue: string; heartbeat?: string; childrenPerRun?: number },
): SweepInput {
  const { file: _file, total: _total, duplicates: _duplicates, ...rest } = sweep;
  return {
    ...rest,
    storeUri: where.storeUri,
    taskQueue: where.taskQueue,
    ...(where.heartbeat ? { timeouts: { heartbeat: where.heartbeat } } : {}),
    ...(where.childrenPerRun ? { childrenPerRun: where.childrenPerRun } : {}),
  };
}

// ------------------------------------------------------------ reference

/** A Markdown table of the sweep spec's fields, generated from its schema (README, "Sweeps"). */
export function sweepSpecReference(): string {
  const schema = z.toJSONSchema(SweepSpecSchema, { io: 'input', unrepresentable: 'any' }) as JsonSchema;
  const rows: string[][] = [];
  const walk = (s: JsonSchema, path: string) => {
    const nested = s.type === 'object' && s.properties && path !== '';
    rows.push([`\`${path}\``, typeOf(s), s.default === undefined ? '' : `\`${JSON.stringify(s.default)}\``, (s.description ?? '').replace(/\|/g, '\\|')]);
    if (nested) for (const [k, v] of Object.entries(s.properties!)) walk(v, `${path}.${k}`);
  };
  for (const [k, v] of Object.entries(schema.properties ?? {})) walk(v, k);
  return referenceTable(rows);
}
