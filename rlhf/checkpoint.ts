// A training state as plain bytes, independent of where it is stored: the
// storage layer commits `files` atomically with a manifest. Everything needed
// to continue bit-for-bit on the same backend is here: every named weight
// (float32 little-endian), optimizer moments and step counts, RNG states, the
// KL controller, the tokenizer and model configs (so a checkpoint is
// self-describing), plus the caller's own JSON (`extra`).
import { endianness } from 'node:os';
import * as tf from '@tensorflow/tfjs';
import { klControllerFromJSON, type KLController, type KLControllerJSON } from './kl.js';
import { PolicyModel, RewardModel, ValueModel, type AnyModel, type ResolvedConfig } from './model.js';
import { AdamW, type AdamWState } from './optim.js';
import { Rng, type RngState } from './rng.js';
import { Tokenizer, type TokenizerJSON } from './tokenizer.js';

// Distinct from storage's manifest schema ('crlhf.checkpoint/v1'): this names
// the layout of the files a training state serialises to.
export const CHECKPOINT_FORMAT = 'crlhf.training-state/v1';

interface TensorEntry {
  name: string;
  shape: number[];
  /** Offset into the file, in float32 elements. */
  offset: number;
}

// A type alias (not an interface) so it is assignable to the storage layer's
// Record<string, unknown> manifest meta.
export type CheckpointMeta = {
  format: typeof CHECKPOINT_FORMAT;
  step: number;
  models: Record<string, { kind: AnyModel['kind']; config: ResolvedConfig; file: string; tensors: TensorEntry[] }>;
  /** Moments in `file`: all m tensors, then all v tensors, in `tensors` order. */
  optimizers: Record<string, { step: number; beta1: number; beta2: number; eps: number; weightDecay: number; file: string; tensors: TensorEntry[] }>;
  rngs: Record<string, RngState>;
  tokenizer?: TokenizerJSON;
  klController?: KLControllerJSON;
  extra?: Record<string, unknown>;
};

export interface Checkpoint {
  /** Relative path → bytes; includes `meta.json` (the same object as `meta`). */
  files: Record<string, Uint8Array>;
  meta: CheckpointMeta;
}

export interface TrainingState {
  step: number;
  models: Record<string, AnyModel>;
  optimizers?: Record<string, AdamW>;
  rngs?: Record<string, Rng>;
  tokenizer?: Tokenizer;
  klController?: KLController;
  extra?: Record<string, unknown>;
}

export async function saveCheckpoint(state: TrainingState): Promise<Checkpoint> {
  const files: Record<string, Uint8Array> = {};
  const meta: CheckpointMeta = { format: CHECKPOINT_FORMAT, step: state.step, models: {}, optimizers: {}, rngs: {} };
  for (const [key, model] of Object.entries(state.models)) {
    const file = `weights/${safeName(key)}.f32`;
    const arrays: Float32Array[] = [];
    const tensors: TensorEntry[] = [];
    let offset = 0;
    for (const [name, v] of model.params) {
      arrays.push((await v.data()) as Float32Array);
      tensors.push({ name, shape: [...v.shape], offset });
      offset += v.size;
    }
    files[file] = float32ToBytes(arrays, offset);
    meta.models[key] = { kind: model.kind, config: { ...model.config }, file, tensors };
  }
  for (const [key, opt] of Object.entries(state.optimizers ?? {})) {
    const s = await opt.exportState();
    const file = `optimizer/${safeName(key)}.f32`;
    const names = Object.keys(s.m);
    const tensors: TensorEntry[] = [];
    let offset = 0;
    for (const name of names) {
      tensors.push({ name, shape: [(s.m[name] as Float32Array).length], offset });
      offset += (s.m[name] as Float32Array).length;
    }
    files[file] = float32ToBytes([...names.map((n) => s.m[n] as Float32Array), ...names.map((n) => s.v[n] as Float32Array)], 2 * offset);
    meta.optimizers[key] = { step: s.step, beta1: opt.beta1, beta2: opt.beta2, eps: opt.eps, weightDecay: opt.weightDecay, file, tensors };
  }
  for (const [key, rng] of Object.entries(state.rngs ?? {})) meta.rngs[key] = rng.state();
  if (state.tokenizer) meta.tokenizer = state.tokenizer.toJSON();
  if (state.klController) meta.klController = state.klController.toJSON();
  if (state.extra) meta.extra = JSON.parse(JSON.stringify(state.extra)) as Record<string, unknown>;
  files['meta.json'] = new TextEncoder().encode(JSON.stringify(meta));
  return { files, meta };
}

/** Reads a checkpoint's meta from its files alone (as the storage layer hands them back). */
export function checkpointFromFiles(files: Record<string, Uint8Array>): Checkpoint {
  const raw = files['meta.json'];
  if (!raw) throw new Error('checkpoint has no meta.json');
  const meta = JSON.parse(new TextDecoder().decode(raw)) as CheckpointMeta;
  if (meta.format !== CHECKPOINT_FORMAT) throw new Error(`checkpoint format ${String(meta.format)} is not ${CHECKPOINT_FORMAT}`);
  return { files, meta };
}

/** Loads the weights saved under `key` into an existing model of the same config. */
export function loadModelWeights(ckpt: Checkpoint, key: string, model: AnyModel): void {
  const entry = ckpt.meta.models[key];
  if (!entry) throw new Error(`checkpoint has no model "${key}" (has ${Object.keys(ckpt.meta.models).join(', ')})`);
  const data = bytesToFloat32(fileOf(ckpt, entry.file));
  if (entry.tensors.length !== model.params.size) throw new Error(`checkpoint model "${key}" has ${entry.tensors.length} tensors, the model ${model.params.size}`);
  tf.tidy(() => {
    for (const t of entry.tensors) {
      const v = model.params.get(t.name);
      if (!v) throw new Error(`checkpoint model "${key}": the model has no parameter ${t.name}`);
      if (v.shape.join() !== t.shape.join()) throw new Error(`checkpoint model "${key}": ${t.name} is [${t.shape}], the model's [${v.shape}]`);
      v.assign(tf.tensor(data.subarray(t.offset, t.offset + v.size), v.shape, 'float32'));
    }
  });
}

/** A fresh model (kind and config from the checkpoint) holding the weights saved under `key`. */
export function modelFromCheckpoint(ckpt: Checkpoint, key: string): AnyModel {
  const entry = ckpt.meta.models[key];
  if (!entry) throw new Error(`checkpoint has no model "${key}"`);
  const rng = new Rng(0); // weights are overwritten below
  const model =
    entry.kind === 'policy' ? new PolicyModel(entry.config, rng) : entry.kind === 'value' ? new ValueModel(entry.config, rng) : new RewardModel(entry.config, rng);
  loadModelWeights(ckpt, key, model);
  return model;
}

export function loadOptimizerState(ckpt: Checkpoint, key: string, opt: AdamW): void {
  const entry = ckpt.meta.optimizers[key];
  if (!entry) throw new Error(`checkpoint has no optimizer "${key}"`);
  const data = bytesToFloat32(fileOf(ckpt, entry.file));
  const half = data.length / 2;
  const state: AdamWState = { step: entry.step, m: {}, v: {} };
  for (const t of entry.tensors) {
    const n = t.shape[0] as number;
    state.m[t.name] = data.slice(t.offset, t.offset + n);
    state.v[t.name] = data.slice(half + t.offset, half + t.offset + n);
  }
  opt.loadState(state);
}

export function rngFromCheckpoint(ckpt: Checkpoint, key: string): Rng {
  const s = ckpt.meta.rngs[key];
  if (!s) throw new Error(`checkpoint has no RNG "${key}"`);
  return Rng.fromState(s);
}

export function tokenizerFromCheckpoint(ckpt: Checkpoint): Tokenizer {
  if (!ckpt.meta.tokenizer) throw new Error('checkpoint has no tokenizer');
  return Tokenizer.fromJSON(ckpt.meta.tokenizer);
}

export function klControllerFromCheckpoint(ckpt: Checkpoint): KLController {
  if (!ckpt.meta.klController) throw new Error('checkpoint has no KL controller');
  return klControllerFromJSON(ckpt.meta.klController, 'checkpoint meta.klController');
}

/**
 * Restores everything `state` names (models, optimizers) in place; returns
 * the checkpoint's RNGs, step, KL controller and extra for the caller to adopt.
 */
export function restoreCheckpoint(
  ckpt: Checkpoint,
  into: { models: Record<string, AnyModel>; optimizers?: Record<string, AdamW> },
): { step: number; rngs: Record<string, Rng>; klController?: KLController; tokenizer?: Tokenizer; extra?: Record<string, unknown> } {
  for (const [key, model] of Object.entries(into.models)) loadModelWeights(ckpt, key, model);
  for (const [key, opt] of Object.entries(into.optimizers ?? {})) loadOptimizerState(ckpt, key, opt);
  const rngs: Record<string, Rng> = {};
  for (const key of Object.keys(ckpt.meta.rngs)) rngs[key] = rngFromCheckpoint(ckpt, key);
  return {
    step: ckpt.meta.step,
    rngs,
    ...(ckpt.meta.klController ? { klController: klControllerFromCheckpoint(ckpt) } : {}),
    ...(ckpt.meta.tokenizer ? { tokenizer: tokenizerFromCheckpoint(ckpt) } : {}),
    ...(ckpt.meta.extra ? { extra: ckpt.meta.extra } : {}),
  };
}

function fileOf(ckpt: Checkpoint, path: string): Uint8Array {
  const f = ckpt.files[path];
  if (!f) throw new Error(`checkpoint is missing ${path}`);
  return f;
}

function safeName(key: string): string {
  if (!/^[A-Za-z0-9_.-]+$/.test(key)) throw new Error(`checkpoint key "${key}" must be [A-Za-z0-9_.-]+`);
  return key;
}

const LITTLE_ENDIAN = endianness() === 'LE';

function float32ToBytes(arrays: Float32Array[], total: number): Uint8Array {
  const out = new Uint8Array(total * 4);
  if (LITTLE_ENDIAN) {
    const view = new Float32Array(out.buffer);
    let o = 0;
    for (const a of arrays) {
      view.set(a, o);
      o += a.length;
    }
    return out;
  }
  const dv = new DataView(out.buffer);
  let o = 0;
  for (const a of arrays) for (const x of a) dv.setFloat32(4 * o++, x, true);
  return out;
}

function bytesToFloat32(bytes: Uint8Array): Float32Array {
  if (bytes.byteLength % 4 !== 0) throw new Error(`float32 file of ${bytes.byteLength} bytes`);
  const n = bytes.byteLength / 4;
  if (LITTLE_ENDIAN) {
    // Copy: the input may be a view at an unaligned offset of a larger buffer.
    const copy = new Uint8Array(bytes);
    return new Float32Array(copy.buffer, 0, n);
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = dv.getFloat32(4 * i, true);
  return out;
}
