// Data-parallel training and sampling over worker threads (rlhf/parallel):
// the same numbers as one thread for the same global batch. Run by
// parallel.test.ts (wasm, or cpu) and parallel-tensorflow.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { assertClose } from './helpers.js';
import { Rng } from '../../../rlhf/rng.js';
import { Tokenizer } from '../../../rlhf/tokenizer.js';
import { PolicyModel, RewardModel, ValueModel, type Transformer } from '../../../rlhf/model.js';
import { RewardTrainer, type PreferencePair } from '../../../rlhf/reward-model.js';
import { PpoTrainer, type PpoMetrics, type PpoPrompt, type RewardFn } from '../../../rlhf/ppo.js';
import { SftTrainer, sftBatch } from '../../../rlhf/sft.js';
import { encodePrompt } from '../../../rlhf/batch.js';
import { generate } from '../../../rlhf/sampling.js';
import { dataParallelRanks, shardRanges, stopWorkers } from '../../../rlhf/parallel/pool.js';
import { ownerBounds } from '../../../rlhf/parallel/sharded.js';
import type { AdamWState } from '../../../rlhf/optim.js';
import { weightsOf } from './model-helpers.js';

/** The data-parallel checks on the backend the calling file activated. */
export function parallelSuite(): void {
  async function withThreads<T>(n: number, body: () => Promise<T>): Promise<T> {
    const before = process.env.CRLHF_THREADS;
    process.env.CRLHF_THREADS = String(n);
    try {
      return await body();
    } finally {
      if (before === undefined) delete process.env.CRLHF_THREADS;
      else process.env.CRLHF_THREADS = before;
    }
  }

  /** Three steps of a fresh model and trainer on `threads` ranks: each step's result and the final weights. */
  const trainOn = <S>(threads: number, make: () => { model: Transformer; step(): Promise<S>; dispose(): void }) =>
    withThreads(threads, async () => {
      const { model, step, dispose } = make();
      const steps: S[] = [];
      for (let s = 0; s < 3; s++) steps.push(await step());
      const weights = await weightsOf(model);
      dispose();
      model.dispose();
      return { steps, weights };
    });

  const CORPUS = [
    { prompt: 'hello', response: 'world' },
    { prompt: 'abc', response: 'cba' },
    { prompt: 'rlhf', response: 'ppo!' },
    { prompt: 'x', response: 'yz yz' },
    { prompt: 'sun', response: 'moon' },
    { prompt: 'one two', response: '3' },
    { prompt: 'a', response: 'bbbbbbb' },
  ];
  const tok = Tokenizer.fit(CORPUS.flatMap((p) => [p.prompt, p.response]));
  const CFG = { vocabSize: tok.vocabSize, contextLength: 24, dModel: 16, nHeads: 2, nLayers: 2 };

  test('shardRanges: contiguous, near-equal, never empty', () => {
    assert.deepEqual(shardRanges(7, 2), [
      [0, 3],
      [3, 7],
    ]);
    assert.deepEqual(shardRanges(2, 4), [
      [0, 1],
      [1, 2],
    ]);
    assert.deepEqual(shardRanges(9, 3), [
      [0, 3],
      [3, 6],
      [6, 9],
    ]);
  });

  test(`CRLHF_THREADS sets the ranks on ${tf.getBackend()}`, async () => {
    await withThreads(3, async () => assert.equal(dataParallelRanks(), 3));
    await withThreads(1, async () => assert.equal(dataParallelRanks(), 1));
  });

  test('data-parallel SFT steps over worker threads equal one-thread steps on the same global batch (float32 tolerance)', async () => {
    const batch = sftBatch(tok, CORPUS, CFG.contextLength);
    const run = (threads: number) =>
      trainOn(threads, () => {
        const model = new PolicyModel(CFG, new Rng('dp'));
        const trainer = new SftTrainer(model, { schedule: { peakLr: 3e-3, totalSteps: 10 } });
        return { model, step: () => trainer.step(batch), dispose: () => trainer.dispose() };
      });
    const one = await run(1);
    const two = await run(2);
    const three = await run(3);
    for (const other of [two, three]) {
      for (let s = 0; s < 3; s++) {
        assertClose([other.steps[s]!.loss], [one.steps[s]!.loss], 1e-5, 1e-5, `loss ${s}`);
        assertClose([other.steps[s]!.gradNorm], [one.steps[s]!.gradNorm], 1e-5, 1e-4, `grad norm ${s}`);
        assert.equal(other.steps[s]!.tokens, one.steps[s]!.tokens);
      }
      for (const [name, w] of Object.entries(one.weights)) assertClose(other.weights[name]!, w, 1e-5, 1e-4, name);
    }
    await stopWorkers();
  });

  test('ownerBounds: contiguous parameter ranges of near-equal size, one per rank', () => {
    assert.deepEqual(ownerBounds([10, 10, 10, 10], 2), [0, 2, 4]);
    assert.deepEqual(ownerBounds([100, 1, 1, 1, 100], 2), [0, 2, 5]);
    assert.deepEqual(ownerBounds([5, 100, 5], 3), [0, 1, 2, 3]);
    // More ranks than parameters: some own nothing.
    assert.deepEqual(ownerBounds([7], 3), [0, 0, 1, 1]);
  });

  test('the optimizer split over the ranks: its state, a one-row step, a restored state and a switch to one rank agree with one thread', async () => {
    const batch = sftBatch(tok, CORPUS, CFG.contextLength);
    const oneRow = sftBatch(tok, CORPUS.slice(0, 1), CFG.contextLength);
    const make = () => {
      const model = new PolicyModel(CFG, new Rng('zero'));
      return { model, trainer: new SftTrainer(model, { schedule: { peakLr: 3e-3, totalSteps: 10 } }) };
    };
    const closeStates = (a: AdamWState, b: AdamWState, what: string) => {
      assert.equal(a.step, b.step, `${what}: step`);
      assert.deepEqual(Object.keys(a.m), Object.keys(b.m), `${what}: parameter order`);
      for (const name of Object.keys(b.m)) {
        assertClose(a.m[name]!, b.m[name]!, 1e-6, 1e-4, `${what}: m ${name}`);
        assertClose(a.v[name]!, b.v[name]!, 1e-9, 1e-4, `${what}: v ${name}`);
      }
    };
    const ref = make();
    const dp = make();
    await withThreads(1, async () => {
      await ref.trainer.step(batch);
      await ref.trainer.step(oneRow);
    });
    await withThreads(2, async () => {
      await dp.trainer.step(batch);
      assert.ok(dp.trainer.optimizer.sharded, 'the moments are split over the ranks');
      await dp.trainer.step(oneRow);
    });
    closeStates(await dp.trainer.optimizer.exportState(), await ref.trainer.optimizer.exportState(), 'after a full and a one-row step');
    for (const [name, w] of Object.entries(await weightsOf(ref.model))) assertClose((await weightsOf(dp.model))[name]!, w, 1e-5, 1e-4, name);

    // Restoring a state takes every moment back; the next split step continues from it.
    const restored = await ref.trainer.optimizer.exportState();
    dp.trainer.optimizer.loadState(restored);
    assert.equal(dp.trainer.optimizer.sharded, false);
    for (const [name, v] of ref.model.params) dp.model.params.get(name)!.assign(v);
    await withThreads(1, () => ref.trainer.step(batch));
    await withThreads(2, () => dp.trainer.step(batch));
    closeStates(await dp.trainer.optimizer.exportState(), await ref.trainer.optimizer.exportState(), 'after a restore and a step');

    // One rank from here: the moments come back to this thread first.
    await withThreads(1, async () => {
      await ref.trainer.step(batch);
      const last = await dp.trainer.step(batch);
      assert.equal(dp.trainer.optimizer.sharded, false);
      assert.ok(Number.isFinite(last.loss));
    });
    closeStates(await dp.trainer.optimizer.exportState(), await ref.trainer.optimizer.exportState(), 'after switching to one rank');
    for (const [name, w] of Object.entries(await weightsOf(ref.model))) assertClose((await weightsOf(dp.model))[name]!, w, 1e-5, 1e-4, name);
    for (const x of [ref, dp]) {
      x.trainer.dispose();
      x.model.dispose();
    }
    await stopWorkers();
  });

  test('with more models than the workers hold, the least recently used is dropped after its optimizer comes back, and training goes on as in one thread', async () => {
    const batch = sftBatch(tok, CORPUS, CFG.contextLength);
    const make = (i: number) => {
      const model = new PolicyModel(CFG, new Rng(`evict${i}`));
      return { model, trainer: new SftTrainer(model, { schedule: { peakLr: 3e-3, totalSteps: 10 } }) };
    };
    const ref = make(0);
    await withThreads(1, async () => {
      await ref.trainer.step(batch);
      await ref.trainer.step(batch);
    });
    // Nine models, one more than the workers hold (pool.ts MAX_REPLICAS): the ninth evicts the first.
    const all = Array.from({ length: 9 }, (_, i) => make(i));
    const first = all[0]!;
    await withThreads(2, async () => {
      for (const x of all) await x.trainer.step(batch);
      assert.equal(first.trainer.optimizer.sharded, false, "the evicted replica's optimizer moments came back");
      await first.trainer.step(batch);
      assert.equal(first.trainer.optimizer.sharded, true);
    });
    const [a, b] = [await first.trainer.optimizer.exportState(), await ref.trainer.optimizer.exportState()];
    assert.equal(a.step, 2);
    for (const name of Object.keys(b.m)) assertClose(a.m[name]!, b.m[name]!, 1e-6, 1e-4, `m ${name}`);
    for (const [name, w] of Object.entries(await weightsOf(ref.model))) assertClose((await weightsOf(first.model))[name]!, w, 1e-5, 1e-4, name);

    // A second trainer of the same model takes the workers' part: the first one's moments come back unchanged.
    const second = new SftTrainer(first.model, { schedule: { peakLr: 3e-3, totalSteps: 10 } });
    await withThreads(2, () => second.step(batch));
    assert.equal(first.trainer.optimizer.sharded, false);
    assert.equal(second.optimizer.sharded, true);
    const back = await first.trainer.optimizer.exportState();
    for (const name of Object.keys(a.m)) {
      assert.deepEqual(back.m[name], a.m[name], `m ${name}`);
      assert.deepEqual(back.v[name], a.v[name], `v ${name}`);
    }
    second.dispose();
    for (const x of [ref, ...all]) {
      x.trainer.dispose();
      x.model.dispose();
    }
    await stopWorkers();
  });

  test('generate over worker threads gives every row the samples it gets in one thread', async () => {
    const model = new PolicyModel(CFG, new Rng('gen'));
    const prompts = CORPUS.map((p) => encodePrompt(tok, p.prompt));
    const opts = { maxNewTokens: 8, temperature: 1.3, topK: 6, eosId: -1, policyStats: true };
    const one = await withThreads(1, () => generate(model, prompts, new Rng('s'), opts));
    const two = await withThreads(2, () => generate(model, prompts, new Rng('s'), opts));
    assert.deepEqual(two.responses, one.responses);
    assert.deepEqual(two.finished, one.finished);
    for (let i = 0; i < prompts.length; i++) {
      assertClose(two.logprobs[i]!, one.logprobs[i]!, 1e-5, 0, `logprobs ${i}`);
      assertClose(two.policyLogprobs![i]!, one.policyLogprobs![i]!, 1e-5, 0, `policy logprobs ${i}`);
      assertClose(two.entropies![i]!, one.entropies![i]!, 1e-5, 0, `entropies ${i}`);
    }
    model.dispose();
    await stopWorkers();
  });

  test('data-parallel PPO updates equal one-thread updates on the same minibatches (float32 tolerance)', async () => {
    const prompts: PpoPrompt[] = CORPUS.map((p, i) => ({ id: `p${i}`, text: p.prompt }));
    // Rewards that vary with the response, so advantages and gradients are not trivial.
    const rewardFn: RewardFn = (samples) => samples.map((x) => [...x.response].filter((c) => 'aeiou'.includes(c)).length - x.response.length / 4);
    const run = (threads: number) =>
      withThreads(threads, async () => {
        const policy = new PolicyModel(CFG, new Rng('ppo-dp'));
        const value = new ValueModel(CFG, new Rng('ppo-dp:v'));
        const trainer = new PpoTrainer({
          policy,
          reference: policy.clone(),
          value,
          tokenizer: tok,
          rewardFn,
          config: {
            rewardMode: 'raw',
            generation: { maxNewTokens: 6, temperature: 1.2 },
            kl: { kind: 'fixed', coef: 0.05 },
            ppoEpochs: 2,
            miniBatchSize: 5,
            policyOptim: { schedule: { peakLr: 3e-3, totalSteps: 1, decay: 'constant' } },
            valueOptim: { schedule: { peakLr: 3e-3, totalSteps: 1, decay: 'constant' } },
          },
          seed: 'ppo-dp',
        });
        const metrics: PpoMetrics[] = [];
        const responses: string[][] = [];
        for (let i = 0; i < 2; i++) {
          const out = await trainer.step(prompts);
          metrics.push(out.metrics);
          responses.push(out.rollouts.map((r) => r.response));
        }
        const weights = { policy: await weightsOf(policy), value: await weightsOf(value) };
        trainer.dispose();
        for (const m of [trainer.policy, trainer.reference, trainer.value]) m.dispose();
        return { metrics, responses, weights };
      });
    const one = await run(1);
    for (const other of [await run(2), await run(3)]) {
      assert.deepEqual(other.responses, one.responses);
      for (let i = 0; i < 2; i++) {
        assert.equal(other.metrics[i]!.updates, one.metrics[i]!.updates);
        for (const k of ['policyLoss', 'valueLoss', 'approxKl', 'clipFrac', 'valueClipFrac', 'policyGradNorm', 'valueGradNorm', 'logprobMismatch'] as const) {
          assertClose([other.metrics[i]![k]], [one.metrics[i]![k]], 1e-5, 1e-4, `iteration ${i} ${k}`);
        }
      }
      for (const m of ['policy', 'value'] as const) {
        for (const [name, w] of Object.entries(one.weights[m])) assertClose(other.weights[m][name]!, w, 1e-5, 1e-4, `${m} ${name}`);
      }
    }
    // Not vacuous: both networks got gradients.
    assert.ok(one.metrics.some((m) => m.policyGradNorm > 0 && m.valueGradNorm > 0));
    await stopWorkers();
  });

  test('data-parallel reward-model steps equal one-thread steps on the same pairs (float32 tolerance)', async () => {
    const pairs: PreferencePair[] = CORPUS.map((p) => ({ prompt: p.prompt, chosen: p.response, rejected: [...p.response].reverse().join('') + 'x' }));
    const run = (threads: number) =>
      trainOn(threads, () => {
        const model = new RewardModel(CFG, new Rng('rm-dp'));
        // The Bradley-Terry loss is blind to anything that shifts every score
        // equally (the final LayerNorm's bias, say): those gradients are float
        // noise around 0, which Adam with its default ε turns into ±lr steps
        // that differ from run to run of a different summation order. A larger
        // ε keeps the comparison to the real gradients.
        const trainer = new RewardTrainer(model, tok, { schedule: { peakLr: 3e-3, totalSteps: 10 }, optimizer: { eps: 1e-4 } });
        return { model, step: () => trainer.step(pairs), dispose: () => trainer.dispose() };
      });
    const one = await run(1);
    for (const other of [await run(2), await run(3)]) {
      for (let s = 0; s < 3; s++) {
        for (const k of ['loss', 'accuracy', 'margin', 'gradNorm'] as const) assertClose([other.steps[s]![k]], [one.steps[s]![k]], 1e-5, 1e-4, `step ${s} ${k}`);
      }
      for (const [name, w] of Object.entries(one.weights)) assertClose(other.weights[name]!, w, 1e-5, 1e-4, name);
    }
    assert.ok(one.steps[2]!.loss < one.steps[0]!.loss, 'the reward model learns');
    await stopWorkers();
  });
}
