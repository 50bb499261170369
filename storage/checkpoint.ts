// Atomic checkpoint commit: a checkpoint is a set of objects plus a manifest
// (sizes, SHA-256 digests, config hash, step) written LAST. A reader trusts
// only complete manifests and verifies every digest, so a crash in the middle
// of a write can never be loaded as a checkpoint.
import { DataError, NotFoundError } from '../common/errors.js';
import { sha256Hex } from './digest.js';
import { joinKey, validateKey } from './keys.js';
import { getJson, putJson } from './json.js';
import type { ArtifactStore } from './types.js';

export const CHECKPOINT_SCHEMA = 'crlhf.checkpoint/v1';
export const MANIFEST_NAME = 'MANIFEST.json';

export interface CheckpointFile {
  name: string;
  key: string;
  size: number;
  sha256: string;
}

export interface CheckpointManifest {
  schema: typeof CHECKPOINT_SCHEMA;
  step: number;
  configHash: string;
  createdAt: string;
  /** Key of the checkpoint directory inside the store. */
  dir: string;
  uri: string;
  files: CheckpointFile[];
  meta: Record<string, unknown>;
}

export class CorruptCheckpointError extends DataError {
  override name = 'CorruptCheckpointError';
}

export function checkpointDir(prefix: string, step: number): string {
  return joinKey(prefix, `step-${String(step).padStart(8, '0')}`);
}

export interface CommitOptions {
  step: number;
  configHash: string;
  files: Record<string, Uint8Array>;
  meta?: Record<string, unknown>;
  /** Test hook: runs after each object is written (before the manifest). */
  afterObject?: (index: number, name: string) => Promise<void> | void;
}

export async function commitCheckpoint(store: ArtifactStore, prefix: string, opts: CommitOptions): Promise<CheckpointManifest> {
  const dir = checkpointDir(prefix, opts.step);
  const files: CheckpointFile[] = [];
  let i = 0;
  for (const [name, bytes] of Object.entries(opts.files)) {
    validateKey(name);
    const res = await store.put(joinKey(dir, name), bytes);
    files.push({ name, key: res.key, size: res.size, sha256: res.sha256 });
    await opts.afterObject?.(i++, name);
  }
  const manifest: CheckpointManifest = {
    schema: CHECKPOINT_SCHEMA,
    step: opts.step,
    configHash: opts.configHash,
    createdAt: new Date().toISOString(),
    dir,
    uri: store.uri(joinKey(dir, MANIFEST_NAME)),
    files,
    meta: opts.meta ?? {},
  };
  await putJson(store, joinKey(dir, MANIFEST_NAME), manifest);
  return manifest;
}

export async function readManifest(store: ArtifactStore, dir: string): Promise<CheckpointManifest> {
  const m = await getJson<CheckpointManifest>(store, joinKey(dir, MANIFEST_NAME));
  if (m.schema !== CHECKPOINT_SCHEMA || !Array.isArray(m.files)) {
    throw new CorruptCheckpointError(`${store.uri(joinKey(dir, MANIFEST_NAME))} is not a ${CHECKPOINT_SCHEMA} manifest`, store.uri(dir));
  }
  return m;
}

export interface LoadedCheckpoint {
  manifest: CheckpointManifest;
  files: Record<string, Uint8Array>;
}

/** Loads every file of a committed checkpoint and verifies sizes and digests. */
export async function loadCheckpoint(store: ArtifactStore, dir: string): Promise<LoadedCheckpoint> {
  const manifest = await readManifest(store, dir);
  const files: Record<string, Uint8Array> = {};
  for (const f of manifest.files) {
    let bytes: Uint8Array;
    try {
      bytes = await store.get(f.key);
    } catch (err) {
      if (err instanceof NotFoundError) {
        throw new CorruptCheckpointError(`checkpoint ${store.uri(dir)} lists ${f.name}, which is missing`, store.uri(f.key));
      }
      throw err;
    }
    if (bytes.byteLength !== f.size || sha256Hex(bytes) !== f.sha256) {
      throw new CorruptCheckpointError(
        `checkpoint file ${store.uri(f.key)} does not match its manifest (size ${bytes.byteLength} vs ${f.size}, or SHA-256 differs)`,
        store.uri(f.key),
      );
    }
    files[f.name] = bytes;
  }
  return { manifest, files };
}

/** Manifests of committed checkpoints under `prefix`, newest step first. */
export async function listCheckpoints(store: ArtifactStore, prefix: string): Promise<CheckpointManifest[]> {
  const objs = await store.list(prefix.endsWith('/') ? prefix : `${prefix}/`);
  const manifests: CheckpointManifest[] = [];
  for (const o of objs) {
    if (!o.key.endsWith(`/${MANIFEST_NAME}`)) continue;
    try {
      manifests.push(await readManifest(store, o.key.slice(0, -MANIFEST_NAME.length - 1)));
    } catch (err) {
      if (!(err instanceof DataError)) throw err;
    }
  }
  return manifests.sort((a, b) => b.step - a.step);
}

/**
 * The newest checkpoint whose files all verify; a corrupted one is skipped
 * (reported through `onSkip`) in favour of the one before it.
 */
export async function loadLatestCheckpoint(
  store: ArtifactStore,
  prefix: string,
  onSkip?: (dir: string, err: Error) => void,
): Promise<LoadedCheckpoint | null> {
  for (const m of await listCheckpoints(store, prefix)) {
    try {
      return await loadCheckpoint(store, m.dir);
    } catch (err) {
      if (!(err instanceof CorruptCheckpointError)) throw err;
      onSkip?.(m.dir, err);
    }
  }
  return null;
}

/** Keeps the newest `keep` checkpoints; deletes the manifest first so no half-deleted checkpoint is ever visible. */
export async function pruneCheckpoints(store: ArtifactStore, prefix: string, keep: number): Promise<number> {
  const all = await listCheckpoints(store, prefix);
  let removed = 0;
  for (const m of all.slice(keep)) {
    await store.delete(joinKey(m.dir, MANIFEST_NAME));
    for (const f of m.files) await store.delete(f.key);
    removed++;
  }
  return removed;
}
