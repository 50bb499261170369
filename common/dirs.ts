// Where the tool keeps caches (built servers, TensorFlow's library) and state
// (the embedded Temporal server's database, the local artifact store).
import { homedir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

export function cacheDir(): string {
  return resolve(process.env.CRLHF_CACHE_DIR ?? join(homedir(), '.cache', 'contrastive-rlhf'));
}

export function stateDir(): string {
  return resolve(process.env.CRLHF_STATE_DIR ?? join(homedir(), '.local', 'state', 'contrastive-rlhf'));
}
