import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { exampleReportData } from '../../../report/fixture.js';
import {
  ARM_PALETTE,
  OUTCOME_COLORS,
  SFT_COLOR,
  armColors,
  goldGainByDifficultySpec,
  offsetSpreadSpec,
  plotSpecs,
  prefixIds,
  renderPlots,
  rewardVarianceSpec,
  trainingCurvesSpec,
  winRateByDifficultySpec,
  winTieLossSpec,
} from '../../../report/plots.js';
import type { ReportData } from '../../../report/types.js';

type Row = Record<string, unknown>;
const data = exampleReportData();

/** The inline rows of a spec (every plot here carries its data inline). */
function rows(spec: unknown): Row[] {
  const values = (spec as { data?: { values?: unknown } }).data?.values;
  assert.ok(Array.isArray(values), 'spec has inline data');
  return values as Row[];
}

/** Every `color` encoding with a scale anywhere in a spec. */
function colorScales(spec: unknown): { domain: string[]; range: string[] }[] {
  const found: { domain: string[]; range: string[] }[] = [];
  const walk = (node: unknown): void => {
    if (Array.isArray(node)) node.forEach(walk);
    else if (node && typeof node === 'object') {
      const o = node as Record<string, unknown>;
      const color = (o.encoding as Record<string, any> | undefined)?.color;
      if (color?.field === 'arm' && color.scale) found.push(color.scale);
      Object.values(o).forEach(walk);
    }
  };
  walk(spec);
  return found;
}

function withoutGold(d: ReportData): ReportData {
  const copy: ReportData = structuredClone(d);
  copy.run.hasGold = false;
  copy.goldByDifficulty = [];
  copy.rewardModel.offsetSpread = null;
  for (const a of copy.arms) delete a.summary.goldMean;
  for (const t of copy.training) delete t.goldMean;
  return copy;
}

describe('armColors', () => {
  it('gives sft grey and each PPO arm its own palette colour, in data.arms order', () => {
    const c = armColors(data);
    assert.deepEqual(c.domain, ['sft', 'ppo', 'ppo-cr']);
    assert.deepEqual(c.range, [SFT_COLOR, ARM_PALETTE[0], ARM_PALETTE[1]]);
  });

  it('never gives an arm the win or loss colour', () => {
    const many = { arms: Array.from({ length: 12 }, (_, i) => ({ name: `a${i}`, rewardMode: 'raw' as const })) };
    for (const colour of armColors(many).range) {
      assert.notEqual(colour, OUTCOME_COLORS.win);
      assert.notEqual(colour, OUTCOME_COLORS.loss);
    }
  });
});

describe('training curves spec', () => {
  const spec = trainingCurvesSpec(data);
  assert.ok(spec);
  const values = rows(spec);

  it('has one line per arm in every metric panel, one point per iteration', () => {
    const metrics = new Set(values.map((r) => r.metric));
    for (const m of ['reward-model score', 'contrastive reward', 'KL to reference', 'policy entropy', 'value loss', 'explained variance']) {
      assert.ok(metrics.has(m), `panel ${m}`);
    }
    for (const m of metrics) {
      const inPanel = values.filter((r) => r.metric === m);
      assert.deepEqual(new Set(inPanel.map((r) => r.arm)), new Set(['ppo', 'ppo-cr']), `arms in ${String(m)}`);
      for (const arm of ['ppo', 'ppo-cr']) {
        const its = inPanel.filter((r) => r.arm === arm).map((r) => r.iteration);
        assert.equal(its.length, 40);
        assert.equal(new Set(its).size, 40, 'no iteration twice on one line');
      }
    }
    const s = spec as any;
    assert.equal(s.spec.mark.type, 'line');
    assert.equal(s.spec.encoding.color.field, 'arm');
    assert.equal(s.facet.field, 'metric');
  });

  it('carries the data values unchanged', () => {
    const p = data.training.find((t) => t.arm === 'ppo-cr' && t.iteration === 17);
    const row = values.find((r) => r.arm === 'ppo-cr' && r.iteration === 17 && r.metric === 'KL to reference');
    assert.equal(row?.value, p?.kl);
  });

  it('leaves out panels for metrics no arm logged', () => {
    const noGold = trainingCurvesSpec(withoutGold(data));
    assert.ok(noGold);
    assert.ok(!rows(noGold).some((r) => r.metric === 'gold reward (rollouts)'));
    assert.ok(!(noGold as any).facet.sort.includes('gold reward (rollouts)'));
  });

  it('is null without training data', () => {
    assert.equal(trainingCurvesSpec({ ...data, training: [] }), null);
  });
});

describe('arm colours across plots', () => {
  it('are the same for an arm in every plot that colours by arm', () => {
    const all = armColors(data);
    const specs = [trainingCurvesSpec(data), rewardVarianceSpec(data), winRateByDifficultySpec(data), goldGainByDifficultySpec(data)];
    let checked = 0;
    for (const spec of specs) {
      for (const scale of colorScales(spec)) {
        assert.equal(scale.domain.length, scale.range.length);
        scale.domain.forEach((arm, i) => assert.equal(scale.range[i], all.range[all.domain.indexOf(arm)], `colour of ${arm}`));
        checked++;
      }
    }
    assert.ok(checked >= 5, `checked ${checked} colour scales`);
  });
});

describe('reward variance spec', () => {
  it('has a raw and a contrastive series per arm', () => {
    const values = rows(rewardVarianceSpec(data));
    for (const arm of ['ppo', 'ppo-cr']) {
      const kinds = new Set(values.filter((r) => r.arm === arm).map((r) => r.reward));
      assert.equal(kinds.size, 2, `${arm}: ${[...kinds].join(', ')}`);
    }
    const first = data.training.find((t) => t.arm === 'ppo' && t.iteration === 1);
    assert.ok(values.some((r) => r.arm === 'ppo' && r.iteration === 1 && r.std === first?.scoreStd));
  });
});

describe('win/tie/loss spec', () => {
  it('stacks exactly the counts of each comparison, errors last', () => {
    const values = rows(winTieLossSpec(data));
    for (const c of data.comparisons) {
      const segs = values.filter((r) => r.comparison === `${c.candidate} vs ${c.baseline}` && String(r.judge).includes(c.judge.replace(/^llm:/, '')));
      const by = Object.fromEntries(segs.map((s) => [s.outcome, s]));
      assert.equal(by.win?.count, c.wins);
      assert.equal(by.tie?.count ?? 0, c.ties);
      assert.equal(by.loss?.count ?? 0, c.losses);
      assert.equal(by.error?.count ?? 0, c.errors);
      assert.equal(Math.max(...segs.map((s) => s.x1 as number)), c.n + c.errors);
    }
  });
});

describe('difficulty specs', () => {
  it('orders buckets as data.difficulty lists them, not alphabetically', () => {
    const s = winRateByDifficultySpec(data) as any;
    const x = s.spec.layer[1].encoding.x;
    assert.equal(s.spec.layer[2].encoding.x.sort, x.sort);
    assert.deepEqual(x.sort, ['easy', 'medium', 'hard']);
  });

  it('draws a CI bar from lo to hi for every bucket and comparison', () => {
    const values = rows(winRateByDifficultySpec(data));
    assert.equal(values.length, data.byDifficulty.length);
    for (const v of values) assert.ok((v.lo as number) <= (v.value as number) && (v.value as number) <= (v.hi as number));
  });

  it('has no gold plots without a gold reward', () => {
    const d = withoutGold(data);
    assert.equal(goldGainByDifficultySpec(d), null);
    assert.equal(offsetSpreadSpec(d), null);
    const names = plotSpecs(d).map((p) => p.name);
    assert.deepEqual(names, ['win-tie-loss', 'training-curves', 'reward-variance', 'win-rate-by-difficulty']);
  });
});

describe('SVG rendering', () => {
  it('renders every plot of the example without warnings, ids unique across the page', async () => {
    const { svgs, warnings } = await renderPlots(data);
    assert.deepEqual(Object.keys(svgs), plotSpecs(data).map((p) => p.name));
    assert.deepEqual(warnings, {});
    const ids: string[] = [];
    for (const [name, svg] of Object.entries(svgs)) {
      assert.match(svg, /^<svg [^>]*width="\d+" height="\d+"/, name);
      assert.match(svg, /<\/svg>$/, name);
      for (const m of svg.matchAll(/\bid="([^"]+)"/g)) ids.push(m[1] as string);
      for (const m of svg.matchAll(/url\(#([^)]+)\)/g)) assert.ok(svg.includes(`id="${m[1]}"`), `${name}: reference to missing #${m[1]}`);
    }
    assert.equal(new Set(ids).size, ids.length, 'duplicate ids would make one plot clip to another');
    // Arm colours reach the SVG.
    assert.ok(svgs['training-curves']?.includes(`stroke="${ARM_PALETTE[0]}"`));
    assert.ok(svgs['training-curves']?.includes(`stroke="${ARM_PALETTE[1]}"`));
  });

  it('renders the same SVG twice for the same data', async () => {
    const a = await renderPlots(data);
    const b = await renderPlots(data);
    assert.deepEqual(a.svgs, b.svgs);
  });

  it('prefixes ids and the references to them', () => {
    const out = prefixIds('<clipPath id="clip1"></clipPath><path clip-path="url(#clip1)"/><use href="#g2"/>', 'p');
    assert.equal(out, '<clipPath id="p-clip1"></clipPath><path clip-path="url(#p-clip1)"/><use href="#p-g2"/>');
  });
});
