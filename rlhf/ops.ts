// Tensor building blocks with hand-written gradients where autodiff would
// emit many small ops (tfjs pays a fixed cost per op, which dominates at
// these model sizes: research/probe.md §8), and backend workarounds:
// on wasm, transposed matmuls are 10-18× slower and gather has no gradient.
import * as tf from '@tensorflow/tfjs';
import * as native from './native.js';

type GradFn = (dy: tf.Tensor, saved: tf.Tensor[]) => tf.Tensor[];

/** tf.customGrad with positional tensor arguments typed (tfjs types them as a union with the save callback). */
function customGrad<A extends tf.Tensor[]>(
  f: (...args: [...A, tf.GradSaveFunc]) => { value: tf.Tensor; gradFunc: GradFn },
): (...args: A) => tf.Tensor {
  return tf.customGrad(f as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as (...args: A) => tf.Tensor;
}

/** tf.tidy for functions returning plain objects of tensors (kept recursively, as tidy does). */
export function tidy<T>(fn: () => T): T {
  return tf.tidy(fn as unknown as () => tf.TensorContainer) as unknown as T;
}

function onWasm(): boolean {
  return tf.getBackend() === 'wasm';
}

/** tfjs-node: TensorFlow's own fused kernels are reachable (native.ts). */
function onNode(): boolean {
  return tf.getBackend() === 'tensorflow';
}

/** tfjs-node with the fused kernels of infra/kernels (native.hasFusedKernels). */
function fused(): boolean {
  return onNode() && native.hasFusedKernels();
}

/** Swaps the last two axes. */
export function swapLast(x: tf.Tensor): tf.Tensor {
  const perm = x.shape.map((_, i) => i);
  const n = perm.length;
  perm[n - 1] = n - 2;
  perm[n - 2] = n - 1;
  return tf.transpose(x, perm);
}

// On wasm, matMul's default gradient uses transposeA/B flags, which miss the
// XNNPACK fast path; transposing explicitly first is ~10× faster (probe §1).
const matMulExplicitGrad = customGrad<[tf.Tensor, tf.Tensor]>((a, b, save) => {
  save([a, b]);
  return {
    value: tf.matMul(a, b),
    gradFunc: (dy, saved) => {
      const [sa, sb] = saved as [tf.Tensor, tf.Tensor];
      return [tf.matMul(dy, swapLast(sb)), tf.matMul(swapLast(sa), dy)];
    },
  };
});

// On tfjs-node, 2-D products go to TensorFlow's MatMul kernel: tfjs sends
// them to BatchMatMulV2, whose transposed-left path (every weight gradient
// xᵀ·dy) ran at 58 against 83 GFLOP/s for MatMul's (one thread, [512,512]ᵀ·[512,2048]).
const matMulNN = customGrad<[tf.Tensor, tf.Tensor]>((a, b, save) => {
  save([a, b]);
  return {
    value: native.matMul(a, b),
    gradFunc: (dy, saved) => {
      const [sa, sb] = saved as [tf.Tensor, tf.Tensor];
      return [native.matMul(dy, sb, false, true), native.matMul(sa, dy, true, false)];
    },
  };
});

const matMulNT = customGrad<[tf.Tensor, tf.Tensor]>((a, b, save) => {
  save([a, b]);
  return {
    value: native.matMul(a, b, false, true),
    gradFunc: (dy, saved) => {
      const [sa, sb] = saved as [tf.Tensor, tf.Tensor];
      return [native.matMul(dy, sb), native.matMul(dy, sa, true, false)];
    },
  };
});

// Batched (attention) products: aᵀ·b, a gradient. Eigen's adj_x path ran
// at half the speed of a plain product, so where Eigen takes it (native.ts)
// it is (bᵀ·a)ᵀ: adj_x on the narrow operand and a transpose of the narrow
// result, ~1.4× faster. oneDNN's adj_x is fast, and there the transpose
// would only cost (2 % of a large training step).
function batchTN(a: tf.Tensor, b: tf.Tensor): tf.Tensor {
  if (native.batchMatMulKernel(a.shape[a.rank - 1] as number, true, false).oneDnn) return native.batchMatMul(a, b, true, false);
  return native.transposeLast2(native.batchMatMul(b, a, true, false));
}

const batchMatMulNN = customGrad<[tf.Tensor, tf.Tensor]>((a, b, save) => {
  save([a, b]);
  return {
    value: native.batchMatMul(a, b),
    gradFunc: (dy, saved) => {
      const [sa, sb] = saved as [tf.Tensor, tf.Tensor];
      return [native.batchMatMul(dy, sb, false, true), batchTN(sa, dy)];
    },
  };
});

const batchMatMulNT = customGrad<[tf.Tensor, tf.Tensor]>((a, b, save) => {
  save([a, b]);
  return {
    value: native.batchMatMul(a, b, false, true),
    gradFunc: (dy, saved) => {
      const [sa, sb] = saved as [tf.Tensor, tf.Tensor];
      // d(a·bᵀ)/db = dyᵀ·a
      return [native.batchMatMul(dy, sb), batchTN(dy, sa)];
    },
  };
});

/** a·b (or a·bᵀ), same rank ≥ 2, fastest form for the active backend. */
export function matmul<T extends tf.Tensor>(a: T, b: tf.Tensor, transposeB = false): T {
  if (onNode() && a.rank === 2 && b.rank === 2) return (transposeB ? matMulNT(a, b) : matMulNN(a, b)) as T;
  if (onNode() && a.rank === 4 && b.rank === 4 && a.shape[0] === b.shape[0] && a.shape[1] === b.shape[1]) {
    return (transposeB ? batchMatMulNT(a, b) : batchMatMulNN(a, b)) as T;
  }
  if (!onWasm()) return tf.matMul(a, b, false, transposeB) as T;
  return matMulExplicitGrad(a, transposeB ? swapLast(b) : b) as T;
}

// x·W + b in one TensorFlow kernel (_FusedMatMul, or MatMul + BiasAdd) and
// three for the backward pass (two MatMuls, BiasAddGrad).
const linearNative = customGrad<[tf.Tensor, tf.Tensor, tf.Tensor]>((x, w, b, save) => {
  save([x, w]);
  return {
    value: native.linear(x, w, b),
    gradFunc: (dy, saved) => {
      const [sx, sw] = saved as [tf.Tensor, tf.Tensor];
      return [native.matMul(dy, sw, false, true), native.matMul(sx, dy, true, false), native.biasAddGrad(dy)];
    },
  };
});

/** x·W + b for 2-D x [N, in], W [in, out], b [out]. */
export function linear(x: tf.Tensor2D, w: tf.Tensor2D, b?: tf.Tensor1D): tf.Tensor2D {
  if (onNode() && b) return linearNative(x, w, b) as tf.Tensor2D;
  const y = matmul(x, w);
  return b ? tf.add(y, b) : y;
}

/** float32 one-hot [N, depth] of int32 ids [N]. */
export function oneHot(ids: tf.Tensor1D, depth: number): tf.Tensor2D {
  // wasm's OneHot kernel ignores the dtype argument and writes int32 bit
  // patterns into the float32 buffer, so cast there instead.
  if (onWasm()) return tf.cast(tf.oneHot(ids, depth), 'float32') as tf.Tensor2D;
  return tf.oneHot(ids, depth, 1, 0, 'float32') as tf.Tensor2D;
}

/** Rows of `table` [V, d] at int32 `ids` [N] → [N, d]. */
export function embed(table: tf.Tensor2D, ids: tf.Tensor1D): tf.Tensor2D {
  // gather's gradient needs UnsortedSegmentSum, which wasm lacks.
  if (!onWasm()) return tf.gather(table, ids);
  return matmul(oneHot(ids, table.shape[0]), table);
}

/**
 * LayerNorm over the last axis of x [N, d] (arXiv 1607.06450), with the
 * closed-form backward pass: dx = rstd·(ĝ − mean(ĝ) − x̂·mean(ĝ·x̂)), ĝ = dy·γ.
 */
export function layerNorm(x: tf.Tensor2D, gamma: tf.Tensor1D, beta: tf.Tensor1D, eps: number): tf.Tensor2D {
  if (fused()) return layerNormFused(x, gamma, beta, eps);
  const f = customGrad<[tf.Tensor, tf.Tensor, tf.Tensor]>((xi, g, b, save) => {
    const { mean, variance } = tf.moments(xi, -1, true);
    const rstd = tf.rsqrt(tf.add(variance, eps));
    const xhat = tf.mul(tf.sub(xi, mean), rstd);
    save([xhat, rstd, g]);
    return {
      value: tf.add(tf.mul(xhat, g), b),
      gradFunc: (dy, saved) => {
        const [sxhat, srstd, sg] = saved as [tf.Tensor, tf.Tensor, tf.Tensor];
        const gh = tf.mul(dy, sg);
        const dx = tf.mul(
          srstd,
          tf.sub(tf.sub(gh, tf.mean(gh, -1, true)), tf.mul(sxhat, tf.mean(tf.mul(gh, sxhat), -1, true))),
        );
        return [dx, tf.sum(tf.mul(dy, sxhat), 0), tf.sum(dy, 0)];
      },
    };
  });
  return f(x, gamma, beta) as tf.Tensor2D;
}

// The same in two kernels (native.ts, infra/kernels): forward saves x and the
// per-row mean and 1/std, backward gives dx, dγ and dβ in one pass.
function layerNormFused(x: tf.Tensor2D, gamma: tf.Tensor1D, beta: tf.Tensor1D, eps: number): tf.Tensor2D {
  const f = customGrad<[tf.Tensor, tf.Tensor, tf.Tensor]>((xi, g, b, save) => {
    const [y, mean, rstd] = native.fusedLayerNorm(xi, g, b, eps) as [tf.Tensor, tf.Tensor, tf.Tensor];
    save([xi, g, mean, rstd]);
    return {
      value: y,
      gradFunc: (dy, saved) => {
        const [sx, sg, smean, srstd] = saved as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor];
        return native.fusedLayerNormGrad(dy, sx, sg, smean, srstd);
      },
    };
  });
  return f(x, gamma, beta) as tf.Tensor2D;
}

/** tanh-approximation GELU constants (GPT-2): gelu(x) = x·σ(2c·(x + a·x³)). */
export const GELU_C = Math.sqrt(2 / Math.PI);
export const GELU_A = 0.044715;

/**
 * GELU, tanh approximation as in GPT-2 (arXiv 1606.08415), written as
 * x·σ(z) with z = 2c(x + a·x³), since ½(1 + tanh(u)) = σ(2u): six ops
 * forward and a fused backward pass instead of autodiff through each op.
 */
const geluTfjs = customGrad<[tf.Tensor]>((x, save) => {
  const x2 = tf.square(x);
  const s = tf.sigmoid(tf.mul(x, tf.add(tf.mul(x2, 2 * GELU_C * GELU_A), 2 * GELU_C)));
  save([x, x2, s]);
  return {
    value: tf.mul(x, s),
    gradFunc: (dy, saved) => {
      const [sx, sx2, ss] = saved as [tf.Tensor, tf.Tensor, tf.Tensor];
      // d/dx x·σ(z) = σ + x·σ(1−σ)·z',  z' = 2c(1 + 3a·x²)
      const dz = tf.add(tf.mul(sx2, 6 * GELU_C * GELU_A), 2 * GELU_C);
      const grad = tf.add(ss, tf.mul(tf.mul(tf.mul(sx, ss), tf.sub(1, ss)), dz));
      return [tf.mul(dy, grad)];
    },
  };
});

// The same with TensorFlow's kernels, the backward pass in six (SigmoidGrad
// gives t·σ(1−σ) in one): dx = dy·σ + SigmoidGrad(σ, dy·x·z').
const geluNative = customGrad<[tf.Tensor]>((x, save) => {
  const x2 = native.square(x);
  const s = native.sigmoid(native.mul(x, native.add(native.mul(x2, native.scalarConst(2 * GELU_C * GELU_A)), native.scalarConst(2 * GELU_C))));
  save([x, x2, s]);
  return {
    value: native.mul(x, s),
    gradFunc: (dy, saved) => {
      const [sx, sx2, ss] = saved as [tf.Tensor, tf.Tensor, tf.Tensor];
      const dz = native.add(native.mul(sx2, native.scalarConst(6 * GELU_C * GELU_A)), native.scalarConst(2 * GELU_C));
      return [native.add(native.mul(dy, ss), native.sigmoidGrad(ss, native.mul(native.mul(dy, sx), dz)))];
    },
  };
});

// One kernel each way (native.ts, infra/kernels); backward recomputes σ from x.
const geluFused = customGrad<[tf.Tensor]>((x, save) => {
  save([x]);
  return { value: native.fusedGelu(x), gradFunc: (dy, saved) => [native.fusedGeluGrad(dy, saved[0] as tf.Tensor)] };
});

export function gelu(x: tf.Tensor2D): tf.Tensor2D {
  if (fused()) return geluFused(x) as tf.Tensor2D;
  return (onNode() ? geluNative(x) : geluTfjs(x)) as tf.Tensor2D;
}

/**
 * Attention weights softmax(q·kᵀ·scale + bias): q, k [B, H, T, hd], bias
 * [B, 1, Tq, Tk] (0 or MASKED, shared by the heads). With the fused kernels
 * the scale, the bias and the softmax are one kernel, and its backward pass
 * another; elsewhere q is scaled first (fewer elements than the scores).
 */
export function attentionWeights(q: tf.Tensor4D, k: tf.Tensor4D, bias: tf.Tensor4D, scale: number): tf.Tensor4D {
  if (!fused()) return tf.softmax(tf.add(matmul(tf.mul(q, scale) as tf.Tensor4D, k, true), bias)) as tf.Tensor4D;
  const f = customGrad<[tf.Tensor]>((scores, save) => {
    const p = native.attentionSoftmax(scores, bias, scale);
    save([p]);
    return { value: p, gradFunc: (dp, saved) => [native.softmaxGrad(saved[0] as tf.Tensor, dp, scale)] };
  });
  return f(matmul(q, k, true)) as tf.Tensor4D;
}

/**
 * log softmax(logits)[target] per row: logits [N, V], targets one-hot [N, V]
 * → [N]. One fused backward (onehot − softmax)·dy instead of autodiff through
 * logSoftmax, so a whole batch's cross-entropy is a handful of ops.
 */
export function tokenLogprobs(logits: tf.Tensor2D, targetsOneHot: tf.Tensor2D): tf.Tensor1D {
  const f = customGrad<[tf.Tensor]>((z, save) => {
    const lse = tf.logSumExp(z, -1, true); // [N, 1]
    // Tensors the backward pass reads must go through save(): anything else
    // from the forward scope is disposed before the backward pass runs.
    save([z, lse, targetsOneHot]);
    return {
      value: tf.sub(tf.sum(tf.mul(z, targetsOneHot), -1), tf.reshape(lse, [-1])),
      gradFunc: (dy, saved) => {
        const [sz, slse, sy] = saved as [tf.Tensor, tf.Tensor, tf.Tensor];
        const probs = tf.exp(tf.sub(sz, slse));
        return [tf.mul(tf.sub(sy, probs), tf.expandDims(dy, -1))];
      },
    };
  });
  return f(logits) as tf.Tensor1D;
}

/**
 * log softmax(logits)[id] per row: logits [N, V], int32 ids [N] → [N]. On
 * tfjs-node one TensorFlow kernel (SparseSoftmaxCrossEntropyWithLogits)
 * gives the loss and its gradient together; elsewhere tokenLogprobs of the
 * one-hot targets.
 */
export function targetLogprobs(logits: tf.Tensor2D, ids: tf.Tensor1D): tf.Tensor1D {
  if (!onNode()) return tokenLogprobs(logits, oneHot(ids, logits.shape[1]));
  const f = customGrad<[tf.Tensor]>((z, save) => {
    const [loss, backprop] = native.sparseSoftmaxCrossEntropy(z, ids) as [tf.Tensor, tf.Tensor];
    // backprop = softmax − onehot = −d(log-prob)/d(logits).
    save([backprop]);
    return {
      value: native.neg(loss),
      gradFunc: (dy, saved) => [native.mul(saved[0] as tf.Tensor, native.reshape(native.neg(dy), [-1, 1]))],
    };
  });
  return f(logits) as tf.Tensor1D;
}

/** Entropy of softmax(logits) per row: logits [N, V] → [N]. No gradient needed by callers. */
export function entropyFromLogits(logits: tf.Tensor2D): tf.Tensor1D {
  return tf.tidy(() => {
    const lse = tf.logSumExp(logits, -1, true);
    const logp = tf.sub(logits, lse);
    return tf.neg(tf.sum(tf.mul(tf.exp(logp), logp), -1)) as tf.Tensor1D;
  });
}
