// Judgments cost money; a cache of ordered calls lets a retried or resumed
// evaluation pay for each call once. The storage layer implements the
// interface over S3 or files; the in-memory one serves tests and one-off runs.
import { createHash } from 'node:crypto';
import type { Order } from './types.js';

export interface JudgmentCache {
  /** The value stored under `key`, or null. Values are JSON; callers validate them. */
  get(key: string): Promise<unknown | null>;
  put(key: string, value: unknown): Promise<void>;
}

export class MemoryJudgmentCache implements JudgmentCache {
  private readonly entries = new Map<string, string>();

  async get(key: string): Promise<unknown | null> {
    const text = this.entries.get(key);
    // Stored as JSON text so a caller mutating a returned value cannot change the cache.
    return text === undefined ? null : (JSON.parse(text) as unknown);
  }

  async put(key: string, value: unknown): Promise<void> {
    this.entries.set(key, JSON.stringify(value));
  }

  get size(): number {
    return this.entries.size;
  }
}

export interface CallKeyParts {
  model: string;
  promptVersion: string;
  /** sha256 of the prompt spec: an edited template without a new version must not hit old entries. */
  promptSha256: string;
  order: Order;
  prompt: string;
  /** Arm A's and arm B's responses (canonical order; `order` says which was shown first). */
  responseA: string;
  responseB: string;
  /** Decoding parameters change the output, so they are part of the identity of a call. */
  temperature: number;
  maxTokens: number;
  seed: number | null;
}

/** sha256 (hex) over the parts, JSON-encoded so no two distinct tuples collide by concatenation. */
export function callCacheKey(p: CallKeyParts): string {
  const tuple = [p.model, p.promptVersion, p.promptSha256, p.order, p.prompt, p.responseA, p.responseB, p.temperature, p.maxTokens, p.seed];
  return createHash('sha256').update(JSON.stringify(tuple)).digest('hex');
}
