// What the report says, section by section, as a ReportDoc (doc.ts). Every
// figure comes from ReportData; the only arithmetic here is presentational
// (a share, a mean of a logged series). Missing optional data gives a
// one-line note instead of an empty table.
import type { Block, Cell, Headline, ReportDoc, Section, Tone } from './doc.js';
import { DASH, duration, int, interval, share, sig, timestamp, usd, withCi } from './format.js';
import { comparisonLabel, judgeLabel, judgeOrder, type PlotDef } from './plots.js';
import type { Comparison, Estimate, ReportData } from './types.js';

const ci = (e: Estimate | null | undefined): Cell => (e ? { text: sig(e.value), sub: interval(e) } : DASH);

const judgeRank = judgeOrder;

/** The comparison the headline leads with: data.headline, else contrastive vs raw, else contrastive vs sft, else the first; oracle before LLM before human. */
export function headlineComparison(data: ReportData): Comparison | null {
  const mode = new Map(data.arms.map((a) => [a.name, a.rewardMode]));
  const h = data.headline;
  if (h) return data.comparisons.find((c) => c.judge === h.judge && c.candidate === h.candidate && c.baseline === h.baseline) ?? null;
  const byJudge = [...data.comparisons].sort((a, b) => judgeRank(a.judge) - judgeRank(b.judge));
  const kind = (c: Comparison) => `${mode.get(c.candidate)}>${mode.get(c.baseline)}`;
  return byJudge.find((c) => kind(c) === 'contrastive>raw') ?? byJudge.find((c) => kind(c) === 'contrastive>sft') ?? data.comparisons[0] ?? null;
}

/** Which way the adjusted win rate's interval points; "even" when it contains ½. */
export function outcome(c: Comparison): { tone: Tone; words: string } {
  const a = c.adjustedWinRate;
  if (!a) return { tone: 'even', words: 'no verdicts' };
  if (a.lo > 0.5) return { tone: 'good', words: `${c.candidate} preferred` };
  if (a.hi < 0.5) return { tone: 'bad', words: `${c.baseline} preferred` };
  return { tone: 'even', words: 'no clear difference (interval contains 0.5)' };
}

const wtl = (c: { wins: number; ties: number; losses: number }) => `${c.wins}/${c.ties}/${c.losses}`;
const errors = (n: number) => `${n} ${n === 1 ? 'error' : 'errors'}`;

export function offsetSpreadLine(data: ReportData): string {
  const o = data.rewardModel.offsetSpread;
  if (!o) return 'Reward-model offset spread: not measurable without a gold reward.';
  return `Reward-model offset spread over prompts: std ${sig(o.std)} (variance ${sig(o.variance)}, mean offset ${sig(o.meanOffset)}, ${int(o.perPrompt.length)} prompts).`;
}

function headline(data: ReportData): Headline | null {
  const c = headlineComparison(data);
  if (!c) return null;
  const { tone, words } = outcome(c);
  const lines = [
    `Verdict: ${words}. Win rate ${withCi(c.winRate)}, loss rate ${withCi(c.lossRate)} over n = ${c.n} pairs (${errors(c.errors)} excluded).`,
  ];
  for (const other of data.comparisons) {
    if (other === c || other.candidate !== c.candidate || other.baseline !== c.baseline) continue;
    lines.push(`${judgeLabel(other.judge)}: ${withCi(other.adjustedWinRate)}; W/T/L = ${wtl(other)} (n = ${other.n}, ${errors(other.errors)}); ${outcome(other).words}.`);
  }
  const golds = data.arms.filter((a) => a.summary.goldMean);
  if (golds.length) lines.push(`Gold reward on held-out prompts: ${golds.map((a) => `${a.name} ${withCi(a.summary.goldMean)}`).join(', ')}.`);
  lines.push(offsetSpreadLine(data));
  lines.push(`Reward-model accuracy on ${int(data.rewardModel.heldOutPairs)} held-out gold-labelled pairs: ${withCi(data.rewardModel.heldOutAccuracy)} (label noise ε = ${sig(data.rewardModel.labelNoise)}).`);
  return { title: `${comparisonLabel(c)} (${judgeLabel(c.judge)}): adjusted win rate ${withCi(c.adjustedWinRate)}, W/T/L = ${wtl(c)}`, tone, lines };
}

function armsSection(data: ReportData): Section {
  const gold = data.run.hasGold && data.arms.some((a) => a.summary.goldMean);
  const columns = [
    { title: 'arm', nowrap: true },
    { title: 'reward' },
    ...(gold ? [{ title: 'gold reward', numeric: true, help: 'mean gold reward on held-out prompts, with CI' }] : []),
    { title: 'RM score', numeric: true, help: 'mean reward-model score' },
    { title: 'KL to ref', numeric: true, help: 'mean per-sequence KL to the SFT reference policy' },
    { title: 'length', numeric: true, help: 'mean response length (tokens)' },
    { title: 'distinct-1', numeric: true },
    { title: 'distinct-2', numeric: true },
    { title: 'n', numeric: true },
  ];
  const rows = data.arms.map((a): Cell[] => [
    { text: a.name, strong: true },
    a.rewardMode === 'sft' ? 'SFT policy' : a.rewardMode === 'raw' ? 'raw RM score' : 'contrastive',
    ...(gold ? [ci(a.summary.goldMean)] : []),
    sig(a.summary.rmScoreMean),
    sig(a.summary.klToRef),
    sig(a.summary.responseLength),
    sig(a.summary.distinct1),
    sig(a.summary.distinct2),
    int(a.summary.n),
  ]);
  const blocks: Block[] = [{ kind: 'table', columns, rows }];
  if (!gold) blocks.push({ kind: 'note', text: 'No gold reward for this task: gold columns, gold-by-difficulty and the offset spread are omitted.' });
  return { id: 'arms', title: 'Arms on held-out prompts', blocks };
}

function comparisonsSection(data: ReportData, plots: Plots): Section {
  const level = `${Math.round(data.ci.level * 100)}%`;
  const blocks: Block[] = [
    {
      kind: 'paragraph',
      text: `Win rate = W/n, loss rate = L/n, adjusted win rate = (W + T/2)/n with n = W + T + L; judge errors are counted but excluded from n. Brackets: ${level} ${data.ci.method} (${int(data.ci.iterations)} resamples).`,
    },
    { kind: 'note', text: offsetSpreadLine(data) },
  ];
  if (data.comparisons.length === 0) {
    blocks.push({ kind: 'note', text: 'No comparisons were judged in this run.' });
    return { id: 'comparisons', title: 'Pairwise comparisons', blocks };
  }
  const hasLc = data.comparisons.some((c) => c.lengthControlledWinRate !== undefined);
  const columns = [
    { title: 'candidate vs baseline', nowrap: true },
    { title: 'W', numeric: true, help: 'candidate wins' },
    { title: 'T', numeric: true, help: 'ties' },
    { title: 'L', numeric: true, help: 'candidate losses' },
    { title: 'err', numeric: true, help: 'no verdict (excluded from n)' },
    { title: 'n', numeric: true },
    { title: 'win rate', numeric: true },
    { title: 'loss rate', numeric: true },
    { title: 'adjusted win rate', numeric: true, help: '(W + T/2)/n' },
    ...(hasLc ? [{ title: 'length-controlled', numeric: true, help: 'win rate at equal response length (AlpacaEval-style GLM)' }] : []),
  ];
  // One table per judge, oracle first: judges disagree, and a reader
  // should compare the same pair across judges, not mix them in one column.
  const judges = [...new Set(data.comparisons.map((c) => c.judge))].sort((a, b) => judgeRank(a) - judgeRank(b) || a.localeCompare(b));
  for (const judge of judges) {
    const rows = data.comparisons
      .filter((c) => c.judge === judge)
      .map((c): Cell[] => {
        const adj = c.adjustedWinRate;
        return [
          { text: comparisonLabel(c), strong: true },
          int(c.wins),
          int(c.ties),
          int(c.losses),
          int(c.errors),
          int(c.n),
          ci(c.winRate),
          ci(c.lossRate),
          adj ? { text: sig(adj.value), sub: interval(adj), tone: outcome(c).tone } : DASH,
          ...(hasLc ? [c.lengthControlledWinRate === undefined || c.lengthControlledWinRate === null ? DASH : sig(c.lengthControlledWinRate)] : []),
        ];
      });
    blocks.push({ kind: 'heading', text: `Judge: ${judgeLabel(judge)}` });
    blocks.push({ kind: 'table', columns, rows });
  }
  blocks.push(...plotBlock(plots, 'win-tie-loss'));
  return { id: 'comparisons', title: 'Pairwise comparisons', blocks };
}

type Plots = ReadonlyMap<string, PlotDef>;

/** The plot's block, or nothing when the data did not support that plot. */
function plotBlock(plots: Plots, name: string): Block[] {
  const p = plots.get(name);
  return p ? [{ kind: 'plot', name, title: p.title, caption: p.caption }] : [];
}

function meanOf(xs: number[]): number | null {
  return xs.length ? xs.reduce((s, x) => s + x, 0) / xs.length : null;
}

function trainingSection(data: ReportData, plots: Plots): Section {
  if (data.training.length === 0) return { id: 'training', title: 'PPO training', blocks: [{ kind: 'note', text: 'No PPO training metrics were recorded.' }] };
  const blocks: Block[] = [];
  blocks.push(...plotBlock(plots, 'training-curves'));
  blocks.push(...plotBlock(plots, 'reward-variance'));
  const arms = data.arms.filter((a) => data.training.some((t) => t.arm === a.name));
  const rows = arms.map((a): Cell[] => {
    const pts = data.training.filter((t) => t.arm === a.name).sort((x, y) => x.iteration - y.iteration);
    const last = pts[pts.length - 1];
    const cstd = pts.flatMap((t) => (t.contrastiveStd === undefined ? [] : [t.contrastiveStd]));
    return [
      { text: a.name, strong: true },
      int(pts.length),
      sig(meanOf(pts.map((t) => t.scoreStd))),
      sig(meanOf(cstd)),
      sig(last?.scoreMean),
      sig(last?.kl),
      sig(last?.entropy),
      sig(last?.valueLoss),
      sig(last?.explainedVariance),
    ];
  });
  blocks.push({
    kind: 'table',
    caption: 'Reward variance over training (mean over iterations of the batch std) and the last iteration’s values.',
    columns: [
      { title: 'arm' },
      { title: 'iterations', numeric: true },
      { title: 'raw score std', numeric: true },
      { title: 'contrastive std', numeric: true },
      { title: 'final score', numeric: true },
      { title: 'final KL', numeric: true },
      { title: 'final entropy', numeric: true },
      { title: 'final value loss', numeric: true },
      { title: 'final expl. var.', numeric: true },
    ],
    rows,
  });
  return { id: 'training', title: 'PPO training', blocks };
}

function difficultySection(data: ReportData, plots: Plots): Section {
  const d = data.difficulty;
  const blocks: Block[] = [
    { kind: 'paragraph', text: `Difficulty: ${d.measure}.` },
    {
      kind: 'table',
      columns: [{ title: 'bucket' }, { title: 'difficulty range', numeric: true }, { title: 'prompts', numeric: true }],
      rows: d.buckets.map((b) => [{ text: b.name, strong: true }, `${sig(b.lo)} to ${sig(b.hi)}`, int(b.prompts)]),
    },
  ];
  blocks.push({ kind: 'heading', text: 'Win rate by difficulty' });
  if (data.byDifficulty.length === 0) blocks.push({ kind: 'note', text: 'No per-bucket comparisons were computed.' });
  else {
    blocks.push(...plotBlock(plots, 'win-rate-by-difficulty'));
    // One row per (judge, comparison), one column per bucket in difficulty
    // order: the trend across difficulty reads along a row.
    const keys: { judge: string; candidate: string; baseline: string }[] = [];
    for (const r of data.byDifficulty) {
      if (!keys.some((k) => k.judge === r.judge && k.candidate === r.candidate && k.baseline === r.baseline)) keys.push(r);
    }
    keys.sort((a, b) => judgeRank(a.judge) - judgeRank(b.judge) || a.judge.localeCompare(b.judge));
    const rows = keys.map((k): Cell[] => [
      judgeLabel(k.judge),
      { text: comparisonLabel(k), strong: true },
      ...d.buckets.map((b): Cell => {
        const r = data.byDifficulty.find((x) => x.judge === k.judge && x.candidate === k.candidate && x.baseline === k.baseline && x.bucket === b.name);
        if (!r) return DASH;
        return { text: r.adjustedWinRate ? sig(r.adjustedWinRate.value) : DASH, sub: `${interval(r.adjustedWinRate)} W/T/L ${wtl(r)}` };
      }),
    ]);
    blocks.push({
      kind: 'table',
      caption: 'Adjusted win rate [CI] and W/T/L per difficulty bucket.',
      columns: [
        { title: 'judge', nowrap: true },
        { title: 'candidate vs baseline', nowrap: true },
        ...d.buckets.map((b) => ({ title: b.name, numeric: true, help: `${b.prompts} prompts, difficulty ${sig(b.lo)} to ${sig(b.hi)}` })),
      ],
      rows,
    });
  }
  blocks.push({ kind: 'heading', text: 'Gold-reward gain by difficulty' });
  if (data.goldByDifficulty.length === 0) blocks.push({ kind: 'note', text: 'No gold reward for this task: gold-reward gain by difficulty is omitted.' });
  else {
    blocks.push(...plotBlock(plots, 'gold-gain-by-difficulty'));
    blocks.push({
      kind: 'table',
      columns: [{ title: 'arm' }, { title: 'bucket' }, { title: 'n', numeric: true }, { title: 'gold reward', numeric: true }, { title: 'gain over SFT', numeric: true }],
      rows: data.goldByDifficulty.map((g) => [{ text: g.arm, strong: true }, g.bucket, int(g.n), sig(g.goldMean), ci(g.gainOverSft)]),
    });
  }
  return { id: 'difficulty', title: 'Prompt difficulty', blocks };
}

function rewardModelSection(data: ReportData, plots: Plots): Section {
  const rm = data.rewardModel;
  const o = rm.offsetSpread;
  const items: [string, Cell][] = [
    ['held-out accuracy', { text: sig(rm.heldOutAccuracy.value), sub: `${interval(rm.heldOutAccuracy)} on ${int(rm.heldOutPairs)} gold-labelled pairs` }],
    ['training accuracy', rm.trainAccuracy === undefined ? DASH : { text: sig(rm.trainAccuracy), sub: 'on its own (noisy) training pairs' }],
    ['label noise ε', { text: sig(rm.labelNoise), sub: 'probability a training label was flipped' }],
  ];
  if (o) {
    items.push(['offset spread (std)', { text: sig(o.std), sub: `variance ${sig(o.variance)} over ${int(o.perPrompt.length)} prompts` }]);
    items.push(['mean offset', sig(o.meanOffset)]);
  }
  const blocks: Block[] = [
    {
      kind: 'paragraph',
      text: 'A Bradley-Terry reward model is trained on score differences within a prompt, so its level across prompts is free: each prompt carries an offset o(x) = mean_y[r(x, y) − g(x, y)]. The contrastive reward subtracts a per-prompt baseline that cancels it; its advantage should grow with the spread of o(x).',
    },
    { kind: 'facts', items },
  ];
  if (!o) blocks.push({ kind: 'note', text: 'No gold reward for this task: the per-prompt offset spread cannot be measured.' });
  else blocks.push(...plotBlock(plots, 'offset-spread'));
  return { id: 'reward-model', title: 'Reward model', blocks };
}

function baselinesSection(data: ReportData): Section {
  const b = data.baselines;
  const items: [string, Cell][] = [
    ['k (SFT samples per prompt)', int(b.k)],
    ['aggregation A', { text: b.aggregation, code: true }],
    ['mean within-prompt std', { text: sig(b.meanStd), sub: 'of the k baseline scores' }],
  ];
  if (b.spreadOfMeans !== undefined) items.push(['std across prompts of A', sig(b.spreadOfMeans)]);
  if (b.prompts !== undefined) items.push(['RL prompts', int(b.prompts)]);
  return {
    id: 'baselines',
    title: 'Contrastive baselines',
    blocks: [{ kind: 'paragraph', text: 'r_cr(x, y) = r(x, y) − A({r(x, y_j)}, j = 1..k), with y_j sampled once from the SFT policy before PPO.' }, { kind: 'facts', items }],
  };
}

function judgesSection(data: ReportData): Section {
  const blocks: Block[] = [{ kind: 'heading', text: 'LLM judge' }];
  const llm = data.judges.llm;
  if (!llm) blocks.push({ kind: 'note', text: 'No LLM judge in this run.' });
  else {
    const u = llm.usage;
    const calls = u.cacheHits + u.cacheMisses;
    const items: [string, Cell][] = [
      ['model', { text: llm.model, code: true }],
      ...(llm.baseUrl ? ([['endpoint', { text: llm.baseUrl, code: true }]] as [string, Cell][]) : []),
      ['prompt version', { text: llm.promptVersion, code: true }],
      ['prompt sha256', { text: llm.promptSha256, code: true }],
      ['requests', { text: int(u.requests), sub: `${int(u.retries)} retries` }],
      ['tokens', { text: `${int(u.promptTokens)} prompt + ${int(u.completionTokens)} completion` }],
      ['cost', usd(u.costUsd)],
      ['cache', { text: `${int(u.cacheHits)} hits, ${int(u.cacheMisses)} misses`, sub: calls ? `hit rate ${share(u.cacheHits, calls)}` : '' }],
      ['unparseable verdicts', { text: int(u.unparseable), tone: u.unparseable > 0 ? 'bad' : 'even' }],
    ];
    if (llm.positionConsistency !== undefined) items.push(['position consistency', { text: sig(llm.positionConsistency), sub: 'share of pairs judged the same in both orders' }]);
    blocks.push({ kind: 'facts', items });
  }
  blocks.push({ kind: 'heading', text: 'Human judges' });
  const human = data.judges.human;
  if (!human) blocks.push({ kind: 'note', text: 'No human votes in this run.' });
  else {
    const kappa = (k: NonNullable<typeof human.agreement>): Cell => ({
      text: sig(k.kappa),
      sub: `${k.method === 'cohen' ? "Cohen's" : "Fleiss'"} κ over ${int(k.n)} items${k.agreement === undefined || k.agreement === null ? '' : `, raw agreement ${sig(k.agreement)}`}`,
    });
    const items: [string, Cell][] = [
      ['votes', int(human.votes)],
      ['annotators', human.annotators.length ? human.annotators.join(', ') : DASH],
      ['agreement between annotators', human.agreement ? kappa(human.agreement) : { text: DASH, sub: 'fewer than two annotators on shared pairs' }],
      ['humans vs LLM judge', human.humanVsLlm ? kappa(human.humanVsLlm) : { text: DASH, sub: 'no pairs judged by both' }],
    ];
    blocks.push({ kind: 'facts', items });
  }
  return { id: 'judges', title: 'Judges', blocks };
}

function samplesSection(data: ReportData): Section {
  if (data.samples.length === 0) return { id: 'samples', title: 'Sample responses', blocks: [{ kind: 'note', text: 'No sample responses were recorded.' }] };
  const gold = data.samples.some((s) => s.responses.some((r) => r.gold !== undefined));
  const columns = [
    { title: 'prompt' },
    { title: 'arm', nowrap: true },
    { title: 'response' },
    { title: 'RM score', numeric: true },
    ...(gold ? [{ title: 'gold', numeric: true }] : []),
  ];
  const groups = data.samples.map((s) => ({
    lead: { text: s.prompt, sub: `${s.promptId} · ${s.bucket} (difficulty ${sig(s.difficulty)}) · baseline mean ${sig(s.baselineMean)}` } as Cell,
    rows: s.responses.map((r): Cell[] => [{ text: r.arm, strong: true }, { text: r.text, code: true }, sig(r.rmScore), ...(gold ? [sig(r.gold)] : [])]),
  }));
  return {
    id: 'samples',
    title: 'Sample responses',
    blocks: [
      { kind: 'paragraph', text: 'Held-out prompts with each arm’s response. Baseline mean: A of the k SFT baseline scores, which the contrastive arm subtracts.' },
      { kind: 'grouped-table', columns, groups },
    ],
  };
}

function reproducibilitySection(data: ReportData): Section {
  const r = data.run;
  const items: [string, Cell][] = [
    ['workflow id', { text: r.workflowId, code: true }],
    ['started', timestamp(r.startedAt)],
    ['finished', r.finishedAt ? `${timestamp(r.finishedAt)} (${duration(r.startedAt, r.finishedAt)})` : 'not finished'],
    ['report data generated', timestamp(data.generatedAt)],
    ['store', { text: r.storeUri, code: true }],
    ['backend', { text: r.backend.name, sub: `${r.backend.detail}${r.backend.threads ? `, ${r.backend.threads} threads` : ''}` }],
    ['seed', String(r.seed)],
  ];
  const blocks: Block[] = [{ kind: 'facts', items }];
  const kv = (title: string, rec: Record<string, string | number>, code: boolean) => {
    const entries = Object.entries(rec);
    if (entries.length === 0) return;
    blocks.push({ kind: 'heading', text: title });
    blocks.push({ kind: 'facts', items: entries.map(([k, v]): [string, Cell] => [k, code ? { text: String(v), code: true } : String(v)]) });
  };
  kv('Versions', r.versions, false);
  if (r.seeds) kv('Seeds', r.seeds, false);
  kv('Artifacts', r.artifactUris, true);
  blocks.push({ kind: 'heading', text: 'Config' });
  blocks.push({ kind: 'code', text: r.configYaml, lang: 'yaml' });
  return { id: 'reproducibility', title: 'Config, versions and seeds', blocks };
}

export function buildDoc(data: ReportData, plots: PlotDef[]): ReportDoc {
  const names: Plots = new Map(plots.map((p) => [p.name, p]));
  const r = data.run;
  return {
    title: `crlhf report: ${r.name}`,
    meta: [
      ['task', `${r.task}${r.hasGold ? ' (gold reward)' : ''}`],
      ['backend', r.backend.threads ? `${r.backend.name} ×${r.backend.threads}` : r.backend.name],
      ['seed', String(r.seed)],
      ['arms', data.arms.map((a) => a.name).join(', ')],
      ['finished', r.finishedAt ? timestamp(r.finishedAt) : 'not finished'],
    ],
    headline: headline(data),
    sections: [
      armsSection(data),
      comparisonsSection(data, names),
      trainingSection(data, names),
      difficultySection(data, names),
      rewardModelSection(data, names),
      baselinesSection(data),
      judgesSection(data),
      samplesSection(data),
      reproducibilitySection(data),
    ],
  };
}
