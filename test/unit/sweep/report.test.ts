import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  aggregateSweep,
  knobPlotSpec,
  meanCI,
  metricValue,
  plotName,
  renderSweepReport,
  tQuantile975,
  writeSweepReportFiles,
} from '../../../pipeline/sweep-report.js';
import type { ExperimentSummary } from '../../../pipeline/summary.js';
import type { SweepMetric } from '../../../sweep/trials.js';
import type { SweepStatus, SweepTrialStatus } from '../../../workflows/sweep.js';

const METRIC: SweepMetric = { name: 'adjusted_win_rate', arm: 'ppo-cr', vs: 'sft', judge: 'oracle', goal: 'maximize' };

function summary(run: string, gold: Record<string, number>, win: Record<string, number>): ExperimentSummary {
  return {
    run,
    task: 'sentiment',
    seed: 1,
    arms: Object.entries(gold).map(([name, g]) => ({
      name,
      rewardMode: name === 'sft' ? 'sft' : name === 'ppo' ? 'raw' : 'contrastive',
      goldMean: g,
      rmScoreMean: g * 2,
      klToRef: 0.1,
      responseLength: 10,
    })),
    winRates: Object.entries(win).map(([pair, w]) => {
      const [candidate, baseline] = pair.split(' vs ') as [string, string];
      return { judge: 'oracle', candidate, baseline, wins: 1, ties: 0, losses: 1, winRate: w - 0.1, adjustedWinRate: w, adjustedWinRateCI: null, lengthControlledWinRate: null };
    }),
    artifacts: { report: '', reportMarkdown: '', reportData: '', store: '' },
  };
}

/** 2 values of kl.coef × 2 seeds; t004 (a third seed of the first setting) failed. */
function fixture(): { status: SweepStatus; summaries: Map<string, ExperimentSummary> } {
  const trial = (id: string, coef: number, seed: number, status: SweepTrialStatus['status'] = 'completed'): SweepTrialStatus => ({
    id,
    workflowId: `sw/${id}`,
    setting: coef === 0.02 ? 's000' : 's001',
    params: { 'ppo.kl.coef': coef },
    seed,
    group: seed - 1,
    status,
    ...(status === 'failed' ? { error: 'boom' } : {}),
  });
  const trials = [trial('t000', 0.02, 1), trial('t001', 0.02, 2), trial('t002', 0.1, 1), trial('t003', 0.1, 2), trial('t004', 0.02, 3, 'failed')];
  const status: SweepStatus = {
    sweep: 'sw',
    workflowId: 'sw',
    phase: 'done',
    storeUri: 'file:///store',
    knobs: ['ppo.kl.coef'],
    metric: METRIC,
    maxConcurrent: 2,
    running: [],
    peakRunning: 2,
    runs: 1,
    startedAt: '2025-05-14T00:00:00Z',
    counts: { pending: 0, running: 0, completed: 4, failed: 1, cancelled: 0 },
    trials,
    groups: [],
  };
  const summaries = new Map<string, ExperimentSummary>([
    ['t000', summary('sw/t000', { sft: -0.5, ppo: -0.4, 'ppo-cr': -0.2 }, { 'ppo vs sft': 0.55, 'ppo-cr vs sft': 0.7, 'ppo-cr vs ppo': 0.6 })],
    ['t001', summary('sw/t001', { sft: -0.5, ppo: -0.3, 'ppo-cr': -0.1 }, { 'ppo vs sft': 0.6, 'ppo-cr vs sft': 0.8, 'ppo-cr vs ppo': 0.65 })],
    ['t002', summary('sw/t002', { sft: -0.5, ppo: -0.45, 'ppo-cr': -0.4 }, { 'ppo vs sft': 0.5, 'ppo-cr vs sft': 0.52, 'ppo-cr vs ppo': 0.5 })],
    ['t003', summary('sw/t003', { sft: -0.5, ppo: -0.5, 'ppo-cr': -0.42 }, { 'ppo vs sft': 0.5, 'ppo-cr vs sft': 0.56, 'ppo-cr vs ppo': 0.55 })],
  ]);
  return { status, summaries };
}

describe('confidence intervals across seeds', () => {
  it('use Student-t quantiles', () => {
    assert.equal(tQuantile975(1), 12.706);
    assert.equal(tQuantile975(2), 4.303);
    assert.equal(tQuantile975(30), 2.042);
    assert.ok(Math.abs(tQuantile975(60) - 2.0003) < 2e-3, String(tQuantile975(60)));
    assert.ok(Math.abs(tQuantile975(1000) - 1.9623) < 1e-3);
  });

  it('give mean ± t·s/√n with the n − 1 standard deviation, and no interval for one value', () => {
    const e = meanCI([1, 2, 3])!;
    assert.equal(e.mean, 2);
    assert.equal(e.n, 3);
    assert.ok(Math.abs(e.hi! - (2 + 4.303 / Math.sqrt(3))) < 1e-12);
    assert.ok(Math.abs(e.lo! - (2 - 4.303 / Math.sqrt(3))) < 1e-12);
    assert.deepEqual(meanCI([0.4]), { mean: 0.4, lo: null, hi: null, n: 1 });
    assert.equal(meanCI([]), null);
    assert.deepEqual(meanCI([0.5, 0.5]), { mean: 0.5, lo: 0.5, hi: 0.5, n: 2 });
  });
});

describe('trial metrics', () => {
  it('read win rates by judge, candidate and baseline, and per-arm values', () => {
    const s = fixture().summaries.get('t000')!;
    assert.equal(metricValue(s, METRIC), 0.7);
    assert.equal(metricValue(s, { ...METRIC, vs: 'ppo' }), 0.6);
    assert.ok(Math.abs(metricValue(s, { ...METRIC, name: 'win_rate' })! - 0.6) < 1e-12);
    assert.equal(metricValue(s, { ...METRIC, judge: 'human' }), null);
    assert.equal(metricValue(s, { name: 'gold', arm: 'ppo', judge: 'oracle' }), -0.4);
    assert.equal(metricValue(s, { name: 'rm_score', arm: 'ppo', judge: 'oracle' }), -0.8);
    assert.equal(metricValue(s, { name: 'gold', arm: 'nope', judge: 'oracle' }), null);
  });
});

describe('sweep aggregation', () => {
  it('averages each setting over its completed seeds and ranks settings by the metric', () => {
    const { status, summaries } = fixture();
    const d = aggregateSweep(status, summaries, new Date('2025-05-15T00:00:00Z'));
    assert.deepEqual(d.families.map((f) => f.id), ['gold', 'adjusted_win_rate:oracle', 'win_rate:oracle']);
    assert.deepEqual(d.families[0]!.series, ['sft', 'ppo', 'ppo-cr']);
    assert.deepEqual(d.families[1]!.series, ['ppo vs sft', 'ppo-cr vs sft', 'ppo-cr vs ppo']);
    const s0 = d.settings.find((s) => s.id === 's000')!;
    assert.deepEqual(s0.trials, ['t000', 't001', 't004']);
    assert.deepEqual(s0.seeds, [1, 2], 'the failed seed has no result');
    assert.ok(Math.abs(s0.metric!.mean - 0.75) < 1e-12);
    assert.ok(Math.abs(s0.metric!.hi! - s0.metric!.mean - (12.706 * Math.sqrt(0.005)) / Math.sqrt(2)) < 1e-9);
    assert.ok(Math.abs(s0.values.gold!['ppo-cr']!.mean - -0.15) < 1e-12);
    assert.equal(d.best?.setting, 's000');
    const worst = aggregateSweep({ ...status, metric: { ...METRIC, goal: 'minimize' } }, summaries);
    assert.equal(worst.best?.setting, 's001');
    assert.equal(d.trials.find((t) => t.id === 't004')!.metric, null);
    assert.equal(d.trials.find((t) => t.id === 't004')!.error, 'boom');
  });

  it('has, per knob and metric, one line per arm over the knob values in numeric order', () => {
    const { status, summaries } = fixture();
    const d = aggregateSweep(status, summaries);
    assert.equal(d.marginals.length, 3);
    const gold = d.marginals.find((m) => m.family === 'gold')!;
    assert.deepEqual([...new Set(gold.points.map((p) => p.label))], ['0.02', '0.1']);
    assert.deepEqual([...new Set(gold.points.map((p) => p.series))], ['sft', 'ppo', 'ppo-cr']);
    const spec = knobPlotSpec(d, gold) as unknown as { data: { values: { series: string; x: number }[] }; encoding: { color: { scale: { domain: string[] } } } };
    assert.deepEqual(spec.encoding.color.scale.domain, ['sft', 'ppo', 'ppo-cr']);
    assert.equal(spec.data.values.length, 6);
    const xs = spec.data.values.filter((r) => r.series === 'ppo').map((r) => r.x);
    assert.deepEqual(xs, [0, 1], 'the middle line sits on the knob value');
  });
});

describe('sweep report rendering', () => {
  it('writes CI tables per setting and one SVG plot per knob and metric', async () => {
    const { status, summaries } = fixture();
    const r = await renderSweepReport(aggregateSweep(status, summaries));
    assert.deepEqual(Object.keys(r.svgs).sort(), [plotName('ppo.kl.coef', 'adjusted_win_rate:oracle'), plotName('ppo.kl.coef', 'gold'), plotName('ppo.kl.coef', 'win_rate:oracle')].sort());
    for (const svg of Object.values(r.svgs)) assert.match(svg, /^<svg[\s\S]*<\/svg>$/);
    assert.match(r.html, /<h2>Gold reward<\/h2>/);
    assert.match(r.html, /Best setting: s000/);
    assert.equal((r.html.match(/<svg/g) ?? []).length, 3);
    assert.match(r.markdown, /\| s000 \| 0\.02 \| 2 \| -0\.5 ± 0 \| -0\.35 ± 0\.635 \| -0\.15 ± 0\.635 \|/);
    assert.match(r.markdown, /!\[gold reward vs ppo\.kl\.coef\]\(plots\/ppo\.kl\.coef--gold\.svg\)/);
    assert.match(r.markdown, /\| t004 \| 0\.02 \| 3 \| failed boom \|/);
    const written: string[] = [];
    await writeSweepReportFiles(r, async (rel) => void written.push(rel));
    assert.equal(written[written.length - 1], 'report.html', 'the page last: its presence means the rest is there');
    assert.ok(written.includes('report.json') && written.includes('report.md'));
  });

  it('says so when nothing but the seed is swept', async () => {
    const { status, summaries } = fixture();
    const r = await renderSweepReport(aggregateSweep({ ...status, knobs: [] }, summaries));
    assert.deepEqual(r.svgs, {});
    assert.match(r.markdown, /Nothing is swept but the seed/);
  });
});
