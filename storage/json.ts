// JSON and JSONL on top of any store.
import { createInterface } from 'node:readline';
import { Readable } from 'node:stream';
import { DataError } from '../common/errors.js';
import type { ArtifactStore, PutResult } from './types.js';

export async function putJson(store: ArtifactStore, key: string, value: unknown): Promise<PutResult> {
  return store.put(key, `${JSON.stringify(value, null, 2)}\n`, { contentType: 'application/json' });
}

export async function getJson<T = unknown>(store: ArtifactStore, key: string): Promise<T> {
  const text = new TextDecoder().decode(await store.get(key));
  try {
    return JSON.parse(text) as T;
  } catch (err) {
    throw new DataError(`${store.uri(key)} is not valid JSON: ${(err as Error).message}`, store.uri(key));
  }
}

export async function getJsonOrNull<T = unknown>(store: ArtifactStore, key: string): Promise<T | null> {
  if (!(await store.exists(key))) return null;
  return getJson<T>(store, key);
}

/** Writes rows as JSON lines, streamed, so shards of any size never sit in memory twice. */
export async function putJsonl(store: ArtifactStore, key: string, rows: Iterable<unknown> | AsyncIterable<unknown>): Promise<PutResult> {
  const lines = Readable.from(
    (async function* () {
      for await (const row of rows as AsyncIterable<unknown>) yield Buffer.from(`${JSON.stringify(row)}\n`);
    })(),
  );
  return store.putStream(key, lines, { contentType: 'application/x-ndjson' });
}

/** Lines of a text object, streamed. */
export async function* readLines(store: ArtifactStore, key: string): AsyncGenerator<string> {
  const stream = await store.getStream(key);
  const rl = createInterface({ input: stream, crlfDelay: Infinity });
  for await (const line of rl) yield line;
}

/** Parsed JSON lines; a bad line is a DataError naming the URI and line number. */
export async function* readJsonl<T = unknown>(store: ArtifactStore, key: string): AsyncGenerator<T> {
  let n = 0;
  for await (const line of readLines(store, key)) {
    n++;
    if (line.trim() === '') continue;
    try {
      yield JSON.parse(line) as T;
    } catch (err) {
      throw new DataError(`${store.uri(key)}:${n}: not valid JSON: ${(err as Error).message}`, store.uri(key), n);
    }
  }
}
