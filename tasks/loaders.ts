// Streaming loaders for real preference and SFT data in the JSONL formats
// people already have. Input: an async iterable of text lines (the storage
// layer's readLines(uri) for file:// and s3://) and `source`, the file name or
// URI used in errors. Output: async generators, one record per non-blank line.
//
// Errors are DataErrors that name the source, the 1-based line number (blank
// lines count) and the field:  data.jsonl:17: field "chosen": expected a string
//
// Accepted shapes (extra fields are ignored):
//
// 1. Anthropic HH-RLHF:  {"chosen": string, "rejected": string}
//    Each is a dialogue of "\n\nHuman: ..." / "\n\nAssistant: ..." turns.
//    prompt = text up to and including the last "\n\nAssistant:", response =
//    the rest (kept verbatim, usually starting with a space, so prompt +
//    response is the original string). Both must share the prompt.
//
// 2. TL;DR SFT:  {"prompt": string, "summary": string}
//            or  {"post": string, "summary": string, "title"?: string, "subreddit"?: string}
//    "prompt" is used verbatim and wins if both are present; otherwise the
//    prompt is built by formatTldrPrompt (the OpenAI summarize-from-feedback /
//    TRL tldr layout). A null title or subreddit counts as absent.
//
// 3. TL;DR comparisons (OpenAI summarize-from-feedback):
//      {"prompt": string, "summaries": [{"text": string}, {"text": string}], "choice": 0 | 1}
//   or {"info": {"post": string, "title"?: string, "subreddit"?: string},
//       "summaries": [...], "choice": 0 | 1}
//    chosen = summaries[choice].text, rejected = the other.

import { DataError } from '../common/errors.js';
import type { Example, PreferenceRecord } from './types.js';

export interface SourceLocation {
  /** The file name or URI the record came from. */
  source: string;
  /** 1-based line number in that source. */
  line: number;
}

/** A preference pair read from real data: no gold reward, no known flips. */
export interface LoadedPreferencePair extends PreferenceRecord, SourceLocation {}

export interface LoadedExample extends Example, SourceLocation {}

export interface LoaderOptions {
  /** Record ids are `${idPrefix}-L${line}`; default: the source's base name. */
  idPrefix?: string;
}

type JsonObject = Record<string, unknown>;

const ASSISTANT_TAG = '\n\nAssistant:';

/** Split an HH dialogue at its last assistant turn; null if there is none. */
export function splitHhDialogue(text: string): { prompt: string; response: string } | null {
  const i = text.lastIndexOf(ASSISTANT_TAG);
  if (i < 0) return null;
  const cut = i + ASSISTANT_TAG.length;
  return { prompt: text.slice(0, cut), response: text.slice(cut) };
}

export interface TldrPost {
  post: string;
  title?: string;
  subreddit?: string;
}

/** "SUBREDDIT: r/{subreddit}\n\nTITLE: {title}\n\nPOST: {post}\n\nTL;DR:", omitting absent parts. */
export function formatTldrPrompt(p: TldrPost): string {
  const parts: string[] = [];
  if (p.subreddit !== undefined) parts.push(`SUBREDDIT: r/${p.subreddit}`);
  if (p.title !== undefined) parts.push(`TITLE: ${p.title}`);
  parts.push(`POST: ${p.post}`);
  parts.push('TL;DR:');
  return parts.join('\n\n');
}

export async function* loadHhRlhf(
  lines: AsyncIterable<string>,
  source: string,
  opts: LoaderOptions = {},
): AsyncGenerator<LoadedPreferencePair> {
  const prefix = opts.idPrefix ?? baseName(source);
  for await (const { obj, line, err } of jsonObjects(lines, source)) {
    const chosenText = requireString(obj, 'chosen', err);
    const rejectedText = requireString(obj, 'rejected', err);
    const chosen = splitHhDialogue(chosenText);
    if (!chosen) throw err('chosen', `expected a dialogue with an "\\n\\nAssistant:" turn`);
    const rejected = splitHhDialogue(rejectedText);
    if (!rejected) throw err('rejected', `expected a dialogue with an "\\n\\nAssistant:" turn`);
    if (chosen.prompt !== rejected.prompt) {
      throw err('rejected', `its prompt differs from the prompt of "chosen" (first difference at character ${firstDifference(chosen.prompt, rejected.prompt)})`);
    }
    yield { id: `${prefix}-L${line}`, prompt: chosen.prompt, chosen: chosen.response, rejected: rejected.response, source, line };
  }
}

export async function* loadTldrSft(
  lines: AsyncIterable<string>,
  source: string,
  opts: LoaderOptions = {},
): AsyncGenerator<LoadedExample> {
  const prefix = opts.idPrefix ?? baseName(source);
  for await (const { obj, line, err } of jsonObjects(lines, source)) {
    const prompt = tldrPrompt(obj, err);
    const response = requireString(obj, 'summary', err);
    yield { id: `${prefix}-L${line}`, prompt, response, source, line };
  }
}

export async function* loadTldrComparisons(
  lines: AsyncIterable<string>,
  source: string,
  opts: LoaderOptions = {},
): AsyncGenerator<LoadedPreferencePair> {
  const prefix = opts.idPrefix ?? baseName(source);
  for await (const { obj, line, err } of jsonObjects(lines, source)) {
    let prompt: string;
    if ('prompt' in obj) {
      prompt = requireString(obj, 'prompt', err);
    } else if ('info' in obj) {
      const info = obj.info;
      if (!isObject(info)) throw err('info', `expected an object, got ${describe(info)}`);
      prompt = formatTldrPrompt(postFields(info, 'info.', err));
    } else {
      throw err('prompt', 'missing: expected "prompt" or "info"');
    }
    const summaries = obj.summaries;
    if (!Array.isArray(summaries)) throw err('summaries', `expected an array of 2 summaries, got ${describe(summaries)}`);
    if (summaries.length !== 2) throw err('summaries', `expected exactly 2 summaries, got ${summaries.length}`);
    const texts = summaries.map((s, i) => {
      if (!isObject(s)) throw err(`summaries[${i}]`, `expected an object with a "text" string, got ${describe(s)}`);
      return requireString(s, 'text', err, `summaries[${i}].`);
    });
    const choice = obj.choice;
    if (choice !== 0 && choice !== 1) throw err('choice', `expected 0 or 1, got ${describe(choice)}`);
    yield { id: `${prefix}-L${line}`, prompt, chosen: texts[choice]!, rejected: texts[1 - choice]!, source, line };
  }
}

// ---------------------------------------------------------------------------

/** Builds a DataError located at the current line. */
type ErrAt = (field: string | undefined, message: string) => DataError;

/** Parse each non-blank line as a JSON object; `err` builds a DataError located at that line. */
async function* jsonObjects(
  lines: AsyncIterable<string>,
  source: string,
): AsyncGenerator<{ obj: JsonObject; line: number; err: ErrAt }> {
  let line = 0;
  for await (const raw of lines) {
    line++;
    const text = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (text.trim() === '') continue;
    const at = line;
    const err: ErrAt = (field, message) =>
      new DataError(`${source}:${at}: ${field !== undefined ? `field "${field}": ` : ''}${message}`, source, at, field);
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (e) {
      throw err(undefined, `invalid JSON (${e instanceof Error ? e.message : String(e)})`);
    }
    if (!isObject(value)) throw err(undefined, `expected a JSON object, got ${describe(value)}`);
    yield { obj: value, line: at, err };
  }
}

function tldrPrompt(obj: JsonObject, err: ErrAt): string {
  if ('prompt' in obj) return requireString(obj, 'prompt', err);
  if ('post' in obj) return formatTldrPrompt(postFields(obj, '', err));
  throw err('prompt', 'missing: expected "prompt" or "post"');
}

function postFields(obj: JsonObject, path: string, err: ErrAt): TldrPost {
  const post: TldrPost = { post: requireString(obj, 'post', err, path) };
  for (const key of ['title', 'subreddit'] as const) {
    if (obj[key] !== undefined && obj[key] !== null) post[key] = requireString(obj, key, err, path);
  }
  return post;
}

function requireString(obj: JsonObject, key: string, err: ErrAt, path = ''): string {
  const v = obj[key];
  if (typeof v !== 'string') throw err(`${path}${key}`, v === undefined ? 'missing: expected a string' : `expected a string, got ${describe(v)}`);
  return v;
}

function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (v === undefined) return 'nothing';
  return typeof v === 'object' ? 'an object' : `${typeof v} ${JSON.stringify(v)}`.slice(0, 60);
}

function firstDifference(a: string, b: string): number {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return i;
}

function baseName(source: string): string {
  const noQuery = source.split(/[?#]/)[0] ?? source;
  return noQuery.split('/').filter((s) => s !== '').pop() ?? source;
}
