// The model benchmark's pure parts: reference sizes match the rlhf/ model,
// FLOP conventions, options, and the table. The measuring itself
// (`npm run bench:model -- --quick`) needs PyTorch and minutes, so it is not a test.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { initBackend } from '../../../rlhf/backend.js';
import { PolicyModel } from '../../../rlhf/model.js';
import { Rng } from '../../../rlhf/rng.js';
import { parseOptions, type ModelBenchResults } from '../../../bench/model.js';
import { markdownTable, tableRows } from '../../../bench/report.js';
import { expectedParams, genFlops, SIZES, trainFlops } from '../../../bench/sizes.js';
import { median } from '../../../bench/stats.js';


test('the parameter formula both sides are checked against counts the rlhf/ PolicyModel', async () => {
  await initBackend((process.env.CRLHF_BACKEND as 'auto' | undefined) ?? 'auto');
  for (const name of ['tiny', 'small']) {
    const size = SIZES[name]!;
    const model = new PolicyModel(size.model, new Rng(0));
    assert.equal(model.numParams, expectedParams(size.model), name);
    model.dispose();
  }
  assert.equal(expectedParams(SIZES.tiny!.model), 445_952); // as PyTorch's torch_model.py reports
});

test('reference sizes: tiny and small as specified, large 8×512, every shape fits the context', () => {
  assert.deepEqual(SIZES.tiny!.model, { vocabSize: 256, contextLength: 128, dModel: 128, nHeads: 4, nLayers: 2 });
  assert.deepEqual(SIZES.small!.model, { vocabSize: 256, contextLength: 256, dModel: 256, nHeads: 8, nLayers: 4 });
  assert.equal(SIZES.large!.model.nLayers, 8);
  assert.equal(SIZES.large!.model.dModel, 512);
  for (const s of Object.values(SIZES)) {
    assert.ok(s.train.seqLen <= s.model.contextLength, s.name);
    assert.ok(s.gen.promptLen + s.gen.newTokens <= s.model.contextLength, s.name);
  }
});

test('FLOPs: training 6·P·B·T, generation 2·P per forwarded token (prefill + new − 1)', () => {
  const s = SIZES.tiny!;
  const t = trainFlops(s, 1000);
  assert.equal(t.tokens, 16 * 128);
  assert.equal(t.flops, 6 * 1000 * 16 * 128);
  const g = genFlops(s, 1000);
  assert.equal(g.newTokens, 16 * 64);
  assert.equal(g.flops, 2 * 1000 * 16 * (32 + 64 - 1));
  assert.ok(g.attnFlops > 0 && t.attnFlops > 0);
});

test('options: --quick is one repetition of tiny; cpu needs --with-cpu; unknown names are refused', () => {
  const q = parseOptions(['--quick']);
  assert.deepEqual(q.sizes, ['tiny']);
  assert.equal(q.reps, 1);
  assert.deepEqual(q.backends, ['tensorflow', 'wasm']);
  const o = parseOptions(['--sizes', 'small,large', '--reps', '3', '--threads', '1', '--backends', 'wasm']);
  assert.deepEqual(o.sizes, ['small', 'large']);
  assert.equal(o.reps, 3);
  assert.equal(o.threads, 1);
  assert.deepEqual(o.backends, ['wasm']);
  assert.throws(() => parseOptions(['--backends', 'cpu']), /--with-cpu/);
  assert.deepEqual(parseOptions(['--with-cpu']).backends, ['tensorflow', 'wasm', 'cpu']);
  assert.throws(() => parseOptions(['--sizes', 'huge']), /unknown size huge/);
  assert.throws(() => parseOptions(['--reps', '0']), /positive integer/);
  assert.equal(parseOptions(['--gen-batch', '64']).genBatch, 64);
  assert.equal(parseOptions([]).genBatch, undefined);
  assert.equal(parseOptions(['--tensorflow-one-rank']).tensorflowOneRank, true);
  assert.equal(parseOptions([]).tensorflowOneRank, false);
  assert.equal(parseOptions(['--tensorflow-eigen']).tensorflowEigen, true);
  assert.equal(parseOptions([]).tensorflowEigen, false);
  assert.equal(parseOptions(['--tensorflow-unfused']).tensorflowUnfused, true);
  assert.equal(parseOptions([]).tensorflowUnfused, false);
  assert.deepEqual(parseOptions(['--env', 'A=1', '--env', 'B=x=y']).env, { A: '1', B: 'x=y' });
});

test('table: one row per size and runner, ratios and fractions formatted, failures shown', () => {
  const t = { msPerRep: [100], ms: 100, tokensPerS: 20480, gflops: 54.8, gflopsWithAttn: 60, ratioToTorch: 0.5, fractionOfPeak: 0.3, bestTokensPerS: 20480, ratioOfBest: 0.5 };
  const results = {
    sizes: [
      {
        size: SIZES.tiny!,
        runners: [
          { runner: 'tensorflow', train: t, gen: { ...t, ratioToTorch: 1.25 } },
          { runner: 'wasm', error: 'setup: RuntimeError: memory access out of bounds' },
          { runner: 'pytorch', train: { ...t, ratioToTorch: 1 }, gen: { ...t, ratioToTorch: 1 } },
        ],
      },
    ],
  } as unknown as ModelBenchResults;
  const rows = tableRows(results);
  assert.equal(rows.length, 3);
  assert.deepEqual(rows[0], ['tiny', 'rlhf/tensorflow', '20,480', '54.8', '0.50×', '30.0%', '20,480', '54.8', '1.25×', '30.0%']);
  assert.match(rows[1]!.join(' '), /failed: setup: RuntimeError/);
  const md = markdownTable(['size', 'runner', 'x'], [['tiny', 'pytorch', '1']]).split('\n');
  assert.equal(md.length, 3);
  assert.match(md[1]!, /^\|-+\|-+\|-+:\|$/);
});

test('median of odd and even counts', () => {
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 3, 2]), 2.5);
  assert.ok(Number.isNaN(median([])));
});
