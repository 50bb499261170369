// The artifact store: one interface for file:// (the embedded default) and
// s3:// (any S3-compatible server). Keys are '/'-separated paths relative to
// the store's root URI, validated by keys.ts.
import type { Readable } from 'node:stream';

export interface ObjectInfo {
  key: string;
  uri: string;
  size: number;
  lastModified?: Date;
}

export interface PutResult {
  key: string;
  uri: string;
  size: number;
  /** Hex SHA-256 of the bytes written. */
  sha256: string;
}

export type Body = Uint8Array | string;

export interface ArtifactStore {
  /** Root URI, e.g. `file:///home/me/.local/state/contrastive-rlhf/store` or `s3://bucket/prefix`. */
  readonly root: string;
  uri(key: string): string;
  /** Writes atomically: a reader sees the old object or the whole new one, never a part. */
  put(key: string, body: Body, opts?: { contentType?: string }): Promise<PutResult>;
  /** Streams of unknown length; large objects go up in parts. */
  putStream(key: string, body: Readable | AsyncIterable<Uint8Array>, opts?: { contentType?: string }): Promise<PutResult>;
  /** Throws NotFoundError when the key does not exist. */
  get(key: string): Promise<Uint8Array>;
  getStream(key: string): Promise<Readable>;
  head(key: string): Promise<ObjectInfo | null>;
  exists(key: string): Promise<boolean>;
  /** All objects whose key starts with `prefix` (a plain string prefix, as in S3), sorted by key. */
  list(prefix: string): Promise<ObjectInfo[]>;
  delete(key: string): Promise<void>;
  deletePrefix(prefix: string): Promise<number>;
  /** Checks that the store is reachable and writable (bucket exists, credentials work). */
  check(): Promise<void>;
}
