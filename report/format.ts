// Number and text formatting shared by the HTML and Markdown output, so both
// show exactly the same figures.
import type { Estimate } from './types.js';

export const DASH = '—';

/** 3 significant digits, no exponent for ordinary magnitudes, '—' for a missing value. */
export function sig(x: number | null | undefined, digits = 3): string {
  if (x === null || x === undefined || Number.isNaN(x)) return DASH;
  if (!Number.isFinite(x)) return x > 0 ? '∞' : '-∞';
  if (x === 0) return '0';
  const a = Math.abs(x);
  if (a < 1e-4 || a >= 1e9) return x.toExponential(digits - 1);
  // Rounding to significant digits, then printing without trailing zeros
  // or thousands separators: tables stay aligned and copyable.
  const rounded = Number(x.toPrecision(digits));
  return Object.is(rounded, -0) ? '0' : String(rounded);
}

/** A count with thousands separators. */
export function int(n: number | null | undefined): string {
  if (n === null || n === undefined || Number.isNaN(n)) return DASH;
  return Math.round(n).toLocaleString('en-US');
}

/** "[lo, hi]" of an estimate. */
export function interval(e: Estimate | null | undefined): string {
  return e ? `[${sig(e.lo)}, ${sig(e.hi)}]` : '';
}

/** "value [lo, hi]". */
export function withCi(e: Estimate | null | undefined): string {
  return e ? `${sig(e.value)} ${interval(e)}` : DASH;
}

export function usd(x: number | null | undefined): string {
  if (x === null || x === undefined) return 'unknown';
  return x === 0 ? '$0' : `$${sig(x)}`;
}

export function share(part: number, whole: number): string {
  return whole > 0 ? sig(part / whole) : DASH;
}

/** "43 min 52 s" between two ISO timestamps; '—' when either is missing or unparsable. */
export function duration(from: string, to: string | null): string {
  if (!to) return DASH;
  const ms = Date.parse(to) - Date.parse(from);
  if (!Number.isFinite(ms) || ms < 0) return DASH;
  const s = Math.round(ms / 1000);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  if (h) return `${h} h ${m} min`;
  if (m) return `${m} min ${sec} s`;
  return `${sec} s`;
}

/** "2025-05-14 09:58:03 UTC" from an ISO timestamp; the input unchanged when it is not one. */
export function timestamp(iso: string | null): string {
  if (!iso) return DASH;
  const t = Date.parse(iso);
  if (!Number.isFinite(t)) return iso;
  return `${new Date(t).toISOString().slice(0, 19).replace('T', ' ')} UTC`;
}

const HTML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Escapes text for HTML element content and quoted attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c] ?? c);
}

/**
 * Escapes text for a Markdown table cell or paragraph. Markdown renderers pass
 * raw HTML through, so `<`, `>` and `&` become entities; the characters that
 * start emphasis, code or cell borders are backslash-escaped; a `]` that
 * would close a link, image or reference (`](`, `][`, `]:`) is escaped too,
 * which leaves plain brackets such as "[0.57, 0.73]" readable. Line breaks
 * become <br>: a multi-line response stays in its cell and no untrusted line
 * can start a heading or a link definition.
 */
export function escapeMarkdown(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/([\\`*_|~#])/g, '\\$1')
    .replace(/\](?=[([:])/g, '\\]')
    .replace(/!(?=\[)/g, '\\!')
    .replace(/\r\n|\r|\n/g, '<br>');
}

/** A fenced code block whose fence is longer than any backtick run inside. */
export function markdownFence(text: string, lang = ''): string {
  const longest = Math.max(2, ...[...text.matchAll(/`+/g)].map((m) => m[0].length));
  const fence = '`'.repeat(longest + 1);
  return `${fence}${lang}\n${text.replace(/\n$/, '')}\n${fence}`;
}
