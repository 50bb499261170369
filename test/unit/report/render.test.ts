import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { exampleReportData } from '../../../report/fixture.js';
import { renderReport } from '../../../report/index.js';
import type { ReportData } from '../../../report/types.js';

const data = exampleReportData();
const rendered = renderReport(data);

const ATTACK = '<script>alert("pwned")</script><img src=x onerror=alert(1)>';

/** Renames an arm everywhere it is referenced. */
function renameArm(d: ReportData, from: string, to: string): ReportData {
  const c: ReportData = structuredClone(d);
  const r = (name: string) => (name === from ? to : name);
  for (const a of c.arms) a.name = r(a.name);
  for (const x of c.comparisons) (x.candidate = r(x.candidate)), (x.baseline = r(x.baseline));
  for (const x of c.byDifficulty) (x.candidate = r(x.candidate)), (x.baseline = r(x.baseline));
  for (const x of c.goldByDifficulty) x.arm = r(x.arm);
  for (const x of c.training) x.arm = r(x.arm);
  for (const s of c.samples) for (const x of s.responses) x.arm = r(x.arm);
  return c;
}

function withoutOptional(d: ReportData): ReportData {
  const c: ReportData = structuredClone(d);
  c.run.hasGold = false;
  c.goldByDifficulty = [];
  c.rewardModel.offsetSpread = null;
  c.comparisons = c.comparisons.filter((x) => x.judge === 'oracle');
  c.byDifficulty = c.byDifficulty.filter((x) => x.judge === 'oracle');
  c.judges = {};
  for (const a of c.arms) delete a.summary.goldMean;
  for (const t of c.training) delete t.goldMean;
  for (const s of c.samples) for (const x of s.responses) delete x.gold;
  return c;
}

/** Lines of the Markdown table that follows `heading` (the first table after it). */
function markdownTable(md: string, heading: string): string[] {
  const at = md.indexOf(heading);
  assert.ok(at >= 0, `heading ${heading}`);
  const lines = md.slice(at).split('\n');
  const start = lines.findIndex((l) => l.startsWith('|'));
  const end = lines.findIndex((l, i) => i > start && !l.startsWith('|'));
  return lines.slice(start, end);
}

const cellCount = (row: string) => row.split(/(?<!\\)\|/).length - 2;

describe('renderReport: untrusted text', () => {
  it('escapes model output, prompts, config and names in HTML and Markdown', async () => {
    let d: ReportData = structuredClone(data);
    const s = d.samples[0];
    assert.ok(s && s.responses[1]);
    s.responses[1].text = `fine ${ATTACK}`;
    s.prompt = `review: ${ATTACK}`;
    d.run.configYaml += `# ${ATTACK}\n`;
    d.run.artifactUris.evil = `s3://x/${ATTACK}`;
    d.difficulty.measure = ATTACK;
    assert.ok(d.judges.llm);
    d.judges.llm.model = ATTACK;
    d = renameArm(d, 'ppo', `ppo${ATTACK}`);
    const out = await renderReport(d);
    assert.doesNotMatch(out.html, /<script/i);
    assert.doesNotMatch(out.html, /<img/i);
    assert.ok(out.html.includes('fine &lt;script&gt;alert(&quot;pwned&quot;)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;'));
    // Inside a code fence the text is shown verbatim, never interpreted.
    const fences = /^(`{3,})[^\n]*\n[\s\S]*?\n\1$/gm;
    assert.match(out.markdown, fences);
    assert.doesNotMatch(out.markdown.replace(fences, ''), /<script|<img/i);
    assert.ok(out.markdown.includes('&lt;script&gt;'));
    for (const [name, svg] of Object.entries(out.svgs)) assert.doesNotMatch(svg, /<script|<img/i, name);
  });

  it('keeps a response with | and newlines inside its Markdown cell', async () => {
    const d: ReportData = structuredClone(data);
    const r = d.samples[0]?.responses[0];
    assert.ok(r);
    r.text = 'a | b\n| c |';
    const md = (await renderReport(d)).markdown;
    const table = markdownTable(md, '## Sample responses');
    const widths = new Set(table.map(cellCount));
    assert.deepEqual([...widths], [5], `every row has 5 cells: ${table.slice(0, 4).join('\n')}`);
  });
});

describe('renderReport: content', () => {
  it('leads with the contrastive-vs-raw comparison of the oracle, ties and losses included', async () => {
    const { html, markdown } = await rendered;
    const c = data.comparisons.find((x) => x.judge === 'oracle' && x.candidate === 'ppo-cr' && x.baseline === 'ppo');
    assert.ok(c?.adjustedWinRate);
    const title = `ppo-cr vs ppo (oracle): adjusted win rate 0.688 [0.609, 0.76], W/T/L = ${c.wins}/${c.ties}/${c.losses}`;
    assert.equal(c.adjustedWinRate.value, 0.6875);
    assert.ok(html.includes(`<h2>${title}</h2>`), 'HTML headline');
    assert.ok(markdown.includes(`> **${title}**`), 'Markdown headline');
    assert.match(html, /class="headline verdict-good"/);
  });

  it('puts the offset spread next to the comparisons', async () => {
    const { html, markdown } = await rendered;
    const o = data.rewardModel.offsetSpread;
    assert.ok(o);
    const line = `std ${Number(o.std.toPrecision(3))} (variance ${Number(o.variance.toPrecision(3))}`;
    for (const doc of [html, markdown]) {
      const comparisons = doc.indexOf('Pairwise comparisons</h2>') >= 0 ? doc.indexOf('Pairwise comparisons</h2>') : doc.indexOf('## Pairwise comparisons');
      const next = doc.indexOf('Judge: oracle', comparisons);
      assert.ok(doc.slice(comparisons, next).includes(line), 'offset spread before the first comparison table');
    }
  });

  it('honours data.headline and says plainly when the candidate loses', async () => {
    const d: ReportData = structuredClone(data);
    const c = d.comparisons.find((x) => x.judge === 'oracle' && x.candidate === 'ppo' && x.baseline === 'sft');
    assert.ok(c);
    Object.assign(c, { wins: 10, ties: 20, losses: 66, n: 96, winRate: { value: 0.104, lo: 0.05, hi: 0.17 }, lossRate: { value: 0.688, lo: 0.6, hi: 0.78 }, adjustedWinRate: { value: 0.208, lo: 0.15, hi: 0.27 } });
    d.headline = { judge: 'oracle', candidate: 'ppo', baseline: 'sft' };
    const { html } = await renderReport(d);
    assert.ok(html.includes('<h2>ppo vs sft (oracle): adjusted win rate 0.208 [0.15, 0.27], W/T/L = 10/20/66</h2>'));
    assert.match(html, /class="headline verdict-bad"/);
    assert.ok(html.includes('Verdict: sft preferred.'));
  });

  it('writes every comparison with W, T, L, errors and rates as a Markdown table', async () => {
    const { markdown } = await rendered;
    const table = markdownTable(markdown, '### Judge: oracle');
    assert.equal(table[0], '| candidate vs baseline | W | T | L | err | n | win rate | loss rate | adjusted win rate | length-controlled |');
    assert.equal(table[1], '|:---|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
    const oracle = data.comparisons.filter((c) => c.judge === 'oracle');
    assert.equal(table.length, 2 + oracle.length);
    const first = oracle[0];
    assert.ok(first);
    assert.equal(table[2]?.split(' | ').slice(1, 6).join(' '), `${first.wins} ${first.ties} ${first.losses} ${first.errors} ${first.n}`);
    for (const row of table) assert.equal(cellCount(row), 10);
  });

  it('references every rendered plot as plots/<name>.svg in Markdown and inlines it in HTML', async () => {
    const { html, markdown, svgs } = await rendered;
    assert.ok(Object.keys(svgs).length >= 6);
    for (const name of Object.keys(svgs)) {
      assert.ok(markdown.includes(`](plots/${name}.svg)`), `markdown links ${name}`);
      assert.match(html, new RegExp(`<figure class="plot" id="plot-${name}" data-plot="${name}"><figcaption>.*?</figcaption><svg `));
    }
  });

  it('is self-contained: no scripts, stylesheets, images or fetches', async () => {
    const { html } = await rendered;
    assert.doesNotMatch(html, /<script|<link|<img|<iframe|@import|\bsrc=|url\((?!#)/i);
    assert.match(html, /<meta http-equiv="Content-Security-Policy" content="default-src 'none'/);
  });

  it('shows the config YAML, versions and seeds', async () => {
    const { html, markdown } = await rendered;
    assert.ok(html.includes('<pre><code>name: sentiment-cr-demo\nseed: 7\n'));
    assert.ok(markdown.includes('```yaml\nname: sentiment-cr-demo\n'));
    assert.ok(html.includes('<dt>@tensorflow/tfjs</dt><dd>4.22.0</dd>'));
    assert.ok(html.includes('<dt>bootstrap</dt><dd>2024</dd>'));
  });

  it('shows the LLM judge usage and prompt version', async () => {
    const { html } = await rendered;
    const u = data.judges.llm?.usage;
    assert.ok(u);
    assert.ok(html.includes('<dt>prompt version</dt><dd><code>pair-v1</code></dd>'));
    assert.ok(html.includes(`<dt>unparseable verdicts</dt><dd><span class="tone-bad">${u.unparseable}</span></dd>`));
    assert.ok(html.includes(`${u.promptTokens.toLocaleString('en-US')} prompt + ${u.completionTokens.toLocaleString('en-US')} completion`));
  });
});

describe('renderReport: optional sections', () => {
  it('replaces missing gold, LLM and human sections by one-line notes', async () => {
    const { html, markdown, svgs } = await renderReport(withoutOptional(data));
    for (const doc of [html, markdown]) {
      assert.ok(doc.includes('No gold reward for this task: gold columns, gold-by-difficulty and the offset spread are omitted.'));
      assert.ok(doc.includes('No LLM judge in this run.'));
      assert.ok(doc.includes('No human votes in this run.'));
      assert.ok(doc.includes('not measurable without a gold reward'));
    }
    assert.deepEqual(Object.keys(svgs).sort(), ['reward-variance', 'training-curves', 'win-rate-by-difficulty', 'win-tie-loss']);
    assert.ok(!html.includes('>gold reward<'), 'no gold column');
    assert.ok(!html.includes('gold-gain-by-difficulty'));
    assert.ok(!html.includes('LLM ('));
  });

  it('shows human agreement when there are votes', async () => {
    const d: ReportData = structuredClone(data);
    d.judges.human = {
      votes: 120,
      annotators: ['alice', 'bob'],
      agreement: { kappa: 0.612, n: 40, agreement: 0.75, method: 'cohen' },
      humanVsLlm: { kappa: 0.48, n: 38, agreement: 0.66, method: 'cohen' },
    };
    const { html, markdown } = await renderReport(d);
    assert.ok(html.includes("<dt>agreement between annotators</dt><dd>0.612 <span class=\"sub\">Cohen&#39;s κ over 40 items, raw agreement 0.75</span></dd>"));
    assert.ok(markdown.includes("| humans vs LLM judge | 0.48 Cohen's κ over 38 items, raw agreement 0.66 |"));
    assert.ok(!html.includes('No human votes'));
  });

  it('renders a run with no comparisons and no training without failing', async () => {
    const d: ReportData = structuredClone(data);
    d.comparisons = [];
    d.byDifficulty = [];
    d.training = [];
    const { html, svgs } = await renderReport(d);
    assert.ok(html.includes('No comparisons were judged in this run.'));
    assert.ok(html.includes('No PPO training metrics were recorded.'));
    assert.ok(!('training-curves' in svgs));
    assert.ok(!html.includes('class="headline'));
  });
});
