import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { bradleyTerryLoss, entropyFromLogits, maskedMean, policyLoss, valueLoss } from '../../../rlhf/losses.js';
import { assertAllClose, assertClose } from './close.js';

// float32 throughout: compare to 1e-6.
const TOL = 1e-6;

/** Runs fn and fails if it leaves tensors behind (fn must dispose what it gets back). */
function noLeaks(fn: () => void): void {
  const before = tf.memory().numTensors;
  fn();
  assert.equal(tf.memory().numTensors, before, 'tensor leak');
}

describe('maskedMean', () => {
  it('averages unmasked entries, globally or along an axis; an all-zero mask gives 0', () => {
    const x = tf.tensor2d([[1, 2], [3, 4]]);
    const m = tf.tensor2d([[1, 0], [1, 1]]);
    const zero = tf.zeros([2, 2]);
    noLeaks(() => {
      const all = maskedMean(x, m);
      const rows = maskedMean(x, m, 1);
      const cols = maskedMean(x, m, 0);
      const none = maskedMean(x, zero);
      assertClose(all.dataSync()[0]!, 8 / 3, TOL); // (1 + 3 + 4)/3
      assertAllClose(Array.from(rows.dataSync()), [1, 3.5], TOL); // [1/1, (3+4)/2]
      assertAllClose(Array.from(cols.dataSync()), [2, 4], TOL); // [(1+3)/2, 4/1]
      assert.equal(none.dataSync()[0], 0);
      tf.dispose([all, rows, cols, none]);
    });
    tf.dispose([x, m, zero]);
  });
});

describe('policyLoss', () => {
  // Row 0: log-ratios [0, ln 1.5, ln 0.5, ln 3], A = [1, 2, −1, 5], mask [1, 1, 1, 0]
  // Row 1: log-ratios [ln 1.1, ln 0.9, 0, 0],  A = [1, 1, 0, 0],   mask [1, 1, 0, 0]
  // ε = 0.2 → clip(ρ) ∈ [0.8, 1.2]. Per token max(−Aρ, −A·clip(ρ)):
  //   (0,0) ρ=1:   −1,  −1   → −1    (not clipped; ∂/∂logp = −Aρ = −1)
  //   (0,1) ρ=1.5: −3,  −2.4 → −2.4  (clipped; gradient 0)
  //   (0,2) ρ=0.5: 0.5, 0.8  → 0.8   (clipped; gradient 0)
  //   (1,0) ρ=1.1: −1.1 both → −1.1  (∂ = −1.1)
  //   (1,1) ρ=0.9: −0.9 both → −0.9  (∂ = −0.9)
  // 5 unmasked tokens: loss = (−1 − 2.4 + 0.8 − 1.1 − 0.9)/5 = −4.6/5 = −0.92
  // clipFrac = 2/5; approxKl = ½·(0 + ln²1.5 + ln²0.5 + ln²1.1 + ln²0.9)/5
  // ∂loss/∂logp = [[−1/5, 0, 0, 0], [−1.1/5, −0.9/5, 0, 0]]
  const oldLogp = [[-1, -1, -1, -1], [-2, -2, -2, -2]];
  const logRatio = [[0, Math.log(1.5), Math.log(0.5), Math.log(3)], [Math.log(1.1), Math.log(0.9), 0, 0]];
  const logpArr = logRatio.map((row, i) => row.map((d, t) => oldLogp[i]![t]! + d));

  it('computes the clipped surrogate, clip fraction and k2 approx-KL', () => {
    const [logp, old, adv, mask] = [
      tf.tensor2d(logpArr),
      tf.tensor2d(oldLogp),
      tf.tensor2d([[1, 2, -1, 5], [1, 1, 0, 0]]),
      tf.tensor2d([[1, 1, 1, 0], [1, 1, 0, 0]]),
    ];
    noLeaks(() => {
      const out = policyLoss(logp, old, adv, mask, 0.2);
      assert.deepEqual(out.loss.shape, []);
      assertClose(out.loss.dataSync()[0]!, -0.92, TOL);
      assertClose(out.clipFrac.dataSync()[0]!, 0.4, TOL);
      const kl = (0.5 * (Math.log(1.5) ** 2 + Math.log(0.5) ** 2 + Math.log(1.1) ** 2 + Math.log(0.9) ** 2)) / 5;
      assertClose(out.approxKl.dataSync()[0]!, kl, TOL);
      tf.dispose([out.loss, out.clipFrac, out.approxKl]);
    });
    noLeaks(() => {
      const g = tf.grad((lp: tf.Tensor) => policyLoss(lp, old, adv, mask, 0.2).loss)(logp);
      assertAllClose(g.arraySync() as number[][], [[-0.2, 0, 0, 0], [-0.22, -0.18, 0, 0]], TOL);
      g.dispose();
    });
    tf.dispose([logp, old, adv, mask]);
  });

  it('rejects a non-positive clip range', () => {
    const z = tf.zeros([1, 1]);
    assert.throws(() => policyLoss(z, z, z, z, 0), /clipRange/);
    z.dispose();
  });
});

describe('valueLoss', () => {
  // ε = 0.2, mask [1, 1, 1, 0]; V_clip = V_old + clip(V − V_old, ±0.2)
  //   t0: V=1,   Vo=0.9, R=1.5: V_clip = 1,   (V−R)² = 0.25, (Vc−R)² = 0.25 → 0.25 (∂ of (V−R)² = 2(V−R) = −1)
  //   t1: V=2,   Vo=1,   R=1.5: V_clip = 1.2, 0.25 vs 0.09 → 0.25 unclipped (∂ = 2·0.5 = 1)
  //   t2: V=1.4, Vo=1,   R=3:   V_clip = 1.2, 2.56 vs 3.24 → 3.24 clipped (∂ = 0)
  //   t3: masked (V = 100)
  // loss = ½·(0.25 + 0.25 + 3.24)/3 = 0.62333…; clipFrac = 1/3
  // ∂loss/∂V = ½·(1/3)·[−1, 1, 0, 0] = [−1/6, 1/6, 0, 0]
  it('takes the max of clipped and unclipped squared errors, halved', () => {
    const [v, vo, ret, mask] = [
      tf.tensor2d([[1, 2, 1.4, 100]]),
      tf.tensor2d([[0.9, 1, 1, 0]]),
      tf.tensor2d([[1.5, 1.5, 3, 0]]),
      tf.tensor2d([[1, 1, 1, 0]]),
    ];
    noLeaks(() => {
      const out = valueLoss(v, vo, ret, mask, 0.2);
      assertClose(out.loss.dataSync()[0]!, 3.74 / 6, TOL);
      assertClose(out.clipFrac.dataSync()[0]!, 1 / 3, TOL);
      tf.dispose([out.loss, out.clipFrac]);
    });
    noLeaks(() => {
      const g = tf.grad((x: tf.Tensor) => valueLoss(x, vo, ret, mask, 0.2).loss)(v);
      assertAllClose(g.arraySync() as number[][], [[-1 / 6, 1 / 6, 0, 0]], TOL);
      g.dispose();
    });
    tf.dispose([v, vo, ret, mask]);
  });
});

describe('bradleyTerryLoss', () => {
  it('is mean softplus(r − c) with gradient −σ(r − c)/n on chosen', () => {
    // margins c − r = [1, 0, 200]
    // softplus(−1) = ln(1 + e^−1) = 0.3132616875; softplus(0) = ln 2 = 0.6931471806; softplus(−200) ≈ 0
    // loss = (0.3132616875 + 0.6931471806)/3 = 0.3354696227
    // ∂/∂c = −σ(r − c)/3 = [−0.2689414214/3, −0.5/3, ≈0] = [−0.0896471405, −0.1666666667, 0]; ∂/∂r = −∂/∂c
    const c = tf.tensor1d([2, 0, 100]);
    const r = tf.tensor1d([1, 0, -100]);
    noLeaks(() => {
      const loss = bradleyTerryLoss(c, r);
      assertClose(loss.dataSync()[0]!, 0.3354696227, TOL);
      const [gc, gr] = tf.grads((a: tf.Tensor, b: tf.Tensor) => bradleyTerryLoss(a as tf.Tensor1D, b as tf.Tensor1D))([c, r]);
      assertAllClose(Array.from(gc!.dataSync()), [-0.0896471405, -0.1666666667, 0], TOL);
      assertAllClose(Array.from(gr!.dataSync()), [0.0896471405, 0.1666666667, 0], TOL);
      tf.dispose([loss, gc!, gr!]);
    });
    tf.dispose([c, r]);
  });

  it('stays finite for a huge wrong-way margin (loss = margin, gradient −1)', () => {
    // c − r = −200: softplus(200) = 200, σ(200) = 1
    const c = tf.tensor1d([-100]);
    const r = tf.tensor1d([100]);
    noLeaks(() => {
      const loss = bradleyTerryLoss(c, r);
      assertClose(loss.dataSync()[0]!, 200, 1e-4);
      const g = tf.grad((a: tf.Tensor) => bradleyTerryLoss(a as tf.Tensor1D, r))(c);
      assertClose(g.dataSync()[0]!, -1, TOL);
      tf.dispose([loss, g]);
    });
    tf.dispose([c, r]);
  });
});

describe('entropyFromLogits', () => {
  it('computes −Σ p log p per position, [B,T,V] → [B,T], with gradient −p(log p + H)', () => {
    // [0, 0]: H = ln 2 = 0.6931471806
    // [0, ln 3]: p = [0.25, 0.75], H = 0.25·1.3862943611 + 0.75·0.2876820725 = 0.5623351446
    // [0, 1000]: p ≈ [0, 1], H ≈ 0 (and not NaN)
    const logits = tf.tensor3d([[[0, 0], [0, Math.log(3)], [0, 1000]]]);
    noLeaks(() => {
      const h = entropyFromLogits(logits);
      assert.deepEqual(h.shape, [1, 3]);
      assertAllClose(h.arraySync(), [[0.6931471806, 0.5623351446, 0]], TOL);
      h.dispose();
    });
    // ∂H/∂z_i = −p_i(log p_i + H): for [0, ln 3]:
    //   −0.25·(−1.3862943611 + 0.5623351446) = 0.2059898041; the other is its negative
    const one = tf.tensor3d([[[0, Math.log(3)]]]);
    noLeaks(() => {
      const g = tf.grad((z: tf.Tensor) => tf.sum(entropyFromLogits(z as tf.Tensor3D)))(one);
      assertAllClose(g.arraySync() as number[][][], [[[0.2059898041, -0.2059898041]]], TOL);
      g.dispose();
    });
    tf.dispose([logits, one]);
  });
});
