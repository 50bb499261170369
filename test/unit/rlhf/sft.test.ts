import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { setup, assertClose, slowTest } from './helpers.js';
import { Rng } from '../../../rlhf/rng.js';
import { Tokenizer, EOS, BOS, SEP } from '../../../rlhf/tokenizer.js';
import { PolicyModel } from '../../../rlhf/model.js';
import { SftTrainer, evaluateSft, sftBatch, sftLoss } from '../../../rlhf/sft.js';
import { encodePrompt } from '../../../rlhf/batch.js';
import { generate } from '../../../rlhf/sampling.js';

await setup();

const CORPUS = [
  { prompt: 'hello', response: 'world' },
  { prompt: 'abc', response: 'cba' },
  { prompt: 'rlhf', response: 'ppo!' },
  { prompt: 'x', response: 'yz yz' },
  { prompt: 'sun', response: 'moon' },
  { prompt: 'one two', response: '3' },
];

test('sftBatch: prompt tokens are context, the loss covers response tokens and EOS only', async () => {
  const tok = Tokenizer.fit(CORPUS.flatMap((p) => [p.prompt, p.response]));
  const b = sftBatch(tok, [CORPUS[1]!, CORPUS[3]!], 32);
  assert.equal(b.promptLen, 5); // BOS a b c SEP
  assert.deepEqual(Array.from(b.inputIds.slice(0, 5)), [BOS, ...tok.encode('abc'), SEP]);
  assert.deepEqual(Array.from(b.responseIds.slice(0, 4)), [...tok.encode('cba'), EOS]);
  assert.equal(b.responseLen, 6); // 'yz yz' + EOS
  assert.deepEqual(Array.from(b.responseMask), [1, 1, 1, 1, 0, 0, 1, 1, 1, 1, 1, 1]);
  // At init the model is near-uniform, so the loss is about log(vocab).
  const model = new PolicyModel({ vocabSize: tok.vocabSize, contextLength: 32, dModel: 16, nHeads: 2, nLayers: 1 }, new Rng(0));
  const l = tf.tidy(() => sftLoss(model, b));
  assertClose(await l.data(), [Math.log(tok.vocabSize)], 0.05);
  l.dispose();
  model.dispose();
});

test('SFT memorises a tiny corpus: loss falls below 0.05 and greedy decoding reproduces every response', slowTest(), async () => {
  const tok = Tokenizer.fit(CORPUS.flatMap((p) => [p.prompt, p.response]));
  const model = new PolicyModel({ vocabSize: tok.vocabSize, contextLength: 24, dModel: 32, nHeads: 2, nLayers: 2 }, new Rng('sft'));
  const trainer = new SftTrainer(model, { schedule: { peakLr: 2e-2, warmupSteps: 10, totalSteps: 60, minLr: 2e-3 }, optimizer: { weightDecay: 0 } });
  const batch = sftBatch(tok, CORPUS, 24);
  const first = await trainer.step(batch);
  assert.equal(first.tokens, CORPUS.reduce((n, p) => n + [...p.response].length + 1, 0));
  assert.ok(Math.abs(first.lr - 2e-3) < 1e-12);
  const n0 = tf.memory().numTensors;
  let last = first;
  for (let s = 1; s < 60; s++) last = await trainer.step(batch);
  assert.equal(tf.memory().numTensors, n0, 'no tensors leak across SFT steps');
  assert.equal(trainer.stepCount, 60);
  assert.ok(last.loss < 0.05, `final loss ${last.loss} (first ${first.loss})`);
  const evalLoss = await evaluateSft(model, [batch]);
  assert.ok(evalLoss.loss < 0.05 && evalLoss.tokens === first.tokens);
  const gen = await generate(model, CORPUS.map((p) => encodePrompt(tok, p.prompt)), new Rng(0), { maxNewTokens: 10, temperature: 0 });
  assert.deepEqual(gen.responses.map((r) => tok.decode(r)), CORPUS.map((p) => p.response));
  assert.ok(gen.finished.every(Boolean), 'every response ends with EOS');
  trainer.dispose();
  model.dispose();
});
