import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { setup, assertClose } from './helpers.js';
import { Rng } from '../../../rlhf/rng.js';
import { PolicyModel } from '../../../rlhf/model.js';
import { buildBatch } from '../../../rlhf/batch.js';
import { generate, sampleRow, sequenceLogprobs } from '../../../rlhf/sampling.js';
import { randomizeWeights } from './model-helpers.js';

await setup();

// Weights far from the N(0, 0.02) init, so log-probs differ clearly between tokens.
function tinyPolicy(seed: number): PolicyModel {
  const m = new PolicyModel({ vocabSize: 13, contextLength: 24, dModel: 16, nHeads: 2, nLayers: 2 }, new Rng(seed));
  randomizeWeights(m, new Rng(`${seed}:w`), 0.4);
  return m;
}

const PROMPTS = [
  [1, 5, 6, 7, 3],
  [1, 8, 3],
  [1, 9, 10, 11, 12, 5, 3],
];

test('KV-cache decoding gives the log-probs of a full forward pass over prompt + response', async () => {
  const model = tinyPolicy(1);
  const gen = await generate(model, PROMPTS, new Rng('kv'), { maxNewTokens: 8, eosId: -1 });
  assert.deepEqual(gen.responses.map((r) => r.length), [8, 8, 8]);
  const full = await sequenceLogprobs(model, buildBatch(PROMPTS, gen.responses, 24));
  for (let i = 0; i < PROMPTS.length; i++) assertClose(gen.logprobs[i]!, full.logprobs[i]!, 2e-5, 0, `row ${i}`);
  // Padding does not change a row: each row alone gives the same numbers.
  for (let i = 0; i < PROMPTS.length; i++) {
    const alone = await sequenceLogprobs(model, buildBatch([PROMPTS[i]!], [gen.responses[i]!], 24));
    assertClose(alone.logprobs[0]!, full.logprobs[i]!, 2e-5, 0, `row ${i} alone`);
  }
  // Not a vacuous check: the log-probs are far from uniform.
  const flat = full.logprobs.flat();
  assert.ok(Math.max(...flat) - Math.min(...flat) > 1, 'log-probs vary');
  model.dispose();
});

// The decoder picks _MklLayerNorm or six plain ops by TensorFlow's intra-op
// thread count (decode-native.ts): both must match the full forward pass.
// Only the decoder's choice reads the variable here; TensorFlow read it at start.
for (const threads of ['1', '2']) {
  test(`KV-cache decoding matches the full forward pass with the LayerNorm form chosen for ${threads} intra-op thread(s)`, { skip: tf.getBackend() !== 'tensorflow' && 'tensorflow only' }, async () => {
    const saved = { intra: process.env.TF_NUM_INTRAOP_THREADS, ranks: process.env.CRLHF_THREADS };
    process.env.TF_NUM_INTRAOP_THREADS = threads;
    process.env.CRLHF_THREADS = '1'; // decode in this thread
    const model = tinyPolicy(4);
    try {
      const gen = await generate(model, PROMPTS, new Rng('ln'), { maxNewTokens: 6, eosId: -1 });
      const full = await sequenceLogprobs(model, buildBatch(PROMPTS, gen.responses, 24));
      for (let i = 0; i < PROMPTS.length; i++) assertClose(gen.logprobs[i]!, full.logprobs[i]!, 2e-5, 0, `row ${i}`);
    } finally {
      for (const [k, v] of [['TF_NUM_INTRAOP_THREADS', saved.intra], ['CRLHF_THREADS', saved.ranks]] as const) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
      model.dispose();
    }
  });
}

test('the same seed gives the same samples; another seed gives others', async () => {
  const model = tinyPolicy(2);
  const opts = { maxNewTokens: 10, temperature: 1.2, topK: 8, topP: 0.95, eosId: -1 };
  const a = await generate(model, PROMPTS, new Rng('s'), opts);
  const b = await generate(model, PROMPTS, new Rng('s'), opts);
  const c = await generate(model, PROMPTS, new Rng('t'), opts);
  assert.deepEqual(a.responses, b.responses);
  assert.deepEqual(a.logprobs, b.logprobs);
  assert.notDeepEqual(a.responses, c.responses);
  model.dispose();
});

test('rows stop at EOS (kept in the response), others continue; greedy is argmax', async () => {
  const model = tinyPolicy(3);
  const greedy = await generate(model, PROMPTS, new Rng(0), { maxNewTokens: 6, temperature: 0, eosId: -1 });
  // Make row 0's first greedy token the stop token.
  const eos = greedy.responses[0]![0]!;
  const stopped = await generate(model, PROMPTS, new Rng(0), { maxNewTokens: 6, temperature: 0, eosId: eos });
  assert.deepEqual(stopped.responses[0], [eos]);
  assert.equal(stopped.finished[0], true);
  for (let i = 1; i < PROMPTS.length; i++) {
    const g = greedy.responses[i]!;
    const cut = g.indexOf(eos);
    assert.deepEqual(stopped.responses[i], cut < 0 ? g : g.slice(0, cut + 1));
    assert.equal(stopped.finished[i], cut >= 0);
  }
  // Greedy tokens are the argmax of a full forward pass.
  const full = await sequenceLogprobs(model, buildBatch(PROMPTS, greedy.responses, 24), { entropies: true });
  assertClose(greedy.logprobs.flat(), full.logprobs.flat(), 2e-5);
  for (const e of full.entropies!.flat()) assert.ok(e > 0 && e <= Math.log(13) + 1e-5);
  model.dispose();
});

test('maxNewTokens is capped by the context length', async () => {
  const model = tinyPolicy(4);
  const gen = await generate(model, PROMPTS, new Rng(1), { maxNewTokens: 100, eosId: -1 });
  assert.deepEqual(gen.responses.map((r) => r.length), [24 - 7, 24 - 7, 24 - 7]);
  model.dispose();
});

test('sampleRow: top-k keeps the k most likely, top-p the smallest set reaching p, log-probs are exact', () => {
  const logits = [0.1, 0.2, 0.3, 0.4].map(Math.log);
  const rng = new Rng('row');
  const count = (opts: Parameters<typeof sampleRow>[2], n = 20000) => {
    const c = [0, 0, 0, 0];
    for (let i = 0; i < n; i++) c[sampleRow(logits, rng, opts).token]!++;
    return c.map((x) => x / n);
  };
  // top-k = 1 and top-p below the largest probability are greedy.
  assert.deepEqual(count({ topK: 1 }, 200), [0, 0, 0, 1]);
  assert.deepEqual(count({ topP: 0.35 }, 200), [0, 0, 0, 1]);
  // top-p 0.6: {0.4, 0.3} → 4/7, 3/7.
  const p = count({ topP: 0.6 });
  assert.deepEqual([p[0], p[1]], [0, 0]);
  assert.ok(Math.abs(p[3]! - 4 / 7) < 0.015, `p3 ${p[3]}`);
  // top-k 3 then top-p 0.5 of the renormalised top-3 (0.45 of the mass): {0.4, 0.3}.
  assert.deepEqual(count({ topK: 3, topP: 0.5 }, 500).slice(0, 2), [0, 0]);
  // top-k 2: {0.4, 0.3}; no filter: all four in proportion.
  const all = count({});
  for (let j = 0; j < 4; j++) assert.ok(Math.abs(all[j]! - (j + 1) / 10) < 0.015, `all[${j}] ${all[j]}`);
  // logprob is the full (untruncated) distribution; samplingLogprob the truncated one.
  const pick = sampleRow(logits, new Rng(5), { topK: 2 });
  const pj = [0.1, 0.2, 0.3, 0.4][pick.token]!;
  assert.ok(Math.abs(pick.logprob - Math.log(pj)) < 1e-12);
  assert.ok(Math.abs(pick.samplingLogprob - Math.log(pj / 0.7)) < 1e-12);
  // Temperature 2 flattens: logprob under softmax(logits / 2).
  const t2 = sampleRow([0, Math.log(4)], new Rng(1), { temperature: 2 });
  const expect2 = [Math.log(1 / 3), Math.log(2 / 3)][t2.token]!;
  assert.ok(Math.abs(t2.logprob - expect2) < 1e-12);
  // Greedy.
  assert.equal(sampleRow([0.5, 2, -1], new Rng(1), { temperature: 0 }).token, 1);
});

test('generate and sequenceLogprobs leave no tensors behind', async () => {
  const model = tinyPolicy(6);
  const n0 = tf.memory().numTensors;
  for (let i = 0; i < 5; i++) {
    const g = await generate(model, PROMPTS, new Rng(i), { maxNewTokens: 5, topK: 5 });
    await sequenceLogprobs(model, buildBatch(PROMPTS, g.responses, 24), { entropies: true });
  }
  assert.equal(tf.memory().numTensors, n0);
  model.dispose();
});
