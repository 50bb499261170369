// Direct access to TensorFlow's own kernels on the `tensorflow` backend
// (tfjs-node). tfjs-node runs every op through TensorFlow's eager C API; its
// backend object can execute any op TensorFlow registers, including fused
// ones tfjs has no name for: ResourceApplyAdam (the whole Adam update in one
// pass), FusedBatchNormV3 (a LayerNorm's statistics and normalisation in one
// kernel), SparseSoftmaxCrossEntropyWithLogits (loss and gradient together),
// MatMul with transpose flags (a faster path than BatchMatMulV2 for 2-D
// products), and oneDNN's matrix products by their own names where they
// beat TensorFlow's default Eigen ones (see hasOneDnnMatMul). Calling the
// backend directly also skips tfjs's op wrappers and kernel registry, about
// half the ~20 µs each op costs (bench profiles).
//
// Tensors these calls return are ordinary tfjs tensors, tracked by tf.tidy,
// but not recorded on the gradient tape: differentiable uses go through
// tf.customGrad with a hand-written backward pass (ops.ts), and nothing here
// shows up in tf.profile's kernel list (bench --profile times them at the
// addon instead).
import { availableParallelism } from 'node:os';
import * as tf from '@tensorflow/tfjs';

interface Binding {
  TF_FLOAT: number;
  TF_INT32: number;
  createTensor(shape: number[], dtype: number, values: Float32Array | Int32Array): number;
  executeOp(name: string, attrs: OpAttr[], inputIds: number[], numOutputs: number): { id: number; shape: number[]; dtype: number }[];
  deleteTensor(id: number): void;
  tensorDataSync(id: number): Float32Array | Int32Array | Uint8Array;
  /** infra/tensorflow.sh's patch: the values copied into `into` (same byte size), which may view a SharedArrayBuffer. */
  tensorDataInto?(id: number, into: Float32Array | Int32Array | Uint8Array): void;
  TF_ATTR_STRING: number;
  TF_ATTR_INT: number;
  TF_ATTR_FLOAT: number;
  TF_ATTR_BOOL: number;
  TF_ATTR_TYPE: number;
  TF_ATTR_SHAPE: number;
  isUsingGpuDevice(): boolean;
}

export interface OpAttr {
  name: string;
  type: number;
  value: unknown;
}

interface NodeBackend {
  binding: Binding;
  getInputTensorIds(tensors: tf.Tensor[]): number[];
  createOutputTensor(metadata: { id: number; shape: number[]; dtype: number }): tf.Tensor;
}

/**
 * A constant held by TensorFlow alone (shapes, axes, scalars that ops take
 * as tensors): uploaded once per process, outside tfjs's tensor registry, so
 * it neither costs an upload per call nor shows in tf.memory().
 */
export interface Const {
  readonly constId: number;
}

export type Input = tf.Tensor | Const;

/** The tfjs-node backend when it is the active one, else undefined. */
export function nodeBackend(): NodeBackend | undefined {
  if (tf.getBackend() !== 'tensorflow') return undefined;
  return tf.backend() as unknown as NodeBackend;
}

let active: NodeBackend | undefined;

function be(): NodeBackend {
  if (active && tf.getBackend() === 'tensorflow') return active;
  active = nodeBackend();
  if (!active) throw new Error(`native TensorFlow op on backend ${tf.getBackend()}`);
  return active;
}

/** The binding's enum values (the same for every instance), read once. */
let codes: { TYPE: number; BOOL: number; INT: number; FLOAT: number; STRING: number; SHAPE: number; F32: number; I32: number } | undefined;

function c(): NonNullable<typeof codes> {
  if (!codes) {
    const b = be().binding;
    codes = { TYPE: b.TF_ATTR_TYPE, BOOL: b.TF_ATTR_BOOL, INT: b.TF_ATTR_INT, FLOAT: b.TF_ATTR_FLOAT, STRING: b.TF_ATTR_STRING, SHAPE: b.TF_ATTR_SHAPE, F32: b.TF_FLOAT, I32: b.TF_INT32 };
  }
  return codes;
}

/** Attribute builders (names and types as in TensorFlow's op registry). Attribute lists can be built once and reused. */
export const attr = {
  float32: (name = 'T'): OpAttr => ({ name, type: c().TYPE, value: c().F32 }),
  int32: (name: string): OpAttr => ({ name, type: c().TYPE, value: c().I32 }),
  bool: (name: string, value: boolean): OpAttr => ({ name, type: c().BOOL, value }),
  int: (name: string, value: number | number[]): OpAttr => ({ name, type: c().INT, value }),
  float: (name: string, value: number): OpAttr => ({ name, type: c().FLOAT, value }),
  string: (name: string, value: string): OpAttr => ({ name, type: c().STRING, value }),
  strings: (name: string, value: string[]): OpAttr => ({ name, type: c().STRING, value }),
  shape: (name: string, value: number[]): OpAttr => ({ name, type: c().SHAPE, value }),
};

/** Attribute lists built on first use and reused (they are read-only to the binding). */
const attrLists = new Map<string, OpAttr[]>();

function attrs(key: string, make: () => OpAttr[]): OpAttr[] {
  let a = attrLists.get(key);
  if (!a) {
    a = make();
    attrLists.set(key, a);
  }
  return a;
}

function inputIds(b: NodeBackend, inputs: Input[]): number[] {
  const ids = new Array<number>(inputs.length);
  for (let i = 0; i < inputs.length; i++) {
    const x = inputs[i] as Input;
    ids[i] = 'constId' in x ? x.constId : (b.getInputTensorIds([x])[0] as number);
  }
  return ids;
}

/**
 * `t`'s values into `dst` (same length), on tfjs-node with one copy
 * (the binding's tensorDataInto), elsewhere through dataSync. For the
 * data-parallel buffers, where dataSync's fresh array then copied again
 * was ~20 ms of a large step's optimizer tail per rank.
 */
export function readInto(t: tf.Tensor, dst: Float32Array): void {
  const b = nodeBackend();
  if (b?.binding.tensorDataInto) b.binding.tensorDataInto(b.getInputTensorIds([t])[0] as number, dst);
  else dst.set(t.dataSync() as Float32Array);
}

/** Runs one TensorFlow op with one output (what tfjs-node's executeSingleOutput does, constants allowed). */
export function run(op: string, attrs: OpAttr[], inputs: Input[]): tf.Tensor {
  const b = be();
  return b.createOutputTensor(b.binding.executeOp(op, attrs, inputIds(b, inputs), 1)[0] as { id: number; shape: number[]; dtype: number });
}

/** Runs one TensorFlow op with `n` outputs (0 for ops that only have effects). */
export function runN(op: string, attrs: OpAttr[], inputs: Input[], n: number): tf.Tensor[] {
  const b = be();
  return b.binding.executeOp(op, attrs, inputIds(b, inputs), n).map((m) => b.createOutputTensor(m));
}

// ------------------------------------------------------------ small helpers

const T = () => attr.float32();
const justT = () => attrs('T', () => [T()]);

export function matMul(a: tf.Tensor, b: tf.Tensor, transposeA = false, transposeB = false): tf.Tensor {
  const pad = transposeA && !transposeB ? paddedWeightGrad(a, b) : undefined;
  if (pad) {
    // The padded operand's rows are 16 floats longer; the result's extra rows
    // or columns are sliced off (a contiguous prefix, or 16 columns of each row).
    const padded = padColumns(pad === 'a' ? a : b);
    const full = product('MatMul', pad === 'a' ? padded : a, pad === 'b' ? padded : b, true, false);
    const out = tf.slice(full, [0, 0], [a.shape[1] as number, b.shape[1] as number]);
    tf.dispose([padded, full]);
    return out;
  }
  // Untransposed products stay with Eigen: oneDNN is no faster there (bench
  // profiles), and the forward passes keep the numbers they always had.
  const op = (transposeA || transposeB) && hasOneDnnMatMul() && !eigenWeightGrad(a, b, transposeA, transposeB) ? '_MklMatMul' : 'MatMul';
  return product(op, a, b, transposeA, transposeB);
}

function product(op: 'MatMul' | '_MklMatMul', a: tf.Tensor, b: tf.Tensor, transposeA: boolean, transposeB: boolean): tf.Tensor {
  return run(op, attrs(`${op}${+transposeA}${+transposeB}`, () => [...oneDnnLabel(op), T(), attr.bool('transpose_a', transposeA), attr.bool('transpose_b', transposeB)]), [a, b]);
}

/** `t` with STRIDE_PAD zeros appended along its last axis (a matrix's columns, a vector's end). */
export function padColumns(t: tf.Tensor): tf.Tensor {
  return tf.pad(
    t,
    t.shape.map((_, i) => [0, i === t.rank - 1 ? STRIDE_PAD : 0] as [number, number]),
  );
}

/** Floats added to a row to break a power-of-two stride (paddedWeightGrad, inference.ts's padMlp). */
export const STRIDE_PAD = 16;

/** Whether products here pad power-of-two strides: where oneDNN's products run (x86 CPU builds), on which this was measured. */
export const padsStrides = (): boolean => nodeBackend() !== undefined && hasOneDnnMatMul();

/** A row width (floats) whose stride aliases: a multiple of 512 (2 KiB). */
export const aliasedWidth = (n: number): boolean => n % 512 === 0;

/**
 * Weight gradients xᵀ·dY whose narrow side is ≤ 256 and whose wide side is
 * a multiple of 512 from 1,024 up (an MLP's [d, 4d] and [4d, d] at d = 256,
 * or [128, 2048]): the wide operand's rows are a multiple of 2 KiB apart,
 * and both Eigen and oneDNN ran these at 36–56 GFLOP/s against 74–91 for
 * neighbouring shapes (one thread, 256–2,048 rows), the signature of cache
 * sets aliasing on power-of-two strides. Padding that operand's rows by 16
 * floats (a copy) and slicing the result brings them to 65–82 GFLOP/s,
 * copies included (.scratch-style grid in the README's Benchmarks). CPU only:
 * the same condition as oneDNN's products, which this measured against.
 */
function paddedWeightGrad(a: tf.Tensor, b: tf.Tensor): 'a' | 'b' | undefined {
  if (a.rank !== 2 || b.rank !== 2 || !padsStrides()) return undefined;
  const [m, n] = [a.shape[1] as number, b.shape[1] as number];
  const wide = (k: number) => k >= 1024 && aliasedWidth(k);
  if (m <= 256 && wide(n)) return 'b';
  if (n <= 256 && wide(m)) return 'a';
  return undefined;
}

/**
 * Other weight gradients xᵀ·dY with a narrow result (one side ≤ 256, the
 * other ≤ 1,024) stay with Eigen, whose transposed-left product beat
 * oneDNN's there (one thread, 1,024 rows: [256,768] 80 against 70 GFLOP/s).
 * From d = 512 oneDNN's wins ([512,1536] at 256 rows: 88 against 79).
 */
function eigenWeightGrad(a: tf.Tensor, b: tf.Tensor, transposeA: boolean, transposeB: boolean): boolean {
  if (!transposeA || transposeB) return false;
  const [m, n] = [a.shape[1] as number, b.shape[1] as number];
  return Math.min(m, n) <= 256 && Math.max(m, n) <= 1024;
}

/**
 * Whether x·W pads W's rows (a copy per call) and slices the result: W's
 * width a multiple of 512, at least 256 inputs, and 128–256 rows, where the
 * aliased product is slow enough to pay for the copies (one thread, 256
 * rows: [512,2048] 11.8 → 6.9 ms, [512,1536] 6.3 → 4.9, [256,1024] 3.2 →
 * 2.0, [512,512] 2.1 → 1.7, copies included; at 512 rows or d = 128 it no
 * longer pays). Inference sessions pad their MLP weights once instead.
 */
function padsLinear(x: tf.Tensor, w: tf.Tensor): boolean {
  const rows = x.shape[0] as number;
  return x.rank === 2 && w.rank === 2 && rows >= 128 && rows <= 256 && (w.shape[0] as number) >= 256 && aliasedWidth(w.shape[1] as number) && padsStrides();
}

/**
 * x·W + b in one kernel (TensorFlow's _FusedMatMul). Needs the addon built
 * by infra/tensorflow.sh, whose binding passes the list-valued `fused_ops`
 * attribute; elsewhere `linear` falls back to MatMul + BiasAdd.
 */
export function linear(x: tf.Tensor, w: tf.Tensor, b: tf.Tensor): tf.Tensor {
  if (padsLinear(x, w)) {
    const wp = padColumns(w);
    const bp = padColumns(b);
    const y = linear(x, wp, bp);
    const out = tf.slice(y, [0, 0], [x.shape[0] as number, w.shape[1] as number]);
    tf.dispose([wp, bp, y]);
    return out;
  }
  if (hasFusedMatMul()) {
    return run('_FusedMatMul', fusedLinearAttrs(), [x, w, b]);
  }
  return biasAdd(matMul(x, w), b);
}

/** _FusedMatMul's attributes for x·W + b (linear; decode-native.ts's raw-handle linear). */
export const fusedLinearAttrs = (): OpAttr[] => attrs('_FusedMatMul', () => fusedMatMulAttrs(['BiasAdd']));

/** x·W + b, then `ops` after BiasAdd, in one kernel (_FusedMatMul, and oneDNN's _MklNativeFusedMatMul with its label). */
const fusedMatMulAttrs = (ops: string[]) => [
  T(),
  attr.bool('transpose_a', false),
  attr.bool('transpose_b', false),
  attr.strings('fused_ops', ops),
  attr.int('num_args', 1),
  attr.float('epsilon', 0),
];

/** Whether the addon passes list-valued attributes (infra/tensorflow.sh's patch; an unpatched binding passes one string where TensorFlow wants a list). Probed once. */
export const hasFusedMatMul = once(() => probeKernel(() => [run('_FusedMatMul', fusedMatMulAttrs(['BiasAdd']), [tf.ones([1, 2]), tf.ones([2, 1]), tf.ones([1])])], (v) => v[0] === 3));

export function batchMatMul(a: tf.Tensor, b: tf.Tensor, adjX = false, adjY = false): tf.Tensor {
  const k = batchMatMulKernel(a.shape[a.rank - (adjX ? 1 : 2)] as number, adjX, adjY);
  return run(k.op, k.attrs, [a, b]);
}

/**
 * The kernel batchMatMul runs for products with `rows` rows each, and its
 * attributes. A decoding step's one-query products are faster in Eigen
 * (0.043 against 0.058 ms for 2×8 heads of 1×64·64×100); attention over
 * whole sequences in oneDNN (Pᵀ·dY for 2×8 heads of 256×256·256×32: 0.87
 * against 3.12 ms).
 */
export function batchMatMulKernel(rows: number, adjX: boolean, adjY: boolean): { op: string; attrs: OpAttr[]; oneDnn: boolean } {
  const oneDnn = rows >= ONEDNN_MIN_BATCH_ROWS && hasOneDnnMatMul();
  const op = oneDnn ? '_MklBatchMatMulV2' : 'BatchMatMulV2';
  return { op, oneDnn, attrs: attrs(`${op}${+adjX}${+adjY}`, () => [...oneDnnLabel(op), T(), attr.bool('adj_x', adjX), attr.bool('adj_y', adjY)]) };
}

/** Fewest rows per product for which the batched products go to oneDNN (4×8 heads against 100 keys: Eigen faster up to 2–4 query rows, oneDNN 1.5–3× faster from 8). */
const ONEDNN_MIN_BATCH_ROWS = 8;

// oneDNN's matrix products, called by their own names. TensorFlow's x86
// builds carry them but route MatMul to them only when oneDNN is switched
// on, which TensorFlow does by default only on CPUs with AVX-512 VNNI, BF16
// or AMX (TF_ENABLE_ONEDNN_OPTS). Elsewhere every MatMul goes to Eigen,
// whose transposed paths are the slow ones: one thread, dY·Wᵀ for
// [256,512]·[2048,512]ᵀ ran at 32 GFLOP/s against oneDNN's 84 (PyTorch: 88),
// and a decoding step's h·Eᵀ for [4,512]·[1536,512]ᵀ took 3.3 ms against
// 0.21. Switching oneDNN on for the whole process instead gives the same
// products but also sends the one-query attention products to oneDNN and
// hides _MklLayerNorm (generation 5–10 % slower). TensorFlow registers the
// kernels under the label 'MklNameChangeOp', which the `_kernel` attribute
// selects.
const oneDnnKernel = () => attr.string('_kernel', 'MklNameChangeOp');

function oneDnnLabel(op: string): OpAttr[] {
  return op.startsWith('_Mkl') ? [oneDnnKernel()] : [];
}

/**
 * Whether oneDNN's matrix products run here: x86 CPU builds (not Arm or the
 * GPU wheels), no CUDA device (products on the GPU stay there), and
 * CRLHF_ONEDNN is not 0 (the switch that measures the Eigen kernels against
 * them). Probed once.
 */
export const hasOneDnnMatMul = once(
  () =>
    process.env.CRLHF_ONEDNN !== '0' &&
    !be().binding.isUsingGpuDevice() &&
    probeKernel(
      () => [
        run('_MklMatMul', [oneDnnKernel(), T(), attr.bool('transpose_a', false), attr.bool('transpose_b', true)], [tf.tensor2d([1, 2], [1, 2]), tf.tensor2d([3, 4], [1, 2])]),
        run('_MklBatchMatMulV2', [oneDnnKernel(), T(), attr.bool('adj_x', true), attr.bool('adj_y', false)], [tf.tensor3d([1, 2], [1, 2, 1]), tf.tensor3d([3, 4], [1, 2, 1])]),
      ],
      (v) => v[0] === 11 && v[1] === 11,
    ),
);

/** Swaps the last two axes of a rank-4 tensor. */
export function transposeLast2(x: tf.Tensor): tf.Tensor {
  return run('Transpose', attrs('Transpose', () => [T(), attr.int32('Tperm')]), [x, intConst([0, 1, 3, 2])]);
}

export function add(a: Input, b: Input): tf.Tensor {
  return run('AddV2', justT(), [a, b]);
}

export function mul(a: Input, b: Input): tf.Tensor {
  return run('Mul', justT(), [a, b]);
}

export function biasAdd(x: tf.Tensor, b: tf.Tensor): tf.Tensor {
  return run('BiasAdd', attrs('BiasAdd', () => [T(), attr.string('data_format', 'NHWC')]), [x, b]);
}

/** Σ over all leading axes: [..., n] → [n] (the bias gradient). */
export function biasAddGrad(dy: tf.Tensor): tf.Tensor {
  return run('BiasAddGrad', attrs('BiasAdd', () => [T(), attr.string('data_format', 'NHWC')]), [dy]);
}

/**
 * x with a new shape, by TensorFlow's Reshape (no copy). tfjs's own reshape
 * uploads the target shape as a new tensor every call; here it is uploaded
 * once per distinct shape and kept.
 */
export function reshape(x: tf.Tensor, shape: number[]): tf.Tensor {
  return run('Reshape', attrs('Reshape', () => [T(), attr.int32('Tshape')]), [x, intConst(shape)]);
}

export function square(x: tf.Tensor): tf.Tensor {
  return run('Square', justT(), [x]);
}

export function sigmoid(x: tf.Tensor): tf.Tensor {
  return run('Sigmoid', justT(), [x]);
}

/** dy·y·(1 − y) for y = σ(x). */
export function sigmoidGrad(y: tf.Tensor, dy: tf.Tensor): tf.Tensor {
  return run('SigmoidGrad', justT(), [y, dy]);
}

export function neg(x: tf.Tensor): tf.Tensor {
  return run('Neg', justT(), [x]);
}

/** [−log softmax(logits)[label], softmax − onehot] per row of logits [N, V], int32 labels [N]. */
export function sparseSoftmaxCrossEntropy(logits: tf.Tensor, labels: tf.Tensor): tf.Tensor[] {
  return runN('SparseSoftmaxCrossEntropyWithLogits', attrs('SparseXent', () => [T(), attr.int32('Tlabels')]), [logits, labels], 2);
}

const consts = new Map<string, Const>();

function cached(key: string, shape: number[], values: Float32Array | Int32Array): Const {
  let c = consts.get(key);
  if (!c) {
    const binding = be().binding;
    c = { constId: binding.createTensor(shape, values instanceof Int32Array ? binding.TF_INT32 : binding.TF_FLOAT, values) };
    consts.set(key, c);
  }
  return c;
}

/** An int32 constant, 1-D unless `shape` says otherwise (PadV2's [rank, 2] paddings). */
export function intConst(values: number[], shape: number[] = [values.length]): Const {
  return cached(`i${shape.join('x')}[${values.join(',')}]`, shape, Int32Array.from(values));
}

/** A 0-D int32 constant (an axis). */
export function intScalar(value: number): Const {
  return cached(`i${value}`, [], Int32Array.of(value));
}

/** A 0-D float32 constant. */
export function scalarConst(value: number): Const {
  return cached(`f${value}`, [], Float32Array.of(value));
}

/** [n] filled with `value`. */
export function filled(n: number, value: number): Const {
  return cached(`f${n}x${value}`, [n], new Float32Array(n).fill(value));
}

/** sum(x²)/2 over every element, as a scalar. */
export function l2Loss(x: tf.Tensor): tf.Tensor {
  return run('L2Loss', justT(), [x]);
}

export function addN(xs: tf.Tensor[]): tf.Tensor {
  if (xs.length === 1) return xs[0] as tf.Tensor;
  return run('AddN', attrs(`AddN${xs.length}`, () => [T(), attr.int('N', xs.length)]), xs);
}

/** TensorFlow's LayerNorm kernel from oneDNN (x86 builds): y = (x − mean)/sqrt(var + eps)·γ + β over the last axis of a 2-D x. */
export function mklLayerNorm(x: tf.Tensor, gamma: Input, beta: Input, eps: number): tf.Tensor {
  return run('_MklLayerNorm', attrs(`LN${eps}`, () => [T(), attr.float('epsilon', eps)]), [x, gamma, beta]);
}

/** Whether this TensorFlow build has _MklLayerNorm (x86 with oneDNN; not the GPU or Arm builds). Probed once. */
export const hasMklLayerNorm = once(() =>
  probeKernel(
    () => [mklLayerNorm(tf.tensor2d([1, 3], [1, 2]), tf.ones([2]), tf.zeros([2]), 0)],
    (v) => Math.abs((v[0] as number) + 1) < 1e-3 && Math.abs((v[1] as number) - 1) < 1e-3,
  ),
);

// ------------------------------------------------- fused kernels (infra/kernels)

// The ops infra/kernels/crlhf_kernels.cc compiles into the addon: LayerNorm,
// GELU and the attention softmax, forward and backward, one pass each where
// TensorFlow's kernels take 4–8 ops (and the wheel builds those for SSE only).
// They run on one thread, like everything in a data-parallel rank.

/**
 * Whether the fused kernels are in this addon (infra/tensorflow.sh builds them
 * in) and apply: no CUDA device (they are CPU kernels) and CRLHF_FUSED_KERNELS
 * is not 0 (the switch that measures TensorFlow's own ops against them).
 * Probed once: gelu(1) = 0.841192.
 */
export const hasFusedKernels = once(
  () =>
    process.env.CRLHF_FUSED_KERNELS !== '0' &&
    !be().binding.isUsingGpuDevice() &&
    probeKernel(() => [run('CrlhfGelu', [], [tf.tensor1d([1])])], (v) => Math.abs((v[0] as number) - 0.841192) < 1e-5),
);

/** LayerNorm over the last axis: [y, mean per row, 1/sqrt(var + eps) per row]. */
export function fusedLayerNorm(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, eps: number): tf.Tensor[] {
  return runN('CrlhfLayerNorm', attrs(`CLN${eps}`, () => [attr.float('epsilon', eps)]), [x, gamma, beta], 3);
}

/** [dx, dγ, dβ] of fusedLayerNorm from the forward's x, γ, mean and rstd. */
export function fusedLayerNormGrad(dy: tf.Tensor, x: tf.Tensor, gamma: tf.Tensor, mean: tf.Tensor, rstd: tf.Tensor): tf.Tensor[] {
  return runN('CrlhfLayerNormGrad', [], [dy, x, gamma, mean, rstd], 3);
}

/** GELU, tanh approximation: x·σ(2c(x + a·x³)) (ops.ts's formula). */
export function fusedGelu(x: tf.Tensor): tf.Tensor {
  return run('CrlhfGelu', [], [x]);
}

export function fusedGeluGrad(dy: tf.Tensor, x: tf.Tensor): tf.Tensor {
  return run('CrlhfGeluGrad', [], [dy, x]);
}

/** softmax(scale·scores + bias) over the last axis: scores [B, H, Tq, Tk], bias [B, 1, Tq, Tk] (shared by the heads). */
export function attentionSoftmax(scores: tf.Tensor, bias: tf.Tensor, scale: number): tf.Tensor {
  return run('CrlhfAttentionSoftmax', attrs(`CAS${scale}`, () => [attr.float('scale', scale)]), [scores, bias]);
}

/** d(scores) of attentionSoftmax from its output p and dp: scale·p·(dp − Σ p·dp) per row. */
export function softmaxGrad(p: tf.Tensor, dp: tf.Tensor, scale: number): tf.Tensor {
  return run('CrlhfSoftmaxGrad', attrs(`CSG${scale}`, () => [attr.float('scale', scale)]), [p, dp]);
}

/**
 * One decoding step's attention (raw handles, for decode-native.ts): qkv
 * [B, 3d] (q pre-scaled), key and value caches [B, H, C, hd] into whose
 * column L − 1 the step's key and value are written in place, bias [B, L]
 * (0 or MASKED) over columns [0, L). Returns y [B, d], the heads side by side.
 */
export function decodeAttention(s: RawScope, qkv: number, keys: number, values: number, bias: number): number {
  return s.op1('CrlhfDecodeAttention', [], [qkv, keys, values, bias]);
}

/**
 * Attributes of oneDNN's x·W + b followed by the tanh-approximation GELU in
 * one kernel (_MklNativeFusedMatMul with fused_ops BiasAdd, GeluApproximate:
 * 0.5·u·(1 + tanh(√(2/π)·(u + 0.044715·u³))), the formula ops.ts's gelu
 * computes as u·σ(2·√(2/π)·(u + 0.044715·u³))).
 */
export function fusedGeluAttrs(): OpAttr[] {
  return attrs('FusedGelu', () => [oneDnnKernel(), ...fusedMatMulAttrs(['BiasAdd', 'GeluApproximate'])]);
}

/** Whether _MklNativeFusedMatMul with GeluApproximate runs here (where oneDNN's products do, on a patched binding). Probed once. */
export const hasFusedGelu = once(
  () =>
    hasOneDnnMatMul() &&
    hasFusedMatMul() &&
    // gelu(1) = 0.5·(1 + tanh(√(2/π)·1.044715)) ≈ 0.841192
    probeKernel(() => [run('_MklNativeFusedMatMul', fusedGeluAttrs(), [tf.tensor2d([1, -1], [1, 2]), tf.tensor2d([1, 1], [2, 1]), tf.tensor1d([1])])], (v) => Math.abs((v[0] as number) - 0.841192) < 1e-4),
);

/**
 * Whether a kernel runs in this build and computes what it should: `make`
 * runs it on tiny inputs (in a tidy), `check` judges the outputs' values,
 * concatenated in order. A
 * kernel the build lacks, or an attribute the binding cannot pass, throws:
 * false.
 */
function probeKernel(make: () => tf.Tensor[], check: (values: number[]) => boolean): boolean {
  try {
    const ys = tf.tidy(make);
    try {
      return check(ys.flatMap((y) => Array.from(y.dataSync())));
    } finally {
      tf.dispose(ys);
    }
  } catch {
    return false;
  }
}

/** `f`, evaluated on the first call and remembered (the kernel probes run once per process). */
function once<T>(f: () => T): () => T {
  let memo: { value: T } | undefined;
  return () => (memo ??= { value: f() }).value;
}

// ------------------------------------------------------------ raw handles

/**
 * TensorFlow tensor handles with no tfjs tensor around them, for a hot loop
 * whose intermediates never leave it (the decoding step): an op costs the
 * binding call alone, without tfjs's tensor bookkeeping (~5 µs of ~15 µs).
 * Handles created here are deleted by `dispose` unless `keep` takes them
 * out.
 */
export class RawScope {
  private readonly b = be();
  private readonly live = new Set<number>();

  /** The handle id of a tfjs tensor (still owned by tfjs). */
  of(t: tf.Tensor): number {
    return this.b.getInputTensorIds([t])[0] as number;
  }

  upload(shape: number[], values: Float32Array | Int32Array): number {
    const id = this.b.binding.createTensor(shape, values instanceof Int32Array ? c().I32 : c().F32, values);
    this.live.add(id);
    return id;
  }

  /** Runs an op; its outputs belong to this scope. */
  op(name: string, attrList: OpAttr[], inputs: (number | Const)[], n = 1): number[] {
    const ids = inputs.map((x) => (typeof x === 'number' ? x : x.constId));
    const out = this.b.binding.executeOp(name, attrList, ids, n);
    return out.map((m) => {
      this.live.add(m.id);
      return m.id;
    });
  }

  op1(name: string, attrList: OpAttr[], inputs: (number | Const)[]): number {
    return this.op(name, attrList, inputs, 1)[0] as number;
  }

  read(id: number): Float32Array {
    return this.b.binding.tensorDataSync(id) as Float32Array;
  }

  /** Takes a handle out of the scope: the caller deletes it (`freeRaw`). */
  keep(id: number): number {
    this.live.delete(id);
    return id;
  }

  dispose(): void {
    for (const id of this.live) this.b.binding.deleteTensor(id);
    this.live.clear();
  }
}

/** Deletes a handle taken out of a RawScope with `keep`. */
export function freeRaw(id: number): void {
  be().binding.deleteTensor(id);
}

// ------------------------------------------------------------ resource variables

/**
 * A TensorFlow resource variable: a buffer TensorFlow kernels update in place
 * (ResourceApplyAdam). Anonymous, so it lives exactly as long as its handle.
 */
export class ResourceVar {
  readonly handle: tf.Tensor;

  constructor(readonly shape: number[]) {
    this.handle = tf.tidy(() =>
      tf.keep(
        run(
          'VarHandleOp',
          // This shared_name asks TensorFlow for an anonymous resource, freed with its last handle (as tf.Variable in eager mode).
          [attr.float32('dtype'), attr.shape('shape', shape), attr.string('container', ''), attr.string('shared_name', 'cd2c89b7-88b7-44c8-ad83-06c2a9158347')],
          [],
        ),
      ),
    );
  }

  assign(value: tf.Tensor): void {
    runN('AssignVariableOp', [attr.float32('dtype'), attr.bool('validate_shape', false)], [this.handle, value], 0);
  }

  read(): tf.Tensor {
    return run('ReadVariableOp', [attr.float32('dtype')], [this.handle]);
  }

  dispose(): void {
    this.handle.dispose();
  }
}

/**
 * Adam in one kernel, in place (TensorFlow's ResourceApplyAdam):
 *   m ← m + (g − m)(1 − β1);  v ← v + (g² − v)(1 − β2);  p ← p − α·m/(sqrt(v) + ε̂).
 * The caller passes α and ε̂ with the bias corrections folded in (β-powers 0).
 */
export function applyAdam(p: ResourceVar, m: ResourceVar, v: ResourceVar, s: { alpha: tf.Scalar; beta1: tf.Scalar; beta2: tf.Scalar; eps: tf.Scalar; zero: tf.Scalar }, grad: tf.Tensor): void {
  runN(
    'ResourceApplyAdam',
    [T(), attr.bool('use_locking', false), attr.bool('use_nesterov', false)],
    [p.handle, m.handle, v.handle, s.zero, s.zero, s.alpha, s.beta1, s.beta2, s.eps, grad],
    0,
  );
}

/** TensorFlow's intra-op threads: what TF_NUM_INTRAOP_THREADS says when it loaded (backend.ts sets it), else the cores. */
export function intraOpThreads(): number {
  const n = Number(process.env.TF_NUM_INTRAOP_THREADS);
  return Number.isInteger(n) && n > 0 ? n : availableParallelism();
}
