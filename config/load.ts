// Loads and validates experiment configs from YAML; every error names the
// file, the line, the field (dotted path), the value and what is allowed.
import { readFile } from 'node:fs/promises';
import { basename, dirname, extname, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { isMap, isSeq, LineCounter, parseDocument, type Document } from 'yaml';
import type { z } from 'zod';
import { ConfigError } from '../common/errors.js';
import { getTask } from '../tasks/index.js';
import { ExperimentSchema, type ExperimentConfig } from './schema.js';

type Path = (string | number)[];

function lineOf(doc: Document, counter: LineCounter, path: Path): number | undefined {
  // Walk down as far as the path exists, so an unknown key points at its parent.
  for (let n = path.length; n >= 0; n--) {
    const node = n === 0 ? doc.contents : doc.getIn(path.slice(0, n), true);
    const range = (node as { range?: [number, number, number] } | undefined)?.range;
    if (range) return counter.linePos(range[0]).line;
  }
  return undefined;
}

function keyLine(doc: Document, counter: LineCounter, path: Path, key: string): number | undefined {
  const parent = path.length ? doc.getIn(path, true) : doc.contents;
  if (isMap(parent)) {
    for (const item of parent.items) {
      const k = item.key as { value?: unknown; range?: [number, number, number] };
      if (k?.value === key && k.range) return counter.linePos(k.range[0]).line;
    }
  }
  return lineOf(doc, counter, path);
}

function describeValue(doc: Document, path: Path): string {
  const v = doc.getIn(path);
  if (v === undefined) return 'missing';
  const s = JSON.stringify(typeof (v as { toJSON?: () => unknown })?.toJSON === 'function' ? (v as { toJSON: () => unknown }).toJSON() : v);
  return s && s.length > 60 ? `${s.slice(0, 57)}...` : String(s);
}

export function formatIssues(file: string, doc: Document | undefined, counter: LineCounter | undefined, issues: z.core.$ZodIssue[]): string[] {
  return issues.map((issue) => {
    const path = issue.path as Path;
    if (issue.code === 'unrecognized_keys') {
      return issue.keys
        .map((k) => {
          const line = doc && counter ? keyLine(doc, counter, path, k) : undefined;
          const field = [...path, k].join('.');
          return `${file}${line ? `:${line}` : ''}: unknown field "${field}"`;
        })
        .join('\n');
    }
    const line = doc && counter ? lineOf(doc, counter, path) : undefined;
    const field = path.length ? path.join('.') : '(top level)';
    const value = doc ? describeValue(doc, path) : undefined;
    return `${file}${line ? `:${line}` : ''}: field "${field}" = ${value}: ${issue.message}`;
  });
}

export interface LoadedConfig {
  config: ExperimentConfig;
  /** The config exactly as written (for the run record). */
  source: string;
  file: string;
}

/** Parses YAML keeping positions, so later errors can name lines; a syntax error names its own. */
export function readYamlDocument(text: string, file: string): { doc: Document; counter: LineCounter } {
  const counter = new LineCounter();
  const doc = parseDocument(text, { lineCounter: counter, prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length) {
    const e = doc.errors[0]!;
    const line = e.linePos?.[0]?.line;
    throw new ConfigError(`${file}${line ? `:${line}` : ''}: malformed YAML: ${e.message.split('\n')[0]}`, file);
  }
  return { doc, counter };
}

/** Parses and validates YAML text; `file` is only used in messages. */
export function parseConfig(text: string, file: string, overrides: Record<string, unknown> = {}): ExperimentConfig {
  const { doc, counter } = readYamlDocument(text, file);
  const raw = doc.toJS() ?? {};
  if (typeof raw !== 'object' || Array.isArray(raw) || isSeq(doc.contents)) {
    throw new ConfigError(`${file}: the config must be a YAML mapping (key: value lines)`, file);
  }
  for (const [path, value] of Object.entries(overrides)) setPath(raw as Record<string, unknown>, path.split('.'), value);
  const parsed = ExperimentSchema.safeParse(raw);
  if (!parsed.success) {
    const lines = formatIssues(file, doc, counter, parsed.error.issues);
    const first = parsed.error.issues[0]!;
    throw new ConfigError(lines.join('\n'), file, first.path.join('.'));
  }
  const config = parsed.data;
  if (config.task !== 'files') {
    try {
      getTask(config.task);
    } catch (err) {
      throw new ConfigError(`${file}:${lineOf(doc, counter, ['task']) ?? ''}: field "task" = ${JSON.stringify(config.task)}: ${(err as Error).message}`, file, 'task');
    }
  }
  config.name ??= basename(file, extname(file)).replace(/[^A-Za-z0-9._-]/g, '-');
  return config;
}

export async function loadConfig(file: string, overrides: Record<string, unknown> = {}): Promise<LoadedConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ConfigError(code === 'ENOENT' ? `${file}: no such config file` : `${file}: cannot read: ${(err as Error).message}`, file);
  }
  const config = parseConfig(text, file, overrides);
  // Data paths are relative to the config file, and workers elsewhere need absolute URIs.
  const files = config.data.files;
  if (files) {
    const abs = (p: string) => (/^[a-z][a-z0-9+.-]*:\/\//i.test(p) ? p : pathToFileURL(resolve(dirname(file), p)).href);
    files.preferences = abs(files.preferences);
    if (files.sft) files.sft = abs(files.sft);
  }
  return { config, source: text, file };
}

/** Sets a dotted path inside a plain object (for sweeps and --set overrides). */
export function setPath(obj: Record<string, unknown>, path: string[], value: unknown): void {
  let cur: Record<string, unknown> = obj;
  for (const [i, key] of path.entries()) {
    if (i === path.length - 1) {
      cur[key] = value;
      return;
    }
    const next = cur[key];
    if (next === undefined || next === null) cur[key] = {};
    else if (typeof next !== 'object' || Array.isArray(next)) throw new ConfigError(`cannot set "${path.join('.')}": "${path.slice(0, i + 1).join('.')}" is not a mapping`);
    cur = cur[key] as Record<string, unknown>;
  }
}
