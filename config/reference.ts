// The config reference (README, `crlhf config reference`) generated from the
// schema itself, so documentation and validation cannot drift apart.
import { z } from 'zod';
import { ExperimentSchema } from './schema.js';

export interface JsonSchema {
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  additionalProperties?: JsonSchema | boolean;
  propertyNames?: { pattern?: string };
  items?: JsonSchema | JsonSchema[];
  prefixItems?: JsonSchema[];
  anyOf?: JsonSchema[];
  enum?: unknown[];
  default?: unknown;
  description?: string;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  minItems?: number;
  pattern?: string;
}

/** A field's type and range as the reference tables show it. */
export function typeOf(s: JsonSchema): string {
  if (s.enum) return s.enum.map((e) => JSON.stringify(e)).join(' \\| ');
  if (s.anyOf) return s.anyOf.map(typeOf).join(' \\| ');
  if (s.type === 'object' && s.propertyNames?.pattern && typeof s.additionalProperties === 'object') return `knob → ${typeOf(s.additionalProperties)}`;
  if (s.type === 'object' && s.properties) return `{${Object.keys(s.properties).join(', ')}}`;
  if (s.type === 'object') return 'mapping';
  if (s.type === 'array') {
    if (s.prefixItems) return `[${s.prefixItems.map(typeOf).join(', ')}]`;
    return `list of ${s.items && !Array.isArray(s.items) ? typeOf(s.items) : 'any'}`;
  }
  const t = String(s.type ?? 'any');
  const lo = s.exclusiveMinimum !== undefined ? `> ${s.exclusiveMinimum}` : s.minimum !== undefined ? `≥ ${s.minimum}` : '';
  const hi = s.exclusiveMaximum !== undefined ? `< ${s.exclusiveMaximum}` : s.maximum !== undefined && s.maximum < 1e15 ? `≤ ${s.maximum}` : '';
  const range = [lo, hi].filter(Boolean).join(', ');
  return range ? `${t} (${range})` : t;
}

function walk(s: JsonSchema, path: string, rows: string[][]): void {
  const isSection = s.type === 'object' && s.properties && !s.anyOf;
  if (isSection && path) rows.push([`**${path}**`, '', '', s.description ?? '']);
  if (isSection) {
    for (const [k, v] of Object.entries(s.properties!)) walk(v, path ? `${path}.${k}` : k, rows);
    return;
  }
  const def = s.default === undefined ? '' : `\`${JSON.stringify(s.default)}\``;
  rows.push([`\`${path}\``, typeOf(s), def, (s.description ?? '').replace(/\|/g, '\\|')]);
}

/** A Markdown table of every config field: dotted path, type and range, default, description. */
export function configReference(): string {
  const schema = z.toJSONSchema(ExperimentSchema, { io: 'input', unrepresentable: 'any' }) as JsonSchema;
  const rows: string[][] = [];
  walk(schema, '', rows);
  return referenceTable(rows);
}

/** Rows of [field, type, default, meaning] as a Markdown table. */
export function referenceTable(rows: string[][]): string {
  const head = ['field', 'type', 'default', 'meaning'];
  return [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}
