// The aggregate report of a sweep: each trial's summary (runs/<trial>/summary.json)
// reduced to mean ± 95% CI across seeds per setting — win rates per judge and
// comparison, gold reward per arm — a ranking by the sweep's metric, and one
// plot per swept knob and metric with one line per arm (or comparison).
// Written as report.html, report.md, report.json and plots/*.svg, to the
// store by the sweep workflow and to a local folder by `crlhf sweep report`.
import type * as vl from 'vega-lite';
import { toHtml, toMarkdown, type Block, type Cell, type Column, type ReportDoc } from '../report/doc.js';
import { sig } from '../report/format.js';
import { ARM_PALETTE, FONT, SFT_COLOR, renderSvg } from '../report/plots.js';
import { REPORT_CSS } from '../report/style.js';
import { getJsonOrNull } from '../storage/json.js';
import type { ArtifactStore } from '../storage/types.js';
import { formatValue, type SweepMetric } from '../sweep/trials.js';
import type { SweepStatus, TrialStatus } from '../workflows/sweep.js';
import { layout } from './layout.js';
import type { ExperimentSummary } from './summary.js';

export const SWEEP_REPORT_SCHEMA = 'crlhf.sweep-report/v1' as const;

/** Mean over n values with a 95% Student-t interval (none for n = 1). */
export interface Estimate {
  mean: number;
  lo: number | null;
  hi: number | null;
  n: number;
}

/** A metric reported per arm (gold reward) or per comparison (a judge's win rate). */
export interface Family {
  id: string;
  title: string;
  /** Axis label. */
  short: string;
  /** Lines of the family: arm names, or "candidate vs baseline". */
  series: string[];
}

export interface SweepReportData {
  schema: typeof SWEEP_REPORT_SCHEMA;
  sweep: string;
  workflowId: string;
  generatedAt: string;
  storeUri: string;
  knobs: string[];
  metric: SweepMetric & { label: string };
  counts: Record<TrialStatus, number>;
  families: Family[];
  settings: {
    id: string;
    params: Record<string, unknown>;
    seeds: number[];
    trials: string[];
    metric: Estimate | null;
    values: Record<string, Record<string, Estimate | null>>;
  }[];
  trials: {
    id: string;
    workflowId: string;
    setting: string;
    params: Record<string, unknown>;
    seed: number;
    status: TrialStatus;
    error?: string;
    metric: number | null;
    values: Record<string, Record<string, number | null>>;
  }[];
  /** Per knob and family: the mean of each line at each value of the knob, over seeds and the other knobs. */
  marginals: { knob: string; family: string; points: { value: unknown; label: string; series: string; estimate: Estimate }[] }[];
  best: { setting: string; params: Record<string, unknown>; estimate: Estimate } | null;
}

// ------------------------------------------------------------ statistics

/** Two-sided 95% quantiles of Student's t, df = 1..30 (standard tables). */
const T975 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.16, 2.145, 2.131, 2.12, 2.11, 2.101, 2.093, 2.086, 2.08, 2.074, 2.069, 2.064, 2.06, 2.056, 2.052, 2.048, 2.045, 2.042];

/** t₀.₉₇₅ with df degrees of freedom; beyond the table, the Cornish-Fisher expansion (Abramowitz & Stegun 26.7.5). */
export function tQuantile975(df: number): number {
  if (!(df >= 1)) throw new RangeError(`tQuantile975: df must be ≥ 1, got ${df}`);
  if (df <= 30) return T975[Math.floor(df) - 1]!;
  const z = 1.959964;
  return z + (z ** 3 + z) / (4 * df) + (5 * z ** 5 + 16 * z ** 3 + 3 * z) / (96 * df ** 2);
}

/** Mean ± t·s/√n with the sample (n − 1) standard deviation: seeds are a sample of the seeds one could run. */
export function meanCI(values: readonly number[]): Estimate | null {
  const xs = values.filter((x) => Number.isFinite(x));
  const n = xs.length;
  if (n === 0) return null;
  const mean = xs.reduce((a, b) => a + b, 0) / n;
  if (n === 1) return { mean, lo: null, hi: null, n };
  const s = Math.sqrt(xs.reduce((a, x) => a + (x - mean) ** 2, 0) / (n - 1));
  const half = (tQuantile975(n - 1) * s) / Math.sqrt(n);
  return { mean, lo: mean - half, hi: mean + half, n };
}

// ------------------------------------------------------------ metrics of one trial

const WIN_FIELDS = { win_rate: 'winRate', adjusted_win_rate: 'adjustedWinRate', lc_win_rate: 'lengthControlledWinRate' } as const;
const ARM_FIELDS = { gold: 'goldMean', rm_score: 'rmScoreMean', kl: 'klToRef', length: 'responseLength' } as const;

export function metricValue(summary: ExperimentSummary, metric: Pick<SweepMetric, 'name' | 'arm' | 'vs' | 'judge'>): number | null {
  if (metric.name in WIN_FIELDS) {
    const w = summary.winRates.find((r) => r.judge === metric.judge && r.candidate === metric.arm && r.baseline === (metric.vs ?? 'sft'));
    const v = w?.[WIN_FIELDS[metric.name as keyof typeof WIN_FIELDS]];
    return typeof v === 'number' && Number.isFinite(v) ? v : null;
  }
  const a = summary.arms.find((x) => x.name === metric.arm);
  const v = a?.[ARM_FIELDS[metric.name as keyof typeof ARM_FIELDS]];
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

export function metricLabel(m: Pick<SweepMetric, 'name' | 'arm' | 'vs' | 'judge'>): string {
  const names: Record<SweepMetric['name'], string> = {
    adjusted_win_rate: 'adjusted win rate',
    win_rate: 'win rate',
    lc_win_rate: 'length-controlled win rate',
    gold: 'gold reward',
    rm_score: 'reward-model score',
    kl: 'KL to reference',
    length: 'response length',
  };
  return m.name in WIN_FIELDS ? `${names[m.name]} of ${m.arm} vs ${m.vs ?? 'sft'} (${m.judge})` : `${names[m.name]} of ${m.arm}`;
}

const comparisonKey = (c: { candidate: string; baseline: string }) => `${c.candidate} vs ${c.baseline}`;

/** The families a set of summaries supports, in report order: gold reward, then each judge's win rates. */
function familiesOf(summaries: ExperimentSummary[]): Family[] {
  const fams: Family[] = [];
  const arms = [...new Set(summaries.flatMap((s) => s.arms.filter((a) => a.goldMean !== null).map((a) => a.name)))];
  if (arms.length) fams.push({ id: 'gold', title: 'gold reward', short: 'gold reward', series: arms });
  const judges = [...new Set(summaries.flatMap((s) => s.winRates.map((w) => w.judge)))];
  for (const j of judges) {
    const comps = [...new Set(summaries.flatMap((s) => s.winRates.filter((w) => w.judge === j).map(comparisonKey)))];
    fams.push({ id: `adjusted_win_rate:${j}`, title: `adjusted win rate, ${j} judge (ties count half)`, short: 'adjusted win rate', series: comps });
    fams.push({ id: `win_rate:${j}`, title: `win rate, ${j} judge`, short: 'win rate', series: comps });
  }
  return fams;
}

function familyValues(s: ExperimentSummary, fams: Family[]): Record<string, Record<string, number | null>> {
  const out: Record<string, Record<string, number | null>> = {};
  for (const f of fams) {
    const row: Record<string, number | null> = {};
    for (const series of f.series) {
      if (f.id === 'gold') row[series] = s.arms.find((a) => a.name === series)?.goldMean ?? null;
      else {
        const [kind, judge] = [f.id.slice(0, f.id.indexOf(':')), f.id.slice(f.id.indexOf(':') + 1)];
        const w = s.winRates.find((x) => x.judge === judge && comparisonKey(x) === series);
        const v = w ? (kind === 'win_rate' ? w.winRate : w.adjustedWinRate) : null;
        row[series] = typeof v === 'number' && Number.isFinite(v) ? v : null;
      }
    }
    out[f.id] = row;
  }
  return out;
}

// ------------------------------------------------------------ aggregation

/** Reads the summary of every completed trial (its run name is its workflow ID). */
export async function loadTrialSummaries(store: ArtifactStore, status: Pick<SweepStatus, 'trials'>): Promise<Map<string, ExperimentSummary>> {
  const out = new Map<string, ExperimentSummary>();
  for (const t of status.trials) {
    if (t.status !== 'completed') continue;
    const s = await getJsonOrNull<ExperimentSummary>(store, layout.summary(t.workflowId));
    if (s) out.set(t.id, s);
  }
  return out;
}

export function aggregateSweep(status: SweepStatus, summaries: Map<string, ExperimentSummary>, now = new Date()): SweepReportData {
  const fams = familiesOf([...summaries.values()]);
  const trials: SweepReportData['trials'] = status.trials.map((t) => {
    const s = summaries.get(t.id);
    return {
      id: t.id,
      workflowId: t.workflowId,
      setting: t.setting,
      params: t.params,
      seed: t.seed,
      status: t.status,
      ...(t.error ? { error: t.error } : {}),
      metric: s ? metricValue(s, status.metric) : null,
      values: s ? familyValues(s, fams) : {},
    };
  });
  const bySetting = new Map<string, typeof trials>();
  for (const t of trials) bySetting.set(t.setting, [...(bySetting.get(t.setting) ?? []), t]);
  const est = (ts: typeof trials, f: string, series: string) =>
    meanCI(ts.map((t) => t.values[f]?.[series]).filter((v): v is number => typeof v === 'number'));
  const settings: SweepReportData['settings'] = [...bySetting.entries()].map(([id, ts]) => ({
    id,
    params: ts[0]!.params,
    seeds: ts.filter((t) => summaries.has(t.id)).map((t) => t.seed),
    trials: ts.map((t) => t.id),
    metric: meanCI(ts.map((t) => t.metric).filter((v): v is number => v !== null)),
    values: Object.fromEntries(fams.map((f) => [f.id, Object.fromEntries(f.series.map((s) => [s, est(ts, f.id, s)]))])),
  }));

  const marginals: SweepReportData['marginals'] = [];
  for (const knob of status.knobs) {
    const values: unknown[] = [];
    for (const t of trials) if (!values.some((v) => JSON.stringify(v) === JSON.stringify(t.params[knob]))) values.push(t.params[knob]);
    if (values.every((v) => typeof v === 'number')) (values as number[]).sort((a, b) => a - b);
    for (const f of fams) {
      const points: SweepReportData['marginals'][number]['points'] = [];
      for (const v of values) {
        const ts = trials.filter((t) => JSON.stringify(t.params[knob]) === JSON.stringify(v));
        for (const series of f.series) {
          const e = est(ts, f.id, series);
          if (e) points.push({ value: v, label: formatValue(v), series, estimate: e });
        }
      }
      if (points.length) marginals.push({ knob, family: f.id, points });
    }
  }

  const sign = status.metric.goal === 'minimize' ? -1 : 1;
  const ranked = settings.filter((s) => s.metric).sort((a, b) => sign * (b.metric!.mean - a.metric!.mean));
  const top = ranked[0];
  return {
    schema: SWEEP_REPORT_SCHEMA,
    sweep: status.sweep,
    workflowId: status.workflowId,
    generatedAt: now.toISOString(),
    storeUri: status.storeUri,
    knobs: status.knobs,
    metric: { ...status.metric, label: metricLabel(status.metric) },
    counts: status.counts,
    families: fams,
    settings,
    trials,
    marginals,
    best: top ? { setting: top.id, params: top.params, estimate: top.metric! } : null,
  };
}

// ------------------------------------------------------------ plots

const PLOT_CONFIG = {
  font: FONT,
  background: 'white',
  padding: 8,
  view: { stroke: '#e2e2e2' },
  axis: { labelFontSize: 11, titleFontSize: 12, titleFontWeight: 600, gridColor: '#ececec', domainColor: '#999', tickColor: '#999' },
  legend: { labelFontSize: 12, titleFontSize: 12, orient: 'top', labelLimit: 400, titleLimit: 400 },
  title: { fontSize: 14, fontWeight: 600, anchor: 'start', subtitleFontSize: 12, subtitleColor: '#555' },
} as const;

export function plotName(knob: string, family: string): string {
  return `${knob}--${family}`.replace(/[^A-Za-z0-9._-]/g, '_');
}

/** Knobs with at most this many values are drawn evenly spaced, lines side by side; more (random search) on a numeric axis. */
const MAX_ORDINAL = 8;

/** A line per arm (or comparison) of one family against one knob, with 95% CI bars. */
export function knobPlotSpec(data: SweepReportData, m: SweepReportData['marginals'][number]): vl.TopLevelSpec {
  const fam = data.families.find((f) => f.id === m.family)!;
  const labels = [...new Set(m.points.map((p) => p.label))];
  const numeric = m.points.every((p) => typeof p.value === 'number') && labels.length > MAX_ORDINAL;
  const xs = m.points.map((p) => p.value as number);
  const log = numeric && xs.every((x) => x > 0) && Math.max(...xs) / Math.min(...xs) >= 50;
  let i = 0;
  const range = fam.series.map((s) => (s === 'sft' ? SFT_COLOR : (ARM_PALETTE[i++ % ARM_PALETTE.length] as string)));
  // Evenly spaced knob values: lines sit side by side within a value, so their intervals do not hide each other.
  const spread = Math.min(0.5, 0.12 * fam.series.length);
  const offsetOf = (series: string) => (fam.series.length < 2 ? 0 : (fam.series.indexOf(series) / (fam.series.length - 1) - 0.5) * spread);
  const rows = m.points.map((p) => ({
    x: numeric ? p.value : labels.indexOf(p.label) + offsetOf(p.series),
    label: p.label,
    series: p.series,
    mean: p.estimate.mean,
    lo: p.estimate.lo,
    hi: p.estimate.hi,
    n: p.estimate.n,
  }));
  const x = numeric
    ? { field: 'x', type: 'quantitative' as const, title: m.knob, scale: { type: log ? ('log' as const) : ('linear' as const), zero: false } }
    : {
        field: 'x',
        type: 'quantitative' as const,
        title: m.knob,
        scale: { domain: [-0.5, labels.length - 0.5], nice: false, zero: false },
        axis: { values: labels.map((_, j) => j), labelExpr: `${JSON.stringify(labels)}[datum.value]`, grid: false },
      };
  const color = { field: 'series', type: 'nominal' as const, title: fam.id === 'gold' ? 'arm' : 'comparison', sort: fam.series, scale: { domain: fam.series, range } };
  const judge = fam.id.includes(':') ? ` (${fam.id.slice(fam.id.indexOf(':') + 1)})` : '';
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    description: `${fam.title} against ${m.knob}: mean over seeds and the other knobs, 95% CI bars`,
    config: PLOT_CONFIG,
    data: { values: rows },
    width: numeric ? 380 : Math.max(240, 70 * labels.length),
    height: 220,
    encoding: { x, color },
    layer: [
      {
        transform: [{ filter: 'datum.lo != null' }],
        mark: { type: 'rule', strokeWidth: 1.5, opacity: 0.7 },
        encoding: { y: { field: 'lo', type: 'quantitative' }, y2: { field: 'hi' } },
      },
      {
        mark: { type: 'line', point: { size: 40 }, strokeWidth: 2 },
        encoding: {
          y: { field: 'mean', type: 'quantitative', title: `${fam.short}${judge}`, scale: { zero: false } },
          tooltip: [{ field: 'series' }, { field: 'label', title: m.knob }, { field: 'mean', format: '.3g' }, { field: 'lo', format: '.3g' }, { field: 'hi', format: '.3g' }, { field: 'n' }],
        },
      },
    ],
  } as vl.TopLevelSpec;
}

// ------------------------------------------------------------ document

const pm = (e: Estimate | null | undefined): Cell =>
  !e ? '—' : e.lo === null || e.hi === null ? { text: sig(e.mean), sub: 'n=1' } : { text: sig(e.mean), sub: `± ${sig((e.hi - e.lo) / 2)}` };

function knobColumns(knobs: string[]): Column[] {
  return knobs.map((k) => ({ title: k, nowrap: true }));
}

function knobCells(knobs: string[], params: Record<string, unknown>): Cell[] {
  return knobs.map((k) => ({ text: formatValue(params[k]), code: true }));
}

export function sweepReportDoc(data: SweepReportData, plots: { name: string; title: string; caption: string }[]): ReportDoc {
  const c = data.counts;
  const seeds = [...new Set(data.trials.map((t) => t.seed))];
  const overview: Block[] = [
    {
      kind: 'facts',
      items: [
        ['sweep', { text: data.sweep, code: true }],
        ['trials', `${data.trials.length}: ${c.completed} completed, ${c.failed} failed, ${c.cancelled} cancelled, ${c.running} running, ${c.pending} pending`],
        ['settings', String(data.settings.length)],
        ['knobs', data.knobs.length ? data.knobs.join(', ') : '(none: seeds only)'],
        ['seeds', seeds.join(', ')],
        ['ranked by', `${data.metric.label}, ${data.metric.goal === 'maximize' ? 'higher is better' : 'lower is better'}`],
        ['store', { text: data.storeUri, code: true }],
      ],
    },
    {
      kind: 'paragraph',
      text: 'Every value is the mean over the seeds of a setting, ± the half-width of its 95% Student-t confidence interval (n − 1 degrees of freedom; none with one seed).',
    },
  ];

  const sign = data.metric.goal === 'minimize' ? -1 : 1;
  const ranked = [...data.settings].sort((a, b) => (b.metric && a.metric ? sign * (b.metric.mean - a.metric.mean) : b.metric ? 1 : a.metric ? -1 : 0));
  const ranking: Block = {
    kind: 'table',
    columns: [{ title: 'rank', numeric: true }, { title: 'setting' }, ...knobColumns(data.knobs), { title: 'seeds', numeric: true }, { title: data.metric.label, numeric: true }],
    rows: ranked.map((s, i) => [String(i + 1), { text: s.id, code: true }, ...knobCells(data.knobs, s.params), String(s.seeds.length), pm(s.metric)]),
  };

  const familySections = data.families.map((f) => ({
    id: `family-${f.id.replace(/[^A-Za-z0-9_-]/g, '-')}`,
    title: f.title[0]!.toUpperCase() + f.title.slice(1),
    blocks: [
      {
        kind: 'table' as const,
        caption: `${f.title}: mean ± 95% CI over seeds, per setting`,
        columns: [{ title: 'setting' }, ...knobColumns(data.knobs), { title: 'seeds', numeric: true }, ...f.series.map((s) => ({ title: s, numeric: true, nowrap: true }))],
        rows: data.settings.map((s) => [{ text: s.id, code: true }, ...knobCells(data.knobs, s.params), String(s.seeds.length), ...f.series.map((x) => pm(s.values[f.id]?.[x]))]),
      },
    ],
  }));

  const plotBlocks: Block[] = plots.length
    ? plots.map((p) => ({ kind: 'plot', name: p.name, title: p.title, caption: p.caption }))
    : [{ kind: 'note', text: data.knobs.length ? 'No completed trials to plot yet.' : 'Nothing is swept but the seed: no knob to plot against.' }];

  const trialsTable: Block = {
    kind: 'table',
    columns: [{ title: 'trial' }, ...knobColumns(data.knobs), { title: 'seed', numeric: true }, { title: 'status' }, { title: data.metric.label, numeric: true }, { title: 'workflow' }],
    rows: data.trials.map((t) => [
      { text: t.id, code: true },
      ...knobCells(data.knobs, t.params),
      String(t.seed),
      t.error ? { text: t.status, sub: t.error, tone: 'bad' as const } : { text: t.status, tone: t.status === 'completed' ? ('good' as const) : undefined },
      sig(t.metric),
      { text: t.workflowId, code: true },
    ]),
  };

  const best = data.best;
  return {
    title: `Sweep ${data.sweep}`,
    meta: [
      ['trials', String(data.trials.length)],
      ['settings', String(data.settings.length)],
      ['metric', data.metric.label],
      ['generated', data.generatedAt.slice(0, 19).replace('T', ' ')],
    ],
    headline: best
      ? {
          title: `Best setting: ${best.setting}`,
          tone: 'even',
          lines: [
            Object.entries(best.params).map(([k, v]) => `${k} = ${formatValue(v)}`).join(', ') || 'the base config',
            `${data.metric.label}: ${sig(best.estimate.mean)}${best.estimate.lo !== null && best.estimate.hi !== null ? ` ± ${sig((best.estimate.hi - best.estimate.lo) / 2)} (95% CI, ${best.estimate.n} seeds)` : ' (one seed)'}`,
          ],
        }
      : null,
    sections: [
      { id: 'overview', title: 'Overview', blocks: overview },
      { id: 'ranking', title: 'Ranking', blocks: [ranking] },
      ...familySections,
      { id: 'plots', title: 'Metrics against each knob', blocks: plotBlocks },
      { id: 'trials', title: 'Trials', blocks: [trialsTable] },
    ],
  };
}

export interface RenderedSweepReport {
  data: SweepReportData;
  html: string;
  markdown: string;
  /** Plot name → SVG; the Markdown links them as plots/<name>.svg. */
  svgs: Record<string, string>;
}

export async function renderSweepReport(data: SweepReportData): Promise<RenderedSweepReport> {
  const plots: { name: string; title: string; caption: string }[] = [];
  const svgs: Record<string, string> = {};
  for (const m of data.marginals) {
    const fam = data.families.find((f) => f.id === m.family)!;
    const name = plotName(m.knob, m.family);
    svgs[name] = (await renderSvg(knobPlotSpec(data, m), `sweep-${name}`)).svg;
    plots.push({ name, title: `${fam.title} vs ${m.knob}`, caption: `One line per ${fam.id === 'gold' ? 'arm' : 'comparison'}; each point is the mean over seeds and the other knobs, bars are 95% confidence intervals.` });
  }
  const doc = sweepReportDoc(data, plots);
  return { data, html: toHtml(doc, svgs, REPORT_CSS), markdown: toMarkdown(doc, 'plots'), svgs };
}

/** Writes report.html, report.md, report.json and plots/<name>.svg through `put` (a store or a folder). */
export async function writeSweepReportFiles(r: RenderedSweepReport, put: (rel: string, text: string) => Promise<void>): Promise<string[]> {
  const files: [string, string][] = [
    ['report.json', `${JSON.stringify(r.data, null, 2)}\n`],
    ...Object.entries(r.svgs).map(([n, svg]): [string, string] => [`plots/${n}.svg`, svg]),
    ['report.md', r.markdown],
    // Last: its presence means the rest is there.
    ['report.html', r.html],
  ];
  for (const [rel, text] of files) await put(rel, text);
  return files.map(([rel]) => rel);
}

export const sweepReportDir = (sweep: string) => `sweeps/${sweep}/report`;
