// Artifact keys and run names end up in file paths and S3 keys, so they are
// validated in one place: no traversal, no absolute paths, bounded length.
import { ConfigError } from '../common/errors.js';

const SEGMENT = /^[A-Za-z0-9._=+@-]+$/;
export const MAX_KEY_LENGTH = 900; // S3 allows 1024 bytes; leave room for the store prefix
export const MAX_NAME_LENGTH = 100;

export function validateKey(key: string): string {
  if (key.length === 0) throw new ConfigError('artifact key is empty');
  if (key.length > MAX_KEY_LENGTH) throw new ConfigError(`artifact key is ${key.length} characters long; the limit is ${MAX_KEY_LENGTH}: ${key.slice(0, 80)}...`);
  if (key.startsWith('/')) throw new ConfigError(`artifact key must be relative, got "${key}"`);
  for (const seg of key.split('/')) {
    if (seg === '' || seg === '.' || seg === '..') throw new ConfigError(`artifact key "${key}" has an empty, "." or ".." segment`);
    if (!SEGMENT.test(seg)) throw new ConfigError(`artifact key "${key}" has a segment "${seg}" with characters outside [A-Za-z0-9._=+@-]`);
  }
  return key;
}

/** A prefix for list/deletePrefix: like a key, but may be empty or end with '/'. */
export function validatePrefix(prefix: string): string {
  if (prefix === '') return prefix;
  validateKey(prefix.endsWith('/') ? prefix.slice(0, -1) : prefix);
  return prefix;
}

/** Run, sweep, arm and step names: one key segment, readable, bounded. */
export function validateName(name: string, what = 'name'): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name)) {
    throw new ConfigError(`${what} "${name}" must start with a letter or digit and contain only letters, digits, ".", "_" and "-"`, undefined, what);
  }
  if (name.length > MAX_NAME_LENGTH) throw new ConfigError(`${what} "${name.slice(0, 40)}..." is longer than ${MAX_NAME_LENGTH} characters`, undefined, what);
  if (name.includes('..')) throw new ConfigError(`${what} "${name}" must not contain ".."`, undefined, what);
  return name;
}

export function joinKey(...parts: string[]): string {
  return parts.filter((p) => p !== '').map((p) => p.replace(/^\/+|\/+$/g, '')).join('/');
}
