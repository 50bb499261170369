// Batched autoregressive sampling with a key/value cache, and log-probs of
// given responses. Sampling filters: temperature, top-k (arXiv 1805.04833),
// nucleus/top-p (arXiv 1904.09751).
//
// Decoding runs inference.ts's forward pass (weights folded once per call,
// fewer kernels per token). Each step reads the last position's logits
// [B, V] to the host once and samples there from the seeded Rng in float64,
// so the same seed gives the same samples whatever the backend's RNG, and
// nothing else crosses per token: on the CPU backends that read costs less
// than the dozen kernels sampling on the device would (top-k/top-p sort,
// cumulative sum, search, gathers).
import * as tf from '@tensorflow/tfjs';
import { batchTensors, buildBatch, type SequenceBatch } from './batch.js';
import { NativeDecoder } from './decode-native.js';
import { attentionBias, InferenceSession } from './inference.js';
import { nodeBackend } from './native.js';
import { runShards, shardRanges, workerPool } from './parallel/pool.js';
import type { JobResult } from './parallel/protocol.js';
import { disposeCache, responseHidden, type KVCache, type PolicyModel, type ValueModel } from './model.js';
import { entropyFromLogits, targetLogprobs, tidy } from './ops.js';
import type { Rng } from './rng.js';
import { EOS, PAD } from './tokenizer.js';

export interface GenerateOptions {
  maxNewTokens: number;
  /** Softmax temperature; 0 means greedy (argmax). Default 1. */
  temperature?: number;
  /** Keep only the k most likely tokens (0 or undefined: all). */
  topK?: number;
  /** Keep the smallest set of most likely tokens whose mass reaches p (1 or undefined: all). */
  topP?: number;
  /** Stop a row when it emits this token (default EOS); the token is kept in the response. */
  eosId?: number;
  /**
   * Also return the policy's own (temperature 1) log-prob of each sampled
   * token and the entropy of its distribution, from the same logits (PPO's
   * old log-probs, without another forward pass).
   */
  policyStats?: boolean;
}

export interface GenerateResult {
  /** Response token ids per row, EOS included when emitted, no padding. */
  responses: number[][];
  /**
   * log π_T(token) per response token, where π_T = softmax(logits / T) over
   * the whole vocabulary (before top-k/top-p truncation). At T = 1 this is the
   * policy's own log-prob, the quantity PPO needs; it is computed in float64
   * on the host from float32 logits, so it agrees with sequenceLogprobs to
   * float32 tolerance, not bit for bit.
   */
  logprobs: number[][];
  /** log-prob under the distribution actually sampled from (after top-k/top-p renormalisation). */
  samplingLogprobs: number[][];
  /** Whether each row emitted EOS (false: cut by maxNewTokens). */
  finished: boolean[];
  /** With `policyStats`: log π(token) at temperature 1, float64 on the host from the decoding logits. */
  policyLogprobs?: number[][];
  /** With `policyStats`: entropy of π (temperature 1) at each sampled position. */
  entropies?: number[][];
}

/**
 * Samples continuations of `prompts` (token ids, e.g. from encodePrompt) with
 * one prefill pass and one cached step per new token. Rows are left-padded
 * (batch.ts); finished rows are fed PAD and ignored. The response length is
 * capped so prompt + response fits the model's context.
 *
 * Each row samples from its own stream, forked from `rng` (which advances by
 * one draw per call), so a row's samples do not depend on which rows share
 * its batch: the rows are split over the data-parallel ranks
 * (parallel/pool.ts) with the same results.
 */
export async function generate(model: PolicyModel, prompts: number[][], rng: Rng, opts: GenerateOptions): Promise<GenerateResult> {
  const base = rng.fork('generate');
  rng.next();
  const rngs = prompts.map((_, i) => base.fork(`row ${i}`));
  const pool = prompts.length >= 2 ? await workerPool() : undefined;
  if (!pool) return generateRows(model, prompts, rngs, opts);
  // The response cap follows the whole batch's padded prompt length, as in one thread.
  const C = model.config.contextLength;
  const P = Math.max(...prompts.map((p) => Math.min(p.length, C - 1)));
  opts = { ...opts, maxNewTokens: Math.min(opts.maxNewTokens, C - P) };
  const shards = shardRanges(prompts.length, pool.ranks);
  const replica = await pool.sync(model);
  const { local, remote } = await runShards<GenerateResult, Extract<JobResult, { kind: 'generate' }>>(
    pool,
    shards,
    ([a, b]) => ({ kind: 'generate', id: replica.id, version: replica.version, prompts: prompts.slice(a, b), rngs: rngs.slice(a, b).map((r) => r.state()), opts }),
    ([a, b]) => generateRows(model, prompts.slice(a, b), rngs.slice(a, b), opts),
  );
  const parts = [local, ...remote.map((r) => r.result)];
  const cat = <K extends keyof GenerateResult>(k: K) => parts.flatMap((p) => p[k] as unknown[]) as GenerateResult[K];
  return {
    responses: cat('responses'),
    logprobs: cat('logprobs'),
    samplingLogprobs: cat('samplingLogprobs'),
    finished: cat('finished'),
    ...(opts.policyStats ? { policyLogprobs: cat('policyLogprobs'), entropies: cat('entropies') } : {}),
  };
}

/** generate's loop over one batch of rows, row i sampling from rngs[i]. */
export async function generateRows(model: PolicyModel, prompts: number[][], rngs: Rng[], opts: GenerateOptions): Promise<GenerateResult> {
  const B = prompts.length;
  const eos = opts.eosId ?? EOS;
  const prefill = buildBatch(prompts, prompts.map(() => []), model.config.contextLength);
  const P = prefill.promptLen;
  const maxNew = Math.min(opts.maxNewTokens, model.config.contextLength - P);
  const responses: number[][] = prompts.map(() => []);
  const logprobs: number[][] = prompts.map(() => []);
  const samplingLogprobs: number[][] = prompts.map(() => []);
  const finished = new Array<boolean>(B).fill(false);
  const stats = opts.policyStats ? { policyLogprobs: prompts.map((): number[] => []), entropies: prompts.map((): number[] => []) } : undefined;
  if (maxNew <= 0) return { responses, logprobs, samplingLogprobs, finished, ...stats };

  const decoder = openDecoder(model, prefill, maxNew);
  try {
    let host = decoder.prefill();
    const next = new Int32Array(B);
    const positions = new Int32Array(B);
    for (let s = 0; s < maxNew; s++) {
      next.fill(PAD);
      const V = host.length / B;
      for (let i = 0; i < B; i++) {
        positions[i] = (prefill.promptLengths[i] as number) + s;
        if (finished[i]) continue;
        const row = host.subarray(i * V, (i + 1) * V);
        const pick = sampleRow(row, rngs[i] as Rng, opts);
        next[i] = pick.token;
        (responses[i] as number[]).push(pick.token);
        (logprobs[i] as number[]).push(pick.logprob);
        (samplingLogprobs[i] as number[]).push(pick.samplingLogprob);
        if (stats) {
          const { lse, entropy } = softmaxStats(row);
          (stats.policyLogprobs[i] as number[]).push((row[pick.token] as number) - lse);
          (stats.entropies[i] as number[]).push(entropy);
        }
        if (pick.token === eos) finished[i] = true;
      }
      if (s === maxNew - 1 || finished.every(Boolean)) break;
      host = decoder.step(next, positions, P + s);
      // Let the event loop run between tokens (heartbeats, timers).
      if (s % 16 === 15) await new Promise((r) => setImmediate(r));
    }
  } finally {
    decoder.dispose();
  }
  return { responses, logprobs, samplingLogprobs, finished, ...stats };
}

/** log Σ exp(logits) and the entropy of softmax(logits), in float64. */
export function softmaxStats(logits: ArrayLike<number>): { lse: number; entropy: number } {
  let max = -Infinity;
  for (let j = 0; j < logits.length; j++) max = Math.max(max, logits[j] as number);
  let z = 0;
  let zl = 0;
  for (let j = 0; j < logits.length; j++) {
    const l = (logits[j] as number) - max;
    const e = Math.exp(l);
    z += e;
    zl += e * l;
  }
  // H = −Σ p·(l − max − log z) = log z − Σ p·(l − max)
  return { lse: max + Math.log(z), entropy: Math.log(z) - zl / z };
}

/** One decoding loop: the prompt pass, then one token per row per step; each returns the logits [B, V] on the host. */
export interface Decoder {
  prefill(): Float32Array;
  /** Feeds `tokens` at cache column t (position ids per row). */
  step(tokens: Int32Array, positions: Int32Array, t: number): Float32Array;
  dispose(): void;
}

/**
 * Key mask over every column the cache will hold: prompt pads are 0, and
 * generated columns 1 (a finished row's later columns only feed that row).
 * Null when no prompt is padded (decoding steps then need no mask).
 */
function cacheKeyMask(prefill: SequenceBatch, width: number): Float32Array | null {
  if (!prefill.attentionMask.some((m) => m === 0)) return null;
  const B = prefill.batchSize;
  const P = prefill.promptLen;
  const keyMask = new Float32Array(B * width).fill(1);
  for (let i = 0; i < B; i++) keyMask.set(prefill.attentionMask.subarray(i * P, (i + 1) * P), i * width);
  return keyMask;
}

/** Additive bias [B, 1, 1, t + 1] for the step that appends column t, or null when no key is masked. */
function stepBias(keyMask: Float32Array | null, B: number, width: number, t: number): Float32Array | null {
  if (!keyMask) return null;
  const m = new Float32Array(B * (t + 1));
  for (let i = 0; i < B; i++) m.set(keyMask.subarray(i * width, i * width + t + 1), i * (t + 1));
  return attentionBias(m, B, 1, t);
}

/** The decoding loop generateRows runs for `prefill`'s rows and up to `maxNew` new tokens on the active backend. The caller disposes it. */
export function openDecoder(model: PolicyModel, prefill: SequenceBatch, maxNew: number): Decoder {
  return nodeBackend() ? nativeDecoder(model, prefill, maxNew) : tfjsDecoder(model, prefill, maxNew);
}

/** tfjs-node: the loop on TensorFlow handles (decode-native.ts). */
function nativeDecoder(model: PolicyModel, prefill: SequenceBatch, maxNew: number): Decoder {
  const B = prefill.batchSize;
  const P = prefill.promptLen;
  const width = P + maxNew;
  const keyMask = cacheKeyMask(prefill, width);
  const session = new InferenceSession(model);
  const decoder = new NativeDecoder(session, B, width);
  return {
    prefill: () => decoder.prefill(prefill.inputIds, prefill.positions, P, attentionBias(prefill.attentionMask, B, P, 0)),
    step: (tokens, positions, t) => decoder.step(tokens, positions, t, stepBias(keyMask, B, width, t)),
    dispose: () => {
      decoder.dispose();
      session.dispose();
    },
  };
}

/** Other backends: InferenceSession's tfjs ops, the cache grown by concatenation. */
function tfjsDecoder(model: PolicyModel, prefill: SequenceBatch, maxNew: number): Decoder {
  const B = prefill.batchSize;
  const P = prefill.promptLen;
  const width = P + maxNew;
  const keyMask = cacheKeyMask(prefill, width);
  const session = new InferenceSession(model);
  let cache: KVCache | undefined;
  const read = (logits: tf.Tensor) => {
    const host = logits.dataSync() as Float32Array;
    logits.dispose();
    return host;
  };
  return {
    prefill: () => {
      const out = tidy(() => {
        const bias = attentionBias(prefill.attentionMask, B, P, 0);
        const f = session.forward(tf.tensor1d(prefill.inputIds, 'int32'), tf.tensor1d(prefill.positions, 'int32'), B, P, bias && tf.tensor4d(bias, [B, 1, P, P]));
        // Each row's last prompt position predicts its first response token.
        const last = tf.gather(f.hidden, tf.tensor1d(Int32Array.from({ length: B }, (_, i) => i * P + P - 1), 'int32'));
        return { logits: session.logits(last), cache: f.cache };
      });
      cache = out.cache;
      return read(out.logits);
    },
    step: (tokens, positions, t) => {
      const old = cache as KVCache;
      const out = tidy(() => {
        const b = stepBias(keyMask, B, width, t);
        const bias = b && tf.tensor4d(b, [B, 1, 1, t + 1]);
        const f = session.forward(tf.tensor1d(tokens, 'int32'), tf.tensor1d(positions, 'int32'), B, 1, bias, old);
        return { logits: session.logits(f.hidden), cache: f.cache };
      });
      disposeCache(old);
      cache = out.cache;
      return read(out.logits);
    },
    dispose: () => {
      if (cache) disposeCache(cache);
      session.dispose();
    },
  };
}

interface Pick {
  token: number;
  logprob: number;
  samplingLogprob: number;
}

/** Samples one token from one row of logits (float64 math on the host). */
export function sampleRow(logits: ArrayLike<number>, rng: Rng, opts: Omit<GenerateOptions, 'maxNewTokens'>): Pick {
  const V = logits.length;
  const temperature = opts.temperature ?? 1;
  if (temperature === 0) {
    let best = 0;
    for (let j = 1; j < V; j++) if ((logits[j] as number) > (logits[best] as number)) best = j;
    // Greedy: the reported logprob is the policy's at temperature 1.
    return { token: best, logprob: logSoftmaxAt(logits, best, 1), samplingLogprob: 0 };
  }
  let max = -Infinity;
  for (let j = 0; j < V; j++) max = Math.max(max, (logits[j] as number) / temperature);
  const p = new Float64Array(V);
  let z = 0;
  for (let j = 0; j < V; j++) z += p[j] = Math.exp((logits[j] as number) / temperature - max);
  for (let j = 0; j < V; j++) (p[j] as number) /= z;

  // Truncation as in Hugging Face's warpers: top-k first, then top-p over the
  // renormalised top-k distribution. Candidates sorted by probability, ties by id.
  const topK = opts.topK && opts.topK > 0 && opts.topK < V ? opts.topK : V;
  const topP = opts.topP !== undefined && opts.topP < 1 ? opts.topP : 1;
  let ids: number[] = [];
  let total = 1;
  if (topK < V || topP < 1) {
    ids = Array.from({ length: V }, (_, j) => j).sort((a, b) => (p[b] as number) - (p[a] as number) || a - b);
    ids.length = topK;
    total = 0;
    for (const j of ids) total += p[j] as number;
    if (topP < 1) {
      let mass = 0;
      let n = 0;
      while (n < ids.length && (n === 0 || mass < topP * total)) mass += p[ids[n++] as number] as number;
      ids.length = n;
      total = mass;
    }
  } else {
    for (let j = 0; j < V; j++) ids.push(j);
  }
  let u = rng.next() * total;
  let token = ids[ids.length - 1] as number; // if rounding leaves u ≥ 0 at the end
  for (const j of ids) {
    u -= p[j] as number;
    if (u < 0) {
      token = j;
      break;
    }
  }
  return {
    token,
    logprob: Math.log(p[token] as number),
    samplingLogprob: Math.log((p[token] as number) / total),
  };
}

function logSoftmaxAt(logits: ArrayLike<number>, idx: number, temperature: number): number {
  let max = -Infinity;
  for (let j = 0; j < logits.length; j++) max = Math.max(max, (logits[j] as number) / temperature);
  let z = 0;
  for (let j = 0; j < logits.length; j++) z += Math.exp((logits[j] as number) / temperature - max);
  return (logits[idx] as number) / temperature - max - Math.log(z);
}

export interface SequenceLogprobs {
  /** [B] rows of per-response-token log-probs (length = each row's response length). */
  logprobs: number[][];
  /** Per-token entropies of the policy at the same positions, if asked. */
  entropies?: number[][];
}

/**
 * log π(response token | prefix) of GIVEN responses under `model`, one
 * forward pass per batch (temperature 1): old log-probs for the PPO ratio and
 * the reference policy's log-probs for the KL penalty.
 */
export async function sequenceLogprobs(
  model: PolicyModel,
  batch: SequenceBatch,
  opts: { entropies?: boolean } = {},
): Promise<SequenceLogprobs> {
  const { batchSize: B, promptLen: P, responseLen: R } = batch;
  if (R === 0) return { logprobs: batch.responseLengths.map(() => []), ...(opts.entropies ? { entropies: batch.responseLengths.map(() => []) } : {}) };
  const [lp, ent] = tf.tidy(() => {
    const { hidden } = model.forward(batchTensors(batch));
    const logits = model.logits(responseHidden(hidden, B, P, R, model.config.dModel)); // [B·R, V]
    const out: tf.Tensor[] = [targetLogprobs(logits, tf.tensor1d(batch.responseIds, 'int32'))];
    if (opts.entropies) out.push(entropyFromLogits(logits));
    return out;
  }) as [tf.Tensor, tf.Tensor | undefined];
  const logprobs = ragged(await readAndDispose(lp), batch);
  if (!ent) return { logprobs };
  return { logprobs, entropies: ragged(await readAndDispose(ent), batch) };
}

/** Values V(prefix) at the positions predicting each response token, [B] ragged rows. */
export async function sequenceValues(model: ValueModel, batch: SequenceBatch): Promise<number[][]> {
  const { batchSize: B, promptLen: P, responseLen: R } = batch;
  if (R === 0) return batch.responseLengths.map(() => []);
  const v = tf.tidy(() => model.head(responseHidden(model.forward(batchTensors(batch)).hidden, B, P, R, model.config.dModel)));
  return ragged(await readAndDispose(v), batch);
}

/** Flat [B·R] host values → one row per sequence, cut to its response length. */
export function ragged(flat: Float32Array, batch: SequenceBatch): number[][] {
  const R = batch.responseLen;
  return batch.responseLengths.map((n, i) => Array.from(flat.subarray(i * R, i * R + n)));
}

async function readAndDispose(t: tf.Tensor): Promise<Float32Array> {
  const data = (await t.data()) as Float32Array;
  t.dispose();
  return data;
}
