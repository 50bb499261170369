// The reference sizes of the model benchmark and the FLOP conventions used to
// turn times into GFLOP/s. Both sides (rlhf/ and PyTorch) get the same config,
// so every ratio is independent of the convention; the convention only sets
// the absolute GFLOP/s and the fraction of the GEMM peak.
import type { TransformerConfig } from '../rlhf/model.js';

export interface TrainShape {
  batch: number;
  /** Columns per row; every column is a real token (no padding). */
  seqLen: number;
  /** Prompt columns; the loss covers the other seqLen − promptLen (as sftLoss). */
  promptLen: number;
}

export interface GenShape {
  batch: number;
  promptLen: number;
  newTokens: number;
}

export interface SizeSpec {
  name: string;
  model: Required<Pick<TransformerConfig, 'vocabSize' | 'contextLength' | 'dModel' | 'nHeads' | 'nLayers'>>;
  train: TrainShape;
  gen: GenShape;
  /** Timed training steps per repetition (the repetition's figure is their median). */
  stepsPerRep: number;
}

// Byte-sized vocabulary as in research/probe.md; the task's char tokenizers
// are smaller, which only makes the output projection cheaper.
const V = 256;

// A promptLen of 1 puts a loss on every other column: the step is plain
// next-token training over the whole sequence, through SftTrainer's code path.
export const SIZES: Record<string, SizeSpec> = {
  tiny: {
    name: 'tiny',
    model: { vocabSize: V, contextLength: 128, dModel: 128, nHeads: 4, nLayers: 2 },
    train: { batch: 16, seqLen: 128, promptLen: 1 },
    gen: { batch: 16, promptLen: 32, newTokens: 64 },
    stepsPerRep: 5,
  },
  small: {
    name: 'small',
    model: { vocabSize: V, contextLength: 256, dModel: 256, nHeads: 8, nLayers: 4 },
    train: { batch: 8, seqLen: 256, promptLen: 1 },
    gen: { batch: 8, promptLen: 64, newTokens: 128 },
    stepsPerRep: 3,
  },
  // Where matrix products dominate: a smaller batch keeps one wasm step
  // (single-threaded) within ~10 s on the 2-core machine.
  large: {
    name: 'large',
    model: { vocabSize: V, contextLength: 256, dModel: 512, nHeads: 8, nLayers: 8 },
    train: { batch: 2, seqLen: 256, promptLen: 1 },
    gen: { batch: 4, promptLen: 64, newTokens: 64 },
    stepsPerRep: 2,
  },
};

export const FLOP_CONVENTION =
  'training: 6·P·(B·T) per step; generation: 2·P·(forwarded tokens) with forwarded = B·(prompt + new − 1) ' +
  '(prefill included: tokens/s counts new tokens over the whole generate call). P = all parameters ' +
  '(tied token embedding counted once, since it is also the output projection; the position table ' +
  'is counted although it is a lookup). Attention score/value products are excluded from GFLOP/s; ' +
  'they are reported separately as attnFlops (full T×T products, as both sides compute them).';

/** Training FLOPs per step, 6·P·tokens, and the attention products on top (fwd 4·T·d per token and layer, ×3 with backward). */
export function trainFlops(s: SizeSpec, params: number): { flops: number; attnFlops: number; tokens: number } {
  const { batch: B, seqLen: T } = s.train;
  const tokens = B * T;
  return { flops: 6 * params * tokens, attnFlops: 3 * 4 * s.model.nLayers * T * s.model.dModel * tokens, tokens };
}

/** Generation FLOPs of one generate call: 2·P per forwarded token, plus attention over the growing cache. */
export function genFlops(s: SizeSpec, params: number): { flops: number; attnFlops: number; newTokens: number } {
  const { batch: B, promptLen: P, newTokens: N } = s.gen;
  const { nLayers: L, dModel: d } = s.model;
  const forwarded = B * (P + N - 1);
  let attn = B * L * 4 * d * P * P; // prefill: P queries × P keys
  for (let k = P + 1; k < P + N; k++) attn += B * L * 4 * d * k; // decode step with k cached columns
  return { flops: 2 * params * forwarded, attnFlops: attn, newTokens: B * N };
}

/** Parameters of the rlhf/ Transformer for a config (mlpRatio 4), to check against both sides' own counts. */
export function expectedParams(m: SizeSpec['model']): number {
  const { vocabSize: V, contextLength: C, dModel: d, nLayers: L } = m;
  const block = 2 * d + (3 * d * d + 3 * d) + (d * d + d) + 2 * d + (4 * d * d + 4 * d) + (4 * d * d + d);
  return V * d + C * d + L * block + 2 * d;
}
