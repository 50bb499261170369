// End to end through the CLI, as a user types it, on the embedded default: the
// CLI starts the local Temporal server under CRLHF_STATE_DIR, a file:// store
// beside it and an in-process worker.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { EXIT_CODES } from '../../common/errors.js';
import type { ExperimentSummary } from '../../pipeline/summary.js';
import { parseReportData } from '../../report/schema.js';
import { getTask } from '../../tasks/index.js';
import { tempDir } from '../helpers/servers.js';
import { TINY } from '../helpers/pipeline.js';
import { crlhf } from '../helpers/cli.js';

let state: string;
let env: Record<string, string | undefined>;

before(async () => {
  state = await tempDir('crlhf-e2e-');
  env = { CRLHF_STATE_DIR: state, TEMPORAL_ADDRESS: undefined, CRLHF_STORE: undefined };
});

after(async () => {
  await crlhf(['server', 'stop'], env);
  await rm(state, { recursive: true, force: true });
});

describe('crlhf on the embedded default', () => {
  test('doctor starts the local server and store, runs a workflow and reports the tensor backend', { timeout: 600_000 }, async () => {
    const res = await crlhf(['doctor', '--json'], env);
    assert.equal(res.code, 0, res.stderr);
    const r = JSON.parse(res.stdout) as { ok: boolean; backend: { name: string }; temporal: { embedded: boolean; ui: string } };
    assert.equal(r.ok, true);
    assert.equal(r.temporal.embedded, true);
    assert.match(r.temporal.ui, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(r.backend.name, process.env.CRLHF_BACKEND ?? 'tensorflow');
  });

  test('run --json trains both arms, judges them and writes the report; the artifacts agree with the summary', { timeout: 600_000 }, async () => {
    const res = await crlhf(['run', TINY, '--json'], env);
    assert.equal(res.code, 0, res.stderr);
    const s = JSON.parse(res.stdout) as ExperimentSummary & { ui: string };
    assert.equal(s.run, 'tiny');
    assert.deepEqual(s.arms.map((a) => [a.name, a.rewardMode]), [['sft', 'sft'], ['ppo', 'raw'], ['ppo-cr', 'contrastive']]);
    for (const a of s.arms) {
      for (const k of ['goldMean', 'rmScoreMean', 'klToRef', 'responseLength'] as const) assert.ok(Number.isFinite(a[k]), `${a.name}.${k}`);
    }
    assert.deepEqual(s.winRates.map((w) => `${w.judge}:${w.candidate}>${w.baseline}`), ['oracle:ppo>sft', 'oracle:ppo-cr>sft', 'oracle:ppo-cr>ppo']);
    for (const w of s.winRates) {
      assert.equal(w.wins + w.ties + w.losses, 24);
      assert.ok(w.adjustedWinRateCI![0] <= w.adjustedWinRate! && w.adjustedWinRate! <= w.adjustedWinRateCI![1]);
    }
    assert.match(s.ui, /\/namespaces\/default\/workflows\/tiny$/);

    const reportDir = fileURLToPath(s.artifacts.report).replace(/\/report\.html$/, '');
    const data = parseReportData(JSON.parse(await readFile(join(reportDir, 'report.json'), 'utf8')), 'report.json');
    assert.deepEqual(data.arms.map((a) => a.name), ['sft', 'ppo', 'ppo-cr']);
    for (const a of s.arms) assert.equal(data.arms.find((x) => x.name === a.name)!.summary.goldMean!.value, a.goldMean, `report gold of ${a.name}`);
    assert.equal(data.training.length, 2 * 4, 'one training point per arm and iteration');
    assert.ok(data.rewardModel.offsetSpread && data.rewardModel.offsetSpread.perPrompt.length === 64);
    const html = await readFile(join(reportDir, 'report.html'), 'utf8');
    assert.ok((html.match(/<svg/g) ?? []).length >= 5, 'plots inline');
    for (const f of ['report.md', 'plots/training-curves.svg', 'plots/win-tie-loss.svg']) assert.ok(existsSync(join(reportDir, f)), f);
    // Step manifests of the run: everything computed by this run, none reused.
    for (const step of ['data', 'sft', 'reward-model', 'baselines-0', 'baselines-1', 'baseline-scores']) {
      const rec = JSON.parse(await readFile(join(state, 'store/runs/tiny/steps', `${step}.json`), 'utf8')) as { reused: boolean };
      assert.equal(rec.reused, false, step);
    }
  });

  test('status, list and report read the finished run; running it again attaches instead of duplicating', { timeout: 300_000 }, async () => {
    const status = await crlhf(['status', 'tiny', '--json'], env);
    assert.equal(status.code, 0, status.stderr);
    const st = JSON.parse(status.stdout) as { status: string; summary: ExperimentSummary };
    assert.equal(st.status, 'COMPLETED');
    const list = await crlhf(['list', '--task', 'sentiment', '--json'], env);
    assert.deepEqual((JSON.parse(list.stdout) as { run: string }[]).map((r) => r.run), ['tiny']);
    const again = await crlhf(['run', TINY, '--json'], env);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stderr, /already completed/);
    assert.deepEqual((JSON.parse(again.stdout) as ExperimentSummary).winRates, st.summary.winRates);
    const out = join(state, 'report-out');
    const rep = await crlhf(['report', 'tiny', '--out', out], env);
    assert.equal(rep.code, 0, rep.stderr);
    for (const f of ['report.html', 'report.md', 'report.json']) assert.ok(existsSync(join(out, f)), f);
  });

  test('real data in HH-RLHF format runs through the same pipeline (no gold reward, no oracle)', { timeout: 600_000 }, async () => {
    // An HH-RLHF file made from the sentiment task's pairs.
    const task = getTask('sentiment');
    const data = task.generate({ sftExamples: 10, rlPrompts: 10, evalPrompts: 10, preferencePairs: 300, heldOutPairs: 10, labelNoise: 0 }, 5);
    const dir = join(state, 'hh');
    await mkdir(dir, { recursive: true });
    const lines = data.preferences.map((p) => JSON.stringify({ chosen: `\n\nHuman: ${p.prompt}\n\nAssistant: ${p.chosen}`, rejected: `\n\nHuman: ${p.prompt}\n\nAssistant: ${p.rejected}` }));
    await writeFile(join(dir, 'train.jsonl'), `${lines.join('\n')}\n`);
    const config = (await readFile(TINY, 'utf8')).replace('task: sentiment', 'task: files').replace('name: tiny', 'name: hh').replace(
      'data:\n',
      'data:\n  files:\n    format: hh-rlhf\n    preferences: train.jsonl\n    eval_fraction: 0.2\n',
    );
    await writeFile(join(dir, 'hh.yaml'), config);
    const res = await crlhf(['run', join(dir, 'hh.yaml'), '--json'], env);
    assert.equal(res.code, 0, res.stderr);
    const s = JSON.parse(res.stdout) as ExperimentSummary;
    assert.equal(s.task, 'files');
    assert.ok(s.arms.every((a) => a.goldMean === null));
    assert.deepEqual(s.winRates, [], 'no gold reward: no oracle comparisons');
  });
});

describe('bad input: a clear error, and nothing started', () => {
  const cases: [string, string, RegExp][] = [
    ['malformed YAML', 'seed: 1\nppo: [1,\n', /bad\.yaml:\d+: malformed YAML/],
    ['an unknown field', 'ppo:\n  iterations: 2\n  bogus: 1\n', /bad\.yaml:3: unknown field "ppo\.bogus"/],
    ['an out-of-range value', 'data:\n  label_noise: 1.5\n', /bad\.yaml:2: field "data\.label_noise" = 1\.5: .*<=1/],
    ['an unknown task', 'task: chess\n', /bad\.yaml:1: field "task" = "chess": unknown task "chess"; known tasks: sentiment, sort/],
    ['a missing data file', 'task: files\ndata:\n  files:\n    format: hh-rlhf\n    preferences: nowhere.jsonl\n', /field "data\.files\.preferences" = .*nowhere\.jsonl.*no such file/],
  ];
  for (const [what, yaml, message] of cases) {
    test(`${what}`, async () => {
      const dir = await tempDir('crlhf-bad-');
      await writeFile(join(dir, 'bad.yaml'), yaml);
      const res = await crlhf(['run', join(dir, 'bad.yaml')], { ...env, CRLHF_STATE_DIR: join(dir, 'state') });
      assert.equal(res.code, EXIT_CODES.config, res.stderr);
      assert.match(res.stderr, message);
      assert.equal(existsSync(join(dir, 'state')), false, 'no server started, nothing written');
      await rm(dir, { recursive: true, force: true });
    });
  }

  test('a malformed JSONL line fails the run fast, naming the file and line, and loses nothing', { timeout: 300_000 }, async () => {
    const dir = await tempDir('crlhf-badjsonl-');
    const good = JSON.stringify({ chosen: '\n\nHuman: hi\n\nAssistant: hello', rejected: '\n\nHuman: hi\n\nAssistant: go away' });
    await writeFile(join(dir, 'prefs.jsonl'), `${good}\n${good}\n{"chosen": 5, "rejected": "x"}\n`);
    await writeFile(join(dir, 'run.yaml'), 'name: badjsonl\ntask: files\ndata:\n  files:\n    format: hh-rlhf\n    preferences: prefs.jsonl\n');
    const res = await crlhf(['run', join(dir, 'run.yaml')], env);
    assert.notEqual(res.code, 0);
    assert.match(res.stderr, /prefs\.jsonl:3: field "chosen": expected a string/);
    assert.match(res.stderr, /crlhf resume badjsonl/);
    assert.ok(existsSync(join(state, 'store/runs/tiny/summary.json')), 'earlier runs untouched');
    await rm(dir, { recursive: true, force: true });
  });
});
