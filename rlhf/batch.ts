// One sequence layout for every model call (SFT, reward model, rollouts, PPO):
//
//   row i:  [PAD … PAD  p_0 … p_{Li−1} | r_0 … r_{Mi−1}  PAD … PAD]
//           └──── prompt, left-padded to P ────┘└── response, right-padded to R ──┘
//
// Why both sides: generation runs the batch in lock-step with a KV cache, so
// every row's next token must sit in the same column; left-padding the prompts
// gives that. The responses it produces then start in column P for all rows,
// so response tokens, their log-probs, values and rewards are plain [B, R]
// slices, the shape GAE, whitening and the PPO losses work on. Finished rows are
// right-padded. Pad keys are masked out of attention and position ids count
// only real tokens (pos = #real tokens before it), so a row's numbers do not
// depend on how much padding the batch gave it.
import * as tf from '@tensorflow/tfjs';
import { PAD, SEP, BOS, EOS, type Tokenizer } from './tokenizer.js';

export interface SequenceBatch {
  batchSize: number;
  /** Padded prompt length P: response token j of every row is in column P + j. */
  promptLen: number;
  /** Padded response length R. */
  responseLen: number;
  /** P + R. */
  seqLen: number;
  /** [B, T] token ids, PAD at pads. */
  inputIds: Int32Array;
  /** [B, T] 1 for real tokens, 0 for pads. */
  attentionMask: Float32Array;
  /** [B, T] position ids: number of real tokens before this one (0 at pads). */
  positions: Int32Array;
  /** [B, R] the response tokens (targets of the LM loss and PPO). */
  responseIds: Int32Array;
  /** [B, R] 1 for real response tokens. */
  responseMask: Float32Array;
  promptLengths: number[];
  responseLengths: number[];
}

/** The prompt as the model sees it: BOS, the text, SEP (the response follows SEP). */
export function encodePrompt(tok: Tokenizer, prompt: string): number[] {
  return [BOS, ...tok.encode(prompt), SEP];
}

/** A target response: the text then EOS, so the policy learns to stop. */
export function encodeResponse(tok: Tokenizer, response: string): number[] {
  return [...tok.encode(response), EOS];
}

/**
 * Lays out prompt/response id lists (see the header). If P + R would exceed
 * `contextLength`, prompts keep their last tokens (at most contextLength − 1)
 * and responses are cut at the end to fit.
 */
export function buildBatch(prompts: number[][], responses: number[][], contextLength: number): SequenceBatch {
  if (prompts.length !== responses.length) throw new Error(`buildBatch: ${prompts.length} prompts but ${responses.length} responses`);
  if (prompts.length === 0) throw new Error('buildBatch: empty batch');
  const ps = prompts.map((p) => (p.length > contextLength - 1 ? p.slice(p.length - (contextLength - 1)) : p));
  const P = Math.max(...ps.map((p) => p.length));
  const R = Math.min(Math.max(...responses.map((r) => r.length)), contextLength - P);
  const rs = responses.map((r) => (r.length > R ? r.slice(0, R) : r));
  const B = ps.length;
  const T = P + R;
  const inputIds = new Int32Array(B * T).fill(PAD);
  const attentionMask = new Float32Array(B * T);
  const positions = new Int32Array(B * T);
  const responseIds = new Int32Array(B * R).fill(PAD);
  const responseMask = new Float32Array(B * R);
  for (let i = 0; i < B; i++) {
    const p = ps[i] as number[];
    const r = rs[i] as number[];
    const start = P - p.length;
    for (let j = 0; j < p.length; j++) {
      inputIds[i * T + start + j] = p[j] as number;
      attentionMask[i * T + start + j] = 1;
      positions[i * T + start + j] = j;
    }
    for (let j = 0; j < r.length; j++) {
      inputIds[i * T + P + j] = r[j] as number;
      attentionMask[i * T + P + j] = 1;
      positions[i * T + P + j] = p.length + j;
      responseIds[i * R + j] = r[j] as number;
      responseMask[i * R + j] = 1;
    }
  }
  return {
    batchSize: B,
    promptLen: P,
    responseLen: R,
    seqLen: T,
    inputIds,
    attentionMask,
    positions,
    responseIds,
    responseMask,
    promptLengths: ps.map((p) => p.length),
    responseLengths: rs.map((r) => r.length),
  };
}

/** Rows `idx` of a batch, re-laid-out with the same P and R (so columns keep their meaning). */
export function selectRows(batch: SequenceBatch, idx: readonly number[]): SequenceBatch {
  const { seqLen: T, responseLen: R } = batch;
  const pick = <A extends Int32Array | Float32Array>(src: A, width: number, make: (n: number) => A): A => {
    const out = make(idx.length * width);
    idx.forEach((r, i) => out.set(src.subarray(r * width, (r + 1) * width), i * width));
    return out;
  };
  return {
    ...batch,
    batchSize: idx.length,
    inputIds: pick(batch.inputIds, T, (n) => new Int32Array(n)),
    attentionMask: pick(batch.attentionMask, T, (n) => new Float32Array(n)),
    positions: pick(batch.positions, T, (n) => new Int32Array(n)),
    responseIds: pick(batch.responseIds, R, (n) => new Int32Array(n)),
    responseMask: pick(batch.responseMask, R, (n) => new Float32Array(n)),
    promptLengths: idx.map((r) => batch.promptLengths[r] as number),
    responseLengths: idx.map((r) => batch.responseLengths[r] as number),
  };
}

/** The device tensors of a batch; create inside a tf.tidy. */
export interface BatchTensors {
  ids: tf.Tensor2D; // [B, T] int32
  positions: tf.Tensor2D; // [B, T] int32
  keyMask: tf.Tensor2D; // [B, T] float32
}

export function batchTensors(batch: SequenceBatch): BatchTensors {
  const shape: [number, number] = [batch.batchSize, batch.seqLen];
  return {
    ids: tf.tensor2d(batch.inputIds, shape, 'int32'),
    positions: tf.tensor2d(batch.positions, shape, 'int32'),
    keyMask: tf.tensor2d(batch.attentionMask, shape, 'float32'),
  };
}

/** [B, T] one-hot of each row's last real token (reward models read their score there). */
export function lastTokenSelector(batch: SequenceBatch): Float32Array {
  const sel = new Float32Array(batch.batchSize * batch.seqLen);
  for (let i = 0; i < batch.batchSize; i++) {
    sel[i * batch.seqLen + batch.promptLen + (batch.responseLengths[i] as number) - 1] = 1;
  }
  return sel;
}
