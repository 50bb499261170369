// The fused kernels compiled into the tfjs-node addon (infra/kernels/
// crlhf_kernels.cc) against the same formulas in plain tfjs ops, values and
// gradients, within float32 tolerance. Shapes include widths that are not a
// multiple of the kernels' 8 lanes (their scalar tails), more than the 64 rows
// the LayerNorm gradient sums in float before adding in double, inputs large
// enough to reach exp's clamps, and attention rows with every key masked.
// The decoding step's attention writes its cache in place: checked against
// the same products in tfjs, and end to end through generate.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { setup } from './helpers.js';
import { Rng } from '../../../rlhf/rng.js';
import { attentionWeights, gelu, GELU_A, GELU_C, layerNorm } from '../../../rlhf/ops.js';
import * as native from '../../../rlhf/native.js';
import { PolicyModel } from '../../../rlhf/model.js';
import { buildBatch } from '../../../rlhf/batch.js';
import { generate, sequenceLogprobs } from '../../../rlhf/sampling.js';
import { randomizeWeights } from './model-helpers.js';

await setup();

const skip = tf.getBackend() !== 'tensorflow' ? 'tensorflow backend only' : !native.hasFusedKernels() ? 'fused kernels not in this addon (infra/tensorflow.sh install builds them)' : false;

const rnd = (shape: number[], seed: string, std = 1, mean = 0) => {
  const r = new Rng(seed);
  return tf.tensor(Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => r.normal(mean, std)), shape);
};

/** max |a − b| / (1 + max |b|): a relative error that tolerates values near 0. */
function relDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]! / (1 + tf.max(tf.abs(b)).dataSync()[0]!));
}

test('the fused kernels are used on this tfjs-node build (x86 with AVX2 and FMA)', { skip: tf.getBackend() !== 'tensorflow' ? 'tensorflow backend only' : false }, () => {
  if (process.arch === 'x64' && process.env.CRLHF_FUSED_KERNELS !== '0') assert.ok(native.hasFusedKernels(), 'infra/tensorflow.sh builds the kernels into the addon');
});

for (const [rows, d] of [
  [150, 64],
  [7, 13],
  [3, 5],
] as const) {
  test(`LayerNorm [${rows}, ${d}]: values and the gradients of x, γ and β equal autodiff through moments`, { skip }, () => {
    const x = rnd([rows, d], `ln-x${d}`, 2, 0.5) as tf.Tensor2D;
    const g = rnd([d], `ln-g${d}`, 0.3, 1) as tf.Tensor1D;
    const b = rnd([d], `ln-b${d}`, 0.3) as tf.Tensor1D;
    const c = rnd([rows, d], `ln-c${d}`);
    const ref = (xi: tf.Tensor, gi: tf.Tensor, bi: tf.Tensor) => {
      const { mean, variance } = tf.moments(xi, -1, true);
      return tf.add(tf.mul(tf.div(tf.sub(xi, mean), tf.sqrt(tf.add(variance, 1e-5))), gi), bi);
    };
    assert.ok(relDiff(layerNorm(x, g, b, 1e-5), ref(x, g, b)) < 1e-5, 'value');
    const gf = tf.grads((xi: tf.Tensor, gi: tf.Tensor, bi: tf.Tensor) => tf.sum(tf.mul(layerNorm(xi as tf.Tensor2D, gi as tf.Tensor1D, bi as tf.Tensor1D, 1e-5), c)))([x, g, b]);
    const gr = tf.grads((xi: tf.Tensor, gi: tf.Tensor, bi: tf.Tensor) => tf.sum(tf.mul(ref(xi, gi, bi), c)))([x, g, b]);
    for (const [i, name] of ['dx', 'dγ', 'dβ'].entries()) assert.ok(relDiff(gf[i]!, gr[i]!) < 2e-5, `${name}: ${relDiff(gf[i]!, gr[i]!)}`);
    tf.dispose([x, g, b, c, ...gf, ...gr]);
  });
}

test('GELU: values and gradient equal autodiff through the tanh formula, from −40 to 40 and on an odd length', { skip }, () => {
  const x = tf.concat([rnd([37], 'gelu', 3), tf.tensor1d([-40, -20, -9, -1e-3, 0, 1e-3, 9, 20, 40])]).reshape([2, 23]) as tf.Tensor2D;
  const c = rnd([2, 23], 'gelu-c');
  const ref = (t: tf.Tensor) => tf.mul(tf.mul(0.5, t), tf.add(1, tf.tanh(tf.mul(GELU_C, tf.add(t, tf.mul(GELU_A, tf.mul(t, tf.mul(t, t))))))));
  assert.ok(relDiff(gelu(x), ref(x)) < 1e-6, 'value');
  const gf = tf.grad((t) => tf.sum(tf.mul(gelu(t as tf.Tensor2D), c)))(x);
  const gr = tf.grad((t) => tf.sum(tf.mul(ref(t), c)))(x);
  assert.ok(relDiff(gf, gr) < 1e-5, `grad: ${relDiff(gf, gr)}`);
  assert.ok(gelu(x).dataSync().every(Number.isFinite) && gf.dataSync().every(Number.isFinite), 'finite at ±40');
  tf.dispose([x, c, gf, gr]);
});

for (const T of [16, 11]) {
  test(`attention weights (T = ${T}): softmax(q·kᵀ·scale + causal/padding bias) and the gradients of q and k equal autodiff`, { skip }, () => {
    const B = 2,
      H = 3,
      hd = 4,
      scale = 1 / Math.sqrt(hd);
    const q = rnd([B, H, T, hd], `q${T}`, 2) as tf.Tensor4D;
    const k = rnd([B, H, T, hd], `k${T}`, 2) as tf.Tensor4D;
    // Row 1 left-padded by 3: its first 3 queries see no key at all (uniform weights either way).
    const allowed = tf.tidy(() => {
      const causal = tf.linalg.bandPart(tf.ones([T, T]), -1, 0);
      const keys = tf.tensor2d([Array(T).fill(1), [0, 0, 0, ...Array(T - 3).fill(1)]]);
      return tf.mul(causal.reshape([1, 1, T, T]), keys.reshape([B, 1, 1, T]));
    });
    const bias = tf.mul(tf.sub(1, allowed), -1e9) as tf.Tensor4D;
    const c = rnd([B, H, T, T], `c${T}`);
    const ref = (qi: tf.Tensor, ki: tf.Tensor) => tf.softmax(tf.add(tf.mul(tf.matMul(qi, ki, false, true), scale), bias));
    const p = attentionWeights(q, k, bias, scale);
    assert.ok(relDiff(p, ref(q, k)) < 1e-6, 'value');
    const rowSums = tf.sum(p, -1).dataSync();
    assert.ok(rowSums.every((s) => Math.abs(s - 1) < 1e-5), 'rows sum to 1');
    const gf = tf.grads((qi: tf.Tensor, ki: tf.Tensor) => tf.sum(tf.mul(attentionWeights(qi as tf.Tensor4D, ki as tf.Tensor4D, bias, scale), c)))([q, k]);
    const gr = tf.grads((qi: tf.Tensor, ki: tf.Tensor) => tf.sum(tf.mul(ref(qi, ki), c)))([q, k]);
    for (const [i, name] of ['dq', 'dk'].entries()) assert.ok(relDiff(gf[i]!, gr[i]!) < 1e-5, `${name}: ${relDiff(gf[i]!, gr[i]!)}`);
    tf.dispose([q, k, allowed, bias, c, p, ...gf, ...gr]);
  });
}

test('the fused kernels refuse inputs of the wrong shape with a message naming the op', { skip }, () => {
  assert.throws(() => native.attentionSoftmax(tf.zeros([1, 2, 3, 3]), tf.zeros([1, 2, 3, 3]), 1), /CrlhfAttentionSoftmax: scores must be \[B,H,Tq,Tk\] and bias \[B,1,Tq,Tk\]/);
  assert.throws(() => native.fusedLayerNorm(tf.zeros([2, 4]), tf.ones([3]), tf.zeros([4]), 1e-5), /CrlhfLayerNorm: gamma and beta must have x's last dimension/);
  assert.throws(() => native.fusedGeluGrad(tf.zeros([2, 4]), tf.zeros([4, 2])), /CrlhfGeluGrad: dy and x must have one shape/);
  assert.throws(() => native.fusedGelu(tf.zeros([2], 'int32')), /float/);
});

test('decoding attention: the new key and value land in cache column L − 1, y = softmax(q·Kᵀ + bias)·V over columns < L', { skip }, () => {
  const B = 2,
    H = 3,
    hd = 5,
    C = 9,
    d = H * hd;
  for (const L of [1, 6, C]) {
    const s = new native.RawScope();
    try {
      const qkv = rnd([B, 3 * d], `qkv${L}`);
      const k0 = rnd([B, H, C, hd], `k${L}`);
      const v0 = rnd([B, H, C, hd], `v${L}`);
      const biasRows = Float32Array.from({ length: B * L }, (_, i) => (i === 1 || i === L + L - 1 ? -1e9 : 0));
      const keys = s.upload([B, H, C, hd], k0.dataSync() as Float32Array);
      const values = s.upload([B, H, C, hd], v0.dataSync() as Float32Array);
      const y = s.read(native.decodeAttention(s, s.of(qkv), keys, values, s.upload([B, L], biasRows))).slice();
      // Expected, in tfjs: the caches with column L − 1 replaced, then attention over the first L columns.
      const heads = (from: number) => tf.reshape(tf.slice(qkv, [0, from], [B, d]), [B, H, 1, hd]);
      const put = (cache: tf.Tensor, col: tf.Tensor) => tf.concat([tf.slice(cache, [0, 0, 0, 0], [B, H, L - 1, hd]), col, tf.slice(cache, [0, 0, L, 0], [B, H, C - L, hd])], 2);
      const kExp = put(k0, heads(d));
      const vExp = put(v0, heads(2 * d));
      const bias = tf.reshape(tf.tensor(biasRows), [B, 1, 1, L]);
      const scores = tf.add(tf.matMul(heads(0), tf.slice(kExp, [0, 0, 0, 0], [B, H, L, hd]), false, true), bias);
      const yExp = tf.reshape(tf.matMul(tf.softmax(scores), tf.slice(vExp, [0, 0, 0, 0], [B, H, L, hd])), [B, d]);
      assert.ok(relDiff(tf.tensor(y, [B, d]), yExp) < 1e-6, `y at L = ${L}`);
      assert.ok(relDiff(tf.tensor(s.read(keys).slice(), [B, H, C, hd]), kExp) === 0, `keys at L = ${L}`);
      assert.ok(relDiff(tf.tensor(s.read(values).slice(), [B, H, C, hd]), vExp) === 0, `values at L = ${L}`);
    } finally {
      s.dispose();
    }
  }
  assert.throws(() => {
    const s = new native.RawScope();
    try {
      native.decodeAttention(s, s.upload([1, 6], new Float32Array(6)), s.upload([1, 1, 3, 2], new Float32Array(6)), s.upload([1, 1, 3, 2], new Float32Array(6)), s.upload([1, 4], new Float32Array(4)));
    } finally {
      s.dispose();
    }
  }, /CrlhfDecodeAttention: .*1 <= L <= C/);
});

test('generate with the in-place cache (head size 12, no padded prompt) gives the log-probs of a full forward pass', { skip }, async () => {
  const model = new PolicyModel({ vocabSize: 17, contextLength: 20, dModel: 24, nHeads: 2, nLayers: 2 }, new Rng(3));
  randomizeWeights(model, new Rng('3:w'), 0.4);
  try {
    const prompts = [
      [1, 5, 6, 7],
      [1, 8, 3, 2],
    ];
    const gen = await generate(model, prompts, new Rng('fk'), { maxNewTokens: 9, eosId: -1 });
    const full = await sequenceLogprobs(model, buildBatch(prompts, gen.responses, 20));
    for (let i = 0; i < prompts.length; i++) {
      const a = gen.logprobs[i]!,
        e = full.logprobs[i]!;
      assert.equal(a.length, 9);
      for (let j = 0; j < a.length; j++) assert.ok(Math.abs(a[j]! - e[j]!) < 2e-5, `row ${i} token ${j}: ${a[j]} vs ${e[j]}`);
    }
  } finally {
    model.dispose();
  }
});

test('readInto copies a tensor into a SharedArrayBuffer view at an offset in one call (tensorDataInto, patched into the addon), and refuses a size mismatch', { skip: tf.getBackend() !== 'tensorflow' ? 'tensorflow backend only' : false }, () => {
  const binding = native.nodeBackend()!.binding;
  if (process.arch === 'x64') assert.equal(typeof binding.tensorDataInto, 'function', 'infra/tensorflow.sh patches the binding');
  const shared = new Float32Array(new SharedArrayBuffer(4 * 10));
  const t = tf.tensor2d([1.5, -2, 3, 4.25, 5, 6], [2, 3]);
  native.readInto(t, shared.subarray(3, 9));
  assert.deepEqual(Array.from(shared), [0, 0, 0, 1.5, -2, 3, 4.25, 5, 6, 0]);
  if (binding.tensorDataInto) assert.throws(() => native.readInto(t, shared.subarray(0, 5)), /tensorDataInto: the typed array holds 20 bytes, the tensor 24/);
  t.dispose();
});
