// Opens a store from its URI: file:///abs/dir or s3://bucket[/prefix].
import { isAbsolute, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ConfigError } from '../common/errors.js';
import { FileStore } from './file-store.js';
import { S3Store } from './s3-store.js';
import type { ArtifactStore } from './types.js';

export type { ArtifactStore, ObjectInfo, PutResult, Body } from './types.js';
export { FileStore } from './file-store.js';
export { S3Store } from './s3-store.js';
export * from './json.js';
export * from './checkpoint.js';
export { validateKey, validateName, joinKey } from './keys.js';
export { sha256Hex, hashJson, canonicalJson } from './digest.js';

const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

export function openStore(uri: string): ArtifactStore {
  if (uri.startsWith('file://')) {
    let path: string;
    try {
      path = fileURLToPath(uri);
    } catch (err) {
      throw new ConfigError(`malformed store URI "${uri}": ${(err as Error).message}; expected file:///absolute/dir`);
    }
    return new FileStore(path.replace(/\/+$/, '') || '/');
  }
  if (uri.startsWith('s3://')) {
    const rest = uri.slice('s3://'.length).replace(/\/+$/, '');
    const [bucket = '', ...prefix] = rest.split('/');
    if (!BUCKET.test(bucket)) {
      throw new ConfigError(`malformed store URI "${uri}": bucket "${bucket}" is not a valid S3 bucket name (3-63 lowercase letters, digits, "." and "-")`);
    }
    if (prefix.some((p) => p === '' || p === '.' || p === '..')) {
      throw new ConfigError(`malformed store URI "${uri}": the prefix has an empty, "." or ".." segment`);
    }
    return new S3Store(bucket, prefix.join('/'));
  }
  throw new ConfigError(`malformed store URI "${uri}": expected file:///absolute/dir or s3://bucket/prefix`);
}

/** Accepts a URI or a local path (made absolute) and returns a URI. */
export function toUri(pathOrUri: string): string {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(pathOrUri)) return pathOrUri;
  return pathToFileURL(isAbsolute(pathOrUri) ? pathOrUri : resolve(pathOrUri)).href;
}

/** Splits an object URI into its parent store and key, for data files named by URI. */
export function openObject(uri: string): { store: ArtifactStore; key: string } {
  const u = toUri(uri);
  const slash = u.lastIndexOf('/');
  const parent = u.slice(0, slash);
  const key = u.slice(slash + 1);
  if (!key) throw new ConfigError(`"${uri}" names a directory, not a file`);
  if (u.startsWith('s3://') && !parent.slice(5).includes('/') && parent.length <= 5) {
    throw new ConfigError(`malformed object URI "${uri}": expected s3://bucket/key`);
  }
  return { store: openStore(parent === 'file://' ? 'file:///' : parent), key };
}
