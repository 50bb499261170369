// The report's plots as Vega-Lite specs — pure functions of ReportData, so a
// test can read a spec's data and encodings without drawing anything — and
// their rendering to SVG in Node (Vega's headless 'none' renderer, no canvas).
//
// Colours: the Okabe-Ito palette (Okabe & Ito 2008), safe for the common
// colour-vision deficiencies. Arms get their colour from their position in
// `data.arms` so an arm looks the same in every plot; green and vermillion
// are kept for win and loss so outcome colours never read as an arm.
import * as vega from 'vega';
import * as vl from 'vega-lite';
import type { Arm, ReportData } from './types.js';

type Spec = vl.TopLevelSpec;

export const SFT_COLOR = '#7A7A7A';
export const ARM_PALETTE = ['#0072B2', '#E69F00', '#CC79A7', '#56B4E9', '#F0E442', '#000000'] as const;
export const OUTCOME_COLORS = { win: '#009E73', tie: '#C8C8C8', loss: '#D55E00', error: '#F1F1F1' } as const;

export const FONT = 'system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif';

/** Shared look: readable sizes, light grid, no chart border. */
const CONFIG = {
  font: FONT,
  background: 'white',
  padding: 8,
  view: { stroke: '#e2e2e2' },
  axis: {
    labelFontSize: 11,
    titleFontSize: 12,
    titleFontWeight: 600,
    labelColor: '#333',
    titleColor: '#222',
    gridColor: '#ececec',
    domainColor: '#999',
    tickColor: '#999',
  },
  header: { labelFontSize: 12, labelFontWeight: 600, labelColor: '#222', titleFontSize: 12, titleFontWeight: 600 },
  // Node has no canvas to measure text, so Vega over-estimates widths: allow long labels.
  legend: { labelFontSize: 12, titleFontSize: 12, titleFontWeight: 600, orient: 'top', symbolStrokeWidth: 3, labelLimit: 400, titleLimit: 400 },
  title: { fontSize: 14, fontWeight: 600, anchor: 'start', color: '#222', subtitleFontSize: 12, subtitleColor: '#555' },
  line: { strokeWidth: 2 },
} as const;

/** Arm name → colour, in `data.arms` order (sft grey, PPO arms from the palette). */
export function armColors(data: { arms: readonly Pick<Arm, 'name' | 'rewardMode'>[] }): { domain: string[]; range: string[] } {
  const domain: string[] = [];
  const range: string[] = [];
  let i = 0;
  for (const arm of data.arms) {
    domain.push(arm.name);
    range.push(arm.rewardMode === 'sft' ? SFT_COLOR : (ARM_PALETTE[i++ % ARM_PALETTE.length] as string));
  }
  return { domain, range };
}

/** A colour encoding for arms limited to `arms`, so a legend lists only arms the plot shows, in report order, with their report colour. */
function armColor(data: ReportData, arms: Iterable<string>, title = 'arm') {
  const shown = new Set(arms);
  const all = armColors(data);
  const domain = all.domain.filter((a) => shown.has(a));
  const range = domain.map((a) => all.range[all.domain.indexOf(a)] as string);
  return { field: 'arm', type: 'nominal' as const, title, scale: { domain, range }, sort: domain };
}

/** Oracle first, then LLM judges, then humans: the order of every judge listing. */
export const judgeOrder = (judge: string): number => (judge === 'oracle' || judge.startsWith('oracle:') ? 0 : judge.startsWith('llm:') ? 1 : 2);

export const judgeLabel = (judge: string): string => (judge.startsWith('llm:') ? `LLM (${judge.slice(4)})` : judge);
export const comparisonLabel = (c: { candidate: string; baseline: string }): string => `${c.candidate} vs ${c.baseline}`;

/** One metric panel of the training curves. */
interface TrainingMetric {
  key: 'scoreMean' | 'contrastiveMean' | 'kl' | 'entropy' | 'valueLoss' | 'explainedVariance' | 'goldMean';
  title: string;
}

export const TRAINING_METRICS: readonly TrainingMetric[] = [
  { key: 'scoreMean', title: 'reward-model score' },
  { key: 'contrastiveMean', title: 'contrastive reward' },
  { key: 'kl', title: 'KL to reference' },
  { key: 'entropy', title: 'policy entropy' },
  { key: 'valueLoss', title: 'value loss' },
  { key: 'explainedVariance', title: 'explained variance' },
  { key: 'goldMean', title: 'gold reward (rollouts)' },
];

/** Small multiples, one panel per metric, one line per arm. null without training data. */
export function trainingCurvesSpec(data: ReportData): Spec | null {
  const rows: { arm: string; iteration: number; metric: string; value: number }[] = [];
  for (const p of data.training) {
    for (const m of TRAINING_METRICS) {
      const v = p[m.key];
      if (v !== undefined) rows.push({ arm: p.arm, iteration: p.iteration, metric: m.title, value: v });
    }
  }
  if (rows.length === 0) return null;
  const metrics = TRAINING_METRICS.map((m) => m.title).filter((t) => rows.some((r) => r.metric === t));
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    description: 'PPO training curves per arm',
    config: CONFIG,
    data: { values: rows },
    facet: { field: 'metric', type: 'nominal', sort: metrics, title: null, header: { labelOrient: 'top', labelAnchor: 'start', labelPadding: 4 } },
    columns: 4,
    spec: {
      width: 205,
      height: 130,
      mark: { type: 'line', interpolate: 'linear', strokeWidth: 2 },
      encoding: {
        x: { field: 'iteration', type: 'quantitative', title: 'PPO iteration', axis: { tickMinStep: 1, grid: true, titleFontWeight: 400, titleColor: '#555' } },
        y: { field: 'value', type: 'quantitative', title: null, scale: { zero: false }, axis: { grid: true, tickCount: 5 } },
        color: armColor(data, rows.map((r) => r.arm)),
      },
    },
    // Each panel has its own y range and its own x axis, so a short last
    // row does not leave axes floating under empty cells.
    resolve: { scale: { y: 'independent' }, axis: { x: 'independent' } },
  };
}

/** Std over the rollout batch of the raw score and of the contrastive reward, per arm: does the baseline reduce reward variance? */
export function rewardVarianceSpec(data: ReportData): Spec | null {
  const rows: { arm: string; iteration: number; reward: string; std: number }[] = [];
  for (const p of data.training) {
    rows.push({ arm: p.arm, iteration: p.iteration, reward: 'raw score r(x, y)', std: p.scoreStd });
    if (p.contrastiveStd !== undefined) rows.push({ arm: p.arm, iteration: p.iteration, reward: 'contrastive r − mean_k r(x, y_j)', std: p.contrastiveStd });
  }
  if (rows.length === 0) return null;
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    description: 'Standard deviation of the reward over each rollout batch during PPO',
    config: CONFIG,
    data: { values: rows },
    facet: { field: 'reward', type: 'nominal', sort: ['raw score r(x, y)', 'contrastive r − mean_k r(x, y_j)'], title: null, header: { labelAnchor: 'start' } },
    spec: {
      width: 340,
      height: 180,
      mark: { type: 'line', strokeWidth: 2 },
      encoding: {
        x: { field: 'iteration', type: 'quantitative', title: 'PPO iteration', axis: { grid: true } },
        y: { field: 'std', type: 'quantitative', title: 'reward std over batch', scale: { zero: true }, axis: { grid: true } },
        color: armColor(data, rows.map((r) => r.arm)),
      },
    },
    resolve: { scale: { y: 'shared' } },
  };
}

/** One stacked bar per (judge, comparison): wins, ties, losses and (excluded) errors as counts, labelled. */
export function winTieLossSpec(data: ReportData): Spec | null {
  if (data.comparisons.length === 0) return null;
  const outcomes = ['win', 'tie', 'loss', 'error'] as const;
  const rows: { judge: string; comparison: string; outcome: string; count: number; x0: number; x1: number; xMid: number; label: string }[] = [];
  for (const c of data.comparisons) {
    let x = 0;
    const counts = { win: c.wins, tie: c.ties, loss: c.losses, error: c.errors };
    for (const o of outcomes) {
      const count = counts[o];
      if (count === 0) continue;
      rows.push({ judge: judgeLabel(c.judge), comparison: comparisonLabel(c), outcome: o, count, x0: x, x1: x + count, xMid: x + count / 2, label: String(count) });
      x += count;
    }
  }
  const comparisons = [...new Set(data.comparisons.map(comparisonLabel))];
  const judges = [...new Set(data.comparisons.map((c) => judgeLabel(c.judge)))];
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    description: 'Wins, ties and losses of each comparison, per judge',
    config: CONFIG,
    data: { values: rows },
    facet: { row: { field: 'judge', type: 'nominal', sort: judges, title: null, header: { labelAngle: 0, labelAlign: 'left', labelOrient: 'top', labelAnchor: 'start' } } },
    spec: {
      width: 520,
      height: { step: 26 },
      layer: [
        {
          mark: { type: 'bar', stroke: 'white', strokeWidth: 1 },
          encoding: {
            y: { field: 'comparison', type: 'nominal', sort: comparisons, title: null, axis: { labelFontSize: 12, labelLimit: 220 } },
            x: { field: 'x0', type: 'quantitative', title: 'pairs (errors are excluded from every rate)', axis: { grid: true } },
            x2: { field: 'x1' },
            color: {
              field: 'outcome',
              type: 'nominal',
              title: 'outcome',
              sort: [...outcomes],
              scale: { domain: [...outcomes], range: outcomes.map((o) => OUTCOME_COLORS[o]) },
            },
          },
        },
        {
          mark: { type: 'text', fontSize: 11, fontWeight: 600, baseline: 'middle' },
          encoding: {
            y: { field: 'comparison', type: 'nominal', sort: comparisons },
            x: { field: 'xMid', type: 'quantitative' },
            text: { field: 'label', type: 'nominal' },
            // Dark text on light segments, white on dark ones.
            color: { condition: { test: "datum.outcome === 'win' || datum.outcome === 'loss'", value: 'white' }, value: '#222' },
          },
        },
      ],
    },
  };
}

/** Adjusted win rate per difficulty bucket with CI bars; panels: comparison × judge. */
export function winRateByDifficultySpec(data: ReportData): Spec | null {
  const rows = data.byDifficulty
    .filter((r) => r.adjustedWinRate !== null)
    .map((r) => ({
      judge: judgeLabel(r.judge),
      comparison: comparisonLabel(r),
      arm: r.candidate,
      bucket: r.bucket,
      n: r.n,
      value: r.adjustedWinRate?.value ?? 0,
      lo: r.adjustedWinRate?.lo ?? 0,
      hi: r.adjustedWinRate?.hi ?? 0,
    }));
  if (rows.length === 0) return null;
  const buckets = data.difficulty.buckets.map((b) => b.name);
  const comparisons = [...new Set(rows.map((r) => r.comparison))];
  const judges = [...new Set(data.byDifficulty.map((r) => r.judge))]
    .sort((a, b) => judgeOrder(a) - judgeOrder(b) || a.localeCompare(b))
    .map(judgeLabel);
  // Judges side by side within a bucket (xOffset, marker shape), so their
  // agreement is visible at a glance; colour stays the candidate arm.
  const x = { field: 'bucket', type: 'ordinal' as const, sort: buckets, title: 'prompt difficulty', axis: { labelAngle: 0, labelExpr: "split(datum.label, ' ')" }, scale: { paddingInner: 0.25 } };
  const xOffset = { field: 'judge', type: 'nominal' as const, sort: judges, scale: { paddingOuter: 0.3 } };
  const color = armColor(data, rows.map((r) => r.arm), 'candidate');
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    description: 'Adjusted win rate by prompt-difficulty bucket, with confidence intervals',
    config: CONFIG,
    data: { values: rows },
    facet: { column: { field: 'comparison', type: 'nominal', sort: comparisons, title: null, header: { labelFontSize: 13 } } },
    spec: {
      width: 240,
      height: 190,
      layer: [
        { mark: { type: 'rule', strokeDash: [4, 3], color: '#888' }, encoding: { y: { datum: 0.5 } } },
        {
          mark: { type: 'rule', strokeWidth: 2 },
          encoding: {
            x,
            xOffset,
            y: { field: 'lo', type: 'quantitative', scale: { domain: [0, 1] }, title: 'adjusted win rate (tie = ½)' },
            y2: { field: 'hi' },
            color,
          },
        },
        {
          mark: { type: 'point', filled: true, size: 75, stroke: 'white', strokeWidth: 1 },
          encoding: {
            x,
            xOffset,
            y: { field: 'value', type: 'quantitative' },
            color,
            shape: { field: 'judge', type: 'nominal', sort: judges, title: 'judge', scale: { domain: judges, range: ['circle', 'square', 'triangle-up', 'diamond'] } },
          },
        },
      ],
    },
  };
}

/** Gold-reward gain over SFT per bucket, bars per arm with CI. null when there is no gold reward. */
export function goldGainByDifficultySpec(data: ReportData): Spec | null {
  if (data.goldByDifficulty.length === 0) return null;
  const rows = data.goldByDifficulty.map((g) => ({ arm: g.arm, bucket: g.bucket, n: g.n, value: g.gainOverSft.value, lo: g.gainOverSft.lo, hi: g.gainOverSft.hi }));
  const buckets = data.difficulty.buckets.map((b) => b.name);
  const color = armColor(data, rows.map((r) => r.arm));
  const x = { field: 'bucket', type: 'ordinal' as const, sort: buckets, title: 'prompt difficulty', axis: { labelAngle: 0, labelExpr: "split(datum.label, ' ')" } };
  const xOffset = { field: 'arm', type: 'nominal' as const, sort: color.sort };
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    description: 'Gold reward gain over SFT by prompt-difficulty bucket',
    config: CONFIG,
    data: { values: rows },
    // With xOffset the step is per arm within a bucket.
    width: { step: 70 },
    height: 220,
    layer: [
      {
        mark: { type: 'bar', opacity: 0.9, width: { band: 0.85 } },
        encoding: { x, xOffset, y: { field: 'value', type: 'quantitative', title: 'gold reward gain over SFT' }, color },
      },
      { mark: { type: 'rule', color: '#222', strokeWidth: 1.5 }, encoding: { x, xOffset, y: { field: 'lo', type: 'quantitative' }, y2: { field: 'hi' } } },
      { mark: { type: 'rule', color: '#555' }, encoding: { y: { datum: 0 } } },
    ],
  };
}

/** The reward model's per-prompt offsets against gold: histogram and offset vs difficulty. null without gold. */
export function offsetSpreadSpec(data: ReportData): Spec | null {
  const spread = data.rewardModel.offsetSpread;
  if (!spread || spread.perPrompt.length === 0) return null;
  const rows = spread.perPrompt.map((p) => ({ offset: p.offset, difficulty: p.difficulty, promptId: p.promptId }));
  const ink = '#4D4D4D';
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    description: 'Per-prompt offsets of the reward model against the gold reward',
    config: CONFIG,
    data: { values: rows },
    hconcat: [
      {
        width: 280,
        height: 190,
        layer: [
          {
            mark: { type: 'bar', color: ink, opacity: 0.85, binSpacing: 1 },
            encoding: {
              x: { field: 'offset', type: 'quantitative', bin: { maxbins: 24 }, title: 'offset mean_y [r − g] per prompt' },
              y: { aggregate: 'count', type: 'quantitative', title: 'prompts' },
            },
          },
          { mark: { type: 'rule', color: OUTCOME_COLORS.loss, strokeWidth: 2, strokeDash: [5, 3] }, encoding: { x: { datum: spread.meanOffset } } },
        ],
      },
      {
        width: 280,
        height: 190,
        layer: [
          {
            mark: { type: 'point', filled: true, size: 28, opacity: 0.65, color: ink },
            encoding: {
              x: { field: 'difficulty', type: 'quantitative', title: 'prompt difficulty', scale: { zero: false } },
              y: { field: 'offset', type: 'quantitative', title: 'offset mean_y [r − g]', scale: { zero: false } },
            },
          },
          {
            mark: { type: 'line', color: OUTCOME_COLORS.loss, strokeWidth: 2 },
            transform: [{ regression: 'offset', on: 'difficulty' }],
            encoding: { x: { field: 'difficulty', type: 'quantitative' }, y: { field: 'offset', type: 'quantitative' } },
          },
        ],
      },
    ],
  };
}

export interface PlotDef {
  /** File stem: plots/<name>.svg. */
  name: string;
  title: string;
  /** One sentence under the plot: what to read from it. */
  caption: string;
  spec: Spec;
}

/** Every plot the data supports, in report order. */
export function plotSpecs(data: ReportData): PlotDef[] {
  const defs: (PlotDef | null)[] = [
    wrap('win-tie-loss', 'Wins, ties and losses', 'Counts per comparison and judge; errors (no verdict) are shown but excluded from every rate.', winTieLossSpec(data)),
    wrap('training-curves', 'PPO training curves', 'Batch means per PPO iteration, one line per arm.', trainingCurvesSpec(data)),
    wrap('reward-variance', 'Reward variance during PPO', 'Std of the raw reward-model score and of the contrastive reward over each rollout batch.', rewardVarianceSpec(data)),
    wrap('win-rate-by-difficulty', 'Win rate by prompt difficulty', 'Adjusted win rate (tie = ½) per difficulty bucket with its confidence interval; dashed line: parity.', winRateByDifficultySpec(data)),
    wrap('gold-gain-by-difficulty', 'Gold-reward gain over SFT by difficulty', 'Mean gold reward minus that of SFT on the same prompts, with confidence intervals.', goldGainByDifficultySpec(data)),
    wrap('offset-spread', 'Reward-model offsets per prompt', 'Left: distribution of mean_y[r − g] over prompts (dashed: mean). Right: offset against difficulty with a least-squares line.', offsetSpreadSpec(data)),
  ];
  return defs.filter((d): d is PlotDef => d !== null);
}

function wrap(name: string, title: string, caption: string, spec: Spec | null): PlotDef | null {
  return spec ? { name, title, caption, spec } : null;
}

export interface RenderedPlot {
  svg: string;
  /** Warnings from Vega-Lite's compiler and Vega's runtime; a clean plot has none. */
  warnings: string[];
}

/**
 * Renders a spec to a standalone SVG string. Element ids (clip paths,
 * gradients) are prefixed with `idPrefix`: Vega numbers them from a global
 * counter, and several SVGs inlined in one HTML page must not share ids, or
 * one plot clips to another plot's rectangle.
 */
export async function renderSvg(spec: Spec, idPrefix: string): Promise<RenderedPlot> {
  const warnings: string[] = [];
  const logger = vega.logger(vega.Warn, undefined, (_method, level, args) => {
    warnings.push(`${level} ${args.map((a) => (a instanceof Error ? a.message : String(a))).join(' ')}`);
  });
  const compiled = vl.compile(spec, { logger }).spec;
  vega.resetSVGDefIds();
  const view = new vega.View(vega.parse(compiled), { renderer: 'none', logger });
  try {
    const svg = await view.toSVG();
    return { svg: prefixIds(svg, idPrefix), warnings };
  } finally {
    view.finalize();
  }
}

export function prefixIds(svg: string, prefix: string): string {
  return svg
    .replace(/\bid="([^"]+)"/g, (_m, id: string) => `id="${prefix}-${id}"`)
    .replace(/url\(#([^)]+)\)/g, (_m, id: string) => `url(#${prefix}-${id})`)
    .replace(/href="#([^"]+)"/g, (_m, id: string) => `href="#${prefix}-${id}"`);
}

/** Renders every plot the data supports; one at a time, since Vega's id counter is global. */
export async function renderPlots(data: ReportData): Promise<{ plots: PlotDef[]; svgs: Record<string, string>; warnings: Record<string, string[]> }> {
  const plots = plotSpecs(data);
  const svgs: Record<string, string> = {};
  const warnings: Record<string, string[]> = {};
  for (const p of plots) {
    const r = await renderSvg(p.spec, `plot-${p.name}`);
    svgs[p.name] = r.svg;
    if (r.warnings.length) warnings[p.name] = r.warnings;
  }
  return { plots, svgs, warnings };
}
