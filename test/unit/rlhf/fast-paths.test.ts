// Each optimised path against the straightforward computation it replaces,
// within float32 tolerance: AdamW (fused and chunked) against the textbook
// per-parameter update, TensorFlow-kernel matmuls/GELU/cross-entropy against
// tfjs autodiff, the folded-weights decoding pass against the training
// forward pass.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { setup, assertClose } from './helpers.js';
import { Rng } from '../../../rlhf/rng.js';
import { AdamW } from '../../../rlhf/optim.js';
import { gelu, linear, matmul, targetLogprobs } from '../../../rlhf/ops.js';
import { PolicyModel, disposeCache, type KVCache } from '../../../rlhf/model.js';
import { InferenceSession, attentionBias } from '../../../rlhf/inference.js';
import { batchTensors, buildBatch } from '../../../rlhf/batch.js';
import { randomizeWeights } from './model-helpers.js';
import * as native from '../../../rlhf/native.js';
import { hasFusedGelu, hasOneDnnMatMul } from '../../../rlhf/native.js';
import { profileKernels } from '../../../bench/profile.js';

await setup();

const rnd = (shape: number[], seed: string, std = 1) => {
  const r = new Rng(seed);
  return tf.tensor(Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => r.normal(0, std)), shape);
};

async function maxDiff(a: tf.Tensor, b: tf.Tensor): Promise<number> {
  const d = tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))));
  const v = (await d.data())[0] as number;
  d.dispose();
  return v;
}

/** torch.optim.AdamW's update, one parameter at a time, in plain tfjs ops (with clip_grad_norm_ first). */
class ReferenceAdamW {
  step = 0;
  readonly m = new Map<string, tf.Tensor>();
  readonly v = new Map<string, tf.Tensor>();
  constructor(
    private readonly params: Map<string, tf.Variable>,
    private readonly h = { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01 },
  ) {
    for (const [k, p] of params) {
      this.m.set(k, tf.zerosLike(p));
      this.v.set(k, tf.zerosLike(p));
    }
  }
  apply(grads: Map<string, tf.Tensor>, lr: number, maxNorm: number): void {
    const t = ++this.step;
    const { beta1: b1, beta2: b2, eps, weightDecay: wd } = this.h;
    tf.tidy(() => {
      const norm = tf.sqrt(tf.addN([...grads.values()].map((g) => tf.sum(tf.square(g)))));
      const coef = tf.minimum(tf.div(maxNorm, tf.add(norm, 1e-6)), 1);
      for (const [k, p] of this.params) {
        const g = tf.mul(grads.get(k)!, coef);
        const m = tf.add(tf.mul(this.m.get(k)!, b1), tf.mul(g, 1 - b1));
        const v = tf.add(tf.mul(this.v.get(k)!, b2), tf.mul(tf.square(g), 1 - b2));
        const decayed = p.rank >= 2 ? tf.mul(p, 1 - lr * wd) : p;
        const denom = tf.add(tf.div(tf.sqrt(v), Math.sqrt(1 - b2 ** t)), eps);
        p.assign(tf.sub(decayed, tf.mul(tf.div(m, denom), lr / (1 - b1 ** t))));
        tf.dispose([this.m.get(k)!, this.v.get(k)!]);
        this.m.set(k, tf.keep(m));
        this.v.set(k, tf.keep(v));
      }
    });
  }
  dispose(): void {
    tf.dispose([...this.m.values(), ...this.v.values()]);
  }
}

const impls = tf.getBackend() === 'tensorflow' ? (['chunked', 'fused'] as const) : (['chunked'] as const);

for (const impl of impls) {
  test(`AdamW (${impl}) matches the per-parameter textbook update over several clipped steps`, async () => {
    const shapes: Record<string, number[]> = { emb: [40, 8], w1: [8, 24], b1: [24], g: [8], w2: [24, 8], b2: [8] };
    const make = () => new Map(Object.entries(shapes).map(([k, s]) => [k, tf.variable(rnd(s, `p:${k}`, 0.5))]));
    const fast = make();
    const ref = make();
    // Chunks of 64 elements: parameters split across chunks, chunks mixing decayed and undecayed weights.
    const opt = new AdamW(fast, { impl, chunkSize: 64 });
    const refOpt = new ReferenceAdamW(ref);
    for (let s = 0; s < 5; s++) {
      const lr = 0.01 * (s + 1);
      const grads = () => new Map(Object.entries(shapes).map(([k, sh]) => [k, rnd(sh, `g:${k}:${s}`, s === 2 ? 5 : 0.3)] as [string, tf.Tensor]));
      const g1 = grads();
      const g2 = grads();
      tf.dispose(tf.tidy(() => opt.apply(g1, lr, { maxGradNorm: 1 })));
      refOpt.apply(g2, lr, 1);
      tf.dispose([...g1.values(), ...g2.values()]);
    }
    for (const k of Object.keys(shapes)) {
      assertClose(await fast.get(k)!.data(), await ref.get(k)!.data(), 2e-6, 1e-5, `${impl} ${k}`);
    }
    const state = await opt.exportState();
    for (const k of Object.keys(shapes)) {
      assertClose(state.m[k]!, await refOpt.m.get(k)!.data(), 1e-7, 1e-5, `m ${k}`);
      // The fused kernel weighs g² by 1 − float32(β2): 1.3e-5 relative.
      assertClose(state.v[k]!, await refOpt.v.get(k)!.data(), 1e-9, 3e-5, `v ${k}`);
    }
    opt.dispose();
    refOpt.dispose();
    tf.dispose([...fast.values(), ...ref.values()]);
  });
}

test('linear, 2-D and batched matmuls: values and gradients equal tf.matMul autodiff', async () => {
  const x = rnd([12, 8], 'x');
  const w = rnd([8, 5], 'w');
  const b = rnd([5], 'b');
  const wt = rnd([6, 8], 'wt');
  const q = rnd([2, 3, 7, 4], 'q');
  const k = rnd([2, 3, 7, 4], 'k');
  const att = rnd([2, 3, 7, 7], 'att');
  // Nine query rows: batched products that go to oneDNN where it runs (native.ts), seven stay with Eigen.
  const q9 = rnd([2, 3, 9, 4], 'q9');
  const k9 = rnd([2, 3, 9, 4], 'k9');
  const att9 = rnd([2, 3, 9, 9], 'att9');
  const cases: [string, (xs: tf.Tensor[]) => tf.Tensor, (xs: tf.Tensor[]) => tf.Tensor, tf.Tensor[]][] = [
    ['linear', ([a, c, d]) => linear(a as tf.Tensor2D, c as tf.Tensor2D, d as tf.Tensor1D), ([a, c, d]) => tf.add(tf.matMul(a!, c!), d!), [x, w, b]],
    ['matmul NT', ([a, c]) => matmul(a as tf.Tensor2D, c!, true), ([a, c]) => tf.matMul(a!, c!, false, true), [x, wt]],
    ['batched NT', ([a, c]) => matmul(a as tf.Tensor4D, c!, true), ([a, c]) => tf.matMul(a!, c!, false, true), [q, k]],
    ['batched NN', ([a, c]) => matmul(a as tf.Tensor4D, c!), ([a, c]) => tf.matMul(a!, c!), [att, k]],
    ['batched NT, 9 rows', ([a, c]) => matmul(a as tf.Tensor4D, c!, true), ([a, c]) => tf.matMul(a!, c!, false, true), [q9, k9]],
    ['batched NN, 9 rows', ([a, c]) => matmul(a as tf.Tensor4D, c!), ([a, c]) => tf.matMul(a!, c!), [att9, k9]],
  ];
  for (const [name, fast, ref, inputs] of cases) {
    const weightsOut = rnd(tf.tidy(() => ref(inputs)).shape, `c:${name}`);
    const loss = (f: typeof fast) => (...xs: tf.Tensor[]) => tf.sum(tf.mul(f(xs), weightsOut));
    assert.ok((await maxDiff(fast(inputs), ref(inputs))) < 1e-5, `${name} value`);
    const gf = tf.grads(loss(fast))(inputs);
    const gr = tf.grads(loss(ref))(inputs);
    for (let i = 0; i < inputs.length; i++) assert.ok((await maxDiff(gf[i]!, gr[i]!)) < 1e-4, `${name} grad ${i}`);
    tf.dispose([...gf, ...gr, weightsOut]);
  }
  tf.dispose([x, w, b, wt, q, k, att, q9, k9, att9]);
});

test('transposed products (but small weight gradients) and multi-row batched products run on oneDNN on x86 CPUs, one-query products on Eigen', { skip: tf.getBackend() !== 'tensorflow' ? 'tensorflow backend only' : false }, async () => {
  const onGpu = (tf.backend() as unknown as { isUsingGpuDevice?: boolean }).isUsingGpuDevice === true;
  assert.equal(hasOneDnnMatMul(), process.arch === 'x64' && !onGpu && process.env.CRLHF_ONEDNN !== '0', 'oneDNN products on x86 CPUs');
  assert.equal((await setup()).detail.includes('oneDNN for transposed and batched matrix products'), hasOneDnnMatMul(), 'the backend detail says so');
  const x = rnd([12, 8], 'x');
  const w = rnd([8, 5], 'w');
  const b = rnd([5], 'b');
  const q9 = rnd([2, 3, 9, 4], 'q9');
  const q1 = rnd([2, 3, 1, 4], 'q1');
  const k9 = rnd([2, 3, 9, 4], 'k9');
  // A layer whose weight has more than 256·1024 elements: both gradient products on oneDNN.
  const xBig = rnd([3, 520], 'xBig');
  const wBig = rnd([520, 520], 'wBig', 0.05);
  const bBig = rnd([520], 'bBig');
  const linearGrads = (xs: tf.Tensor[]) => tf.grads((a: tf.Tensor, c: tf.Tensor, d: tf.Tensor) => tf.sum(linear(a as tf.Tensor2D, c as tf.Tensor2D, d as tf.Tensor1D)))(xs);
  const profile = await profileKernels(async () => {
    tf.dispose([...linearGrads([x, w, b]), ...linearGrads([xBig, wBig, bBig]), matmul(q9, k9, true), matmul(q1, k9, true)]);
  }, { runs: 1, plainRuns: 0 });
  const count = (name: string) => profile.byKernel.find((k) => k.name === name)?.count ?? 0;
  if (hasOneDnnMatMul()) {
    assert.equal(count('_MklMatMul'), 3, 'dx = dy·Wᵀ of both layers, dW = xᵀ·dy of the big one');
    assert.equal(count('MatMul'), 1, "the small layer's dW = xᵀ·dy on Eigen");
    assert.equal(count('_MklBatchMatMulV2'), 1, 'nine query rows');
    assert.equal(count('BatchMatMulV2'), 1, 'one query row');
    // The decoder's MLP input for a few rows: product, bias and GELU in one oneDNN kernel.
    assert.ok(hasFusedGelu(), 'fused GELU kernel');
    const fused = native.run('_MklNativeFusedMatMul', native.fusedGeluAttrs(), [x, w, b]);
    const plain = gelu(linear(x as tf.Tensor2D, w as tf.Tensor2D, b as tf.Tensor1D));
    assert.ok((await maxDiff(fused, plain)) < 1e-5, 'fused GELU equals gelu(linear)');
    tf.dispose([fused, plain]);
  } else {
    assert.equal(count('_MklMatMul') + count('_MklBatchMatMulV2'), 0);
  }
  tf.dispose([x, w, b, q9, q1, k9, xBig, wBig, bBig]);
});

test('products on power-of-two strides (padded where oneDNN runs): values and gradients equal tf.matMul autodiff, and the padding runs', async () => {
  // 128 rows: the forward pads W ([256,512], [256,1024], [1024,256]); the
  // weight gradients [256,1024] and [1024,256] pad dY and x respectively.
  // [name, inputs, outputs, pads where oneDNN runs: W and b of the forward (an
  // aliased width), plus the weight gradient's wide operand (≥ 1,024)]
  const cases: [string, number, number, number][] = [
    ['[256,512]', 256, 512, 2],
    ['[256,1024]', 256, 1024, 3],
    ['[1024,256]', 1024, 256, 1],
  ];
  for (const [name, k, n, expectPads] of cases) {
    const x = rnd([128, k], `px${name}`, 0.1);
    const w = rnd([k, n], `pw${name}`, 0.1);
    const b = rnd([n], `pb${name}`, 0.1);
    const c = rnd([128, n], `pc${name}`);
    const loss = (f: (a: tf.Tensor, w: tf.Tensor, b: tf.Tensor) => tf.Tensor) => (a: tf.Tensor, w: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(f(a, w, b), c));
    const fast = (a: tf.Tensor, w: tf.Tensor, b: tf.Tensor) => linear(a as tf.Tensor2D, w as tf.Tensor2D, b as tf.Tensor1D);
    const ref = (a: tf.Tensor, w: tf.Tensor, b: tf.Tensor) => tf.add(tf.matMul(a, w), b);
    assert.ok((await maxDiff(fast(x, w, b), ref(x, w, b))) < 1e-5, `${name} value`);
    let gf: tf.Tensor[] = [];
    const profile = await profileKernels(async () => {
      gf = tf.grads(loss(fast))([x, w, b]);
    }, { runs: 1, plainRuns: 0 });
    const gr = tf.grads(loss(ref))([x, w, b]);
    for (let i = 0; i < 3; i++) assert.ok((await maxDiff(gf[i]!, gr[i]!)) < 1e-4, `${name} grad ${i}`);
    const pads = profile.byKernel.find((kk) => kk.name === 'PadV2' || kk.name === 'Pad')?.count ?? 0;
    if (native.padsStrides()) assert.equal(pads, expectPads, `${name}: pads`);
    else assert.equal(pads, 0, `${name}: no padding off x86 CPUs`);
    tf.dispose([x, w, b, c, ...gf, ...gr]);
  }
});

test('GELU: the fused backward pass equals autodiff through the tanh formula', async () => {
  const x = rnd([16, 12], 'gelu', 2) as tf.Tensor2D;
  const C = Math.sqrt(2 / Math.PI);
  const ref = (t: tf.Tensor) => tf.mul(tf.mul(0.5, t), tf.add(1, tf.tanh(tf.mul(C, tf.add(t, tf.mul(0.044715, tf.mul(t, tf.mul(t, t))))))));
  const c = rnd([16, 12], 'gelu-c');
  assert.ok((await maxDiff(gelu(x), ref(x))) < 1e-5, 'value');
  const gf = tf.grad((t) => tf.sum(tf.mul(gelu(t as tf.Tensor2D), c)))(x);
  const gr = tf.grad((t) => tf.sum(tf.mul(ref(t), c)))(x);
  assert.ok((await maxDiff(gf, gr)) < 1e-5, 'grad');
  tf.dispose([x, c, gf, gr]);
});

test('targetLogprobs (one cross-entropy kernel on tfjs-node) equals logSoftmax picked at the targets, with gradients', async () => {
  const logits = rnd([10, 7], 'z', 3) as tf.Tensor2D;
  const ids = tf.tensor1d([0, 6, 3, 3, 1, 2, 5, 4, 0, 6], 'int32');
  const c = rnd([10], 'c');
  const ref = (z: tf.Tensor) => tf.sum(tf.mul(tf.logSoftmax(z), tf.oneHot(ids, 7)), -1);
  assert.ok((await maxDiff(targetLogprobs(logits, ids), ref(logits))) < 1e-5, 'value');
  const gf = tf.grad((z) => tf.sum(tf.mul(targetLogprobs(z as tf.Tensor2D, ids), c)))(logits);
  const gr = tf.grad((z) => tf.sum(tf.mul(ref(z), c)))(logits);
  assert.ok((await maxDiff(gf, gr)) < 1e-5, 'grad');
  tf.dispose([logits, ids, c, gf, gr]);
});

const CFG = { vocabSize: 13, contextLength: 24, dModel: 16, nHeads: 2, nLayers: 2 };
const PROMPTS = [
  [1, 5, 6, 7, 3],
  [1, 8, 3],
  [1, 9, 10, 11, 12, 5, 3],
];

for (const [label, cfg] of [
  ['', CFG],
  // 4d = 512: the session pads the MLP's hidden width where oneDNN runs.
  [' (d = 128, MLP padded)', { ...CFG, dModel: 128, nHeads: 4, nLayers: 1 }],
] as const) test(`the decoding pass (folded LayerNorms, inference LayerNorm kernel) equals the training forward pass on a padded batch${label}`, async () => {
  const model = new PolicyModel(cfg, new Rng(11));
  randomizeWeights(model, new Rng('w11'), 0.4);
  const batch = buildBatch(PROMPTS, [[4, 4, 2], [7], [6, 6, 6, 6]], CFG.contextLength);
  const { batchSize: B, seqLen: T } = batch;
  const session = new InferenceSession(model);
  const [fast, ref, fastLogits, refLogits] = tf.tidy(() => {
    const bias = attentionBias(batch.attentionMask, B, T, 0);
    const out = session.forward(tf.tensor1d(batch.inputIds, 'int32'), tf.tensor1d(batch.positions, 'int32'), B, T, bias && tf.tensor4d(bias, [B, 1, T, T]));
    const refHidden = model.forward(batchTensors(batch)).hidden;
    return [session.finalHidden(out.hidden), refHidden, session.logits(out.hidden), model.logits(refHidden)];
  });
  // Compare real positions only (pad rows attend to nothing and differ harmlessly).
  const mask = tf.tensor2d(batch.attentionMask, [B * T, 1]);
  assert.ok((await maxDiff(tf.mul(fast, mask), tf.mul(ref, mask))) < 1e-4, 'hidden');
  assert.ok((await maxDiff(tf.mul(fastLogits, mask), tf.mul(refLogits, mask))) < 1e-4, 'logits');
  tf.dispose([fast, ref, fastLogits, refLogits, mask]);
  session.dispose();
  model.dispose();
});

test('Transformer.step (decoding path, cached prepared weights) equals the last position of a full forward pass, and rebuilds after a weight change', async () => {
  const model = new PolicyModel(CFG, new Rng(12));
  randomizeWeights(model, new Rng('w12'), 0.4);
  const check = async () => {
    const prompts = PROMPTS.map((p) => p.slice(0, -1));
    const full = buildBatch(PROMPTS, PROMPTS.map(() => []), CFG.contextLength);
    const pre = buildBatch(prompts, prompts.map(() => []), CFG.contextLength);
    const B = PROMPTS.length;
    // Without their last tokens the prompts keep their padding, so those tokens all go to column P − 1.
    assert.equal(pre.promptLen, full.promptLen - 1);
    const [stepHidden, fullHidden] = tf.tidy(() => {
      const { cache } = model.forward(batchTensors(pre), true);
      const c = cache as KVCache;
      const keyMask = tf.tensor2d(full.attentionMask, [B, full.promptLen]);
      const out = model.step(
        tf.tensor1d(PROMPTS.map((p) => p.at(-1)!), 'int32'),
        tf.tensor1d(PROMPTS.map((p) => p.length - 1), 'int32'),
        keyMask,
        c,
      );
      const last = tf.reshape(tf.slice(tf.reshape(model.forward(batchTensors(full)).hidden, [B, full.promptLen, -1]), [0, full.promptLen - 1, 0], [B, 1, -1]), [B, -1]);
      disposeCache(out.cache);
      return [out.hidden, last];
    });
    assert.ok((await maxDiff(stepHidden, fullHidden)) < 1e-4, 'step hidden');
    tf.dispose([stepHidden, fullHidden]);
  };
  await check();
  // New weights: the prepared decoding weights must follow.
  randomizeWeights(model, new Rng('w12b'), 0.4);
  await check();
  model.dispose();
});
