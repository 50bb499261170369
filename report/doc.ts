// A tiny document model — sections of paragraphs, tables, plots and code —
// with one HTML and one Markdown serialiser. The report's content is built
// once (sections.ts) and written twice, so the two outputs cannot disagree
// about a number. Every string in the model is plain text: escaping happens
// here, at the boundary, and nowhere else.
import { escapeHtml, escapeMarkdown, markdownFence } from './format.js';

/** A table cell: plain text, optionally with a muted suffix (a CI, a unit) or as code. */
export type Cell = string | { text: string; sub?: string; code?: boolean; strong?: boolean; tone?: Tone };

export type Tone = 'good' | 'bad' | 'even';

export interface Column {
  title: string;
  /** Right-aligned, tabular figures. */
  numeric?: boolean;
  /** Shown as a tooltip in HTML and nowhere in Markdown. */
  help?: string;
  /** Keep short labels (judge names, "a vs b") on one line. */
  nowrap?: boolean;
}

export type Block =
  | { kind: 'paragraph'; text: string }
  /** A one-line note, e.g. why a section is empty. */
  | { kind: 'note'; text: string }
  | { kind: 'heading'; text: string }
  | { kind: 'table'; columns: Column[]; rows: Cell[][]; caption?: string }
  /** Rows in groups; the group's lead cell is the first column of its first row (rowspan in HTML). */
  | { kind: 'grouped-table'; columns: Column[]; groups: { lead: Cell; rows: Cell[][] }[]; caption?: string }
  /** Label → value pairs. */
  | { kind: 'facts'; items: [string, Cell][] }
  | { kind: 'plot'; name: string; title: string; caption: string }
  | { kind: 'code'; text: string; lang?: string; summary?: string };

export interface Section {
  id: string;
  title: string;
  blocks: Block[];
}

export interface Headline {
  title: string;
  tone: Tone;
  lines: string[];
}

export interface ReportDoc {
  title: string;
  /** Short facts under the title: task, backend, seed, ... */
  meta: [string, string][];
  headline: Headline | null;
  sections: Section[];
}

// ---------------------------------------------------------------- HTML

function htmlCell(c: Cell): string {
  if (typeof c === 'string') return escapeHtml(c);
  let main = escapeHtml(c.text);
  if (c.code) main = `<code>${main}</code>`;
  if (c.strong) main = `<strong>${main}</strong>`;
  if (c.tone) main = `<span class="tone-${c.tone}">${main}</span>`;
  return c.sub ? `${main} <span class="sub">${escapeHtml(c.sub)}</span>` : main;
}

function htmlHead(columns: Column[]): string {
  const ths = columns.map((col) => {
    const cls = col.numeric ? ' class="num"' : '';
    const title = col.help ? ` title="${escapeHtml(col.help)}"` : '';
    return `<th${cls}${title} scope="col">${escapeHtml(col.title)}</th>`;
  });
  return `<thead><tr>${ths.join('')}</tr></thead>`;
}

function htmlTd(c: Cell, col: Column | undefined, extra = ''): string {
  const classes = [col?.numeric ? 'num' : '', col?.nowrap ? 'nowrap' : '', typeof c !== 'string' && c.code ? 'code' : ''].filter(Boolean);
  const cls = classes.length ? ` class="${classes.join(' ')}"` : '';
  return `<td${cls}${extra}>${htmlCell(c)}</td>`;
}

function htmlBlock(b: Block, plots: Record<string, string>): string {
  switch (b.kind) {
    case 'paragraph':
      return `<p>${escapeHtml(b.text)}</p>`;
    case 'note':
      return `<p class="note">${escapeHtml(b.text)}</p>`;
    case 'heading':
      return `<h3>${escapeHtml(b.text)}</h3>`;
    case 'table': {
      const body = b.rows.map((r) => `<tr>${r.map((c, i) => htmlTd(c, b.columns[i])).join('')}</tr>`).join('\n');
      const caption = b.caption ? `<caption>${escapeHtml(b.caption)}</caption>` : '';
      return `<div class="table-wrap"><table>${caption}${htmlHead(b.columns)}<tbody>\n${body}\n</tbody></table></div>`;
    }
    case 'grouped-table': {
      const bodies = b.groups.map((g) => {
        const rows = g.rows.map((r, i) => {
          const lead = i === 0 ? `<th scope="rowgroup" class="lead" rowspan="${g.rows.length}">${htmlCell(g.lead)}</th>` : '';
          return `<tr>${lead}${r.map((c, j) => htmlTd(c, b.columns[j + 1])).join('')}</tr>`;
        });
        return `<tbody>\n${rows.join('\n')}\n</tbody>`;
      });
      const caption = b.caption ? `<caption>${escapeHtml(b.caption)}</caption>` : '';
      return `<div class="table-wrap"><table class="grouped">${caption}${htmlHead(b.columns)}\n${bodies.join('\n')}</table></div>`;
    }
    case 'facts':
      return `<dl class="facts">${b.items.map(([k, v]) => `<dt>${escapeHtml(k)}</dt><dd>${htmlCell(v)}</dd>`).join('')}</dl>`;
    case 'plot': {
      const svg = plots[b.name];
      // The SVG comes from Vega's renderer, which escapes the text it draws.
      const body = svg ?? `<p class="note">Plot ${escapeHtml(b.name)} was not rendered.</p>`;
      return `<figure class="plot" id="plot-${escapeHtml(b.name)}" data-plot="${escapeHtml(b.name)}"><figcaption><strong>${escapeHtml(b.title)}.</strong> ${escapeHtml(b.caption)}</figcaption>${body}</figure>`;
    }
    case 'code': {
      const pre = `<pre><code>${escapeHtml(b.text)}</code></pre>`;
      return b.summary ? `<details open><summary>${escapeHtml(b.summary)}</summary>${pre}</details>` : pre;
    }
  }
}

export function toHtml(doc: ReportDoc, plots: Record<string, string>, css: string): string {
  const meta = doc.meta.map(([k, v]) => `<span class="chip"><span class="k">${escapeHtml(k)}</span> ${escapeHtml(v)}</span>`).join('');
  const nav = doc.sections.map((s) => `<a href="#${escapeHtml(s.id)}">${escapeHtml(s.title)}</a>`).join('');
  const headline = doc.headline
    ? `<section class="headline verdict-${doc.headline.tone}" aria-label="headline"><h2>${escapeHtml(doc.headline.title)}</h2><ul>${doc.headline.lines
        .map((l) => `<li>${escapeHtml(l)}</li>`)
        .join('')}</ul></section>`
    : '';
  const sections = doc.sections
    .map((s) => `<section id="${escapeHtml(s.id)}">\n<h2>${escapeHtml(s.title)}</h2>\n${s.blocks.map((b) => htmlBlock(b, plots)).join('\n')}\n</section>`)
    .join('\n');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<title>${escapeHtml(doc.title)}</title>
<style>${css}</style>
</head>
<body>
<header class="top"><div class="wrap"><h1>${escapeHtml(doc.title)}</h1><div class="meta">${meta}</div></div></header>
<nav class="toc"><div class="wrap">${nav}</div></nav>
<main class="wrap">
${headline}
${sections}
</main>
</body>
</html>
`;
}

// ---------------------------------------------------------------- Markdown

function mdCell(c: Cell): string {
  if (typeof c === 'string') return escapeMarkdown(c);
  let main = escapeMarkdown(c.text);
  if (c.strong) main = `**${main}**`;
  return c.sub ? `${main} ${escapeMarkdown(c.sub)}` : main;
}

function mdTable(columns: Column[], rows: string[][]): string {
  const head = `| ${columns.map((c) => escapeMarkdown(c.title)).join(' | ')} |`;
  const rule = `|${columns.map((c) => (c.numeric ? '---:' : ':---')).join('|')}|`;
  return [head, rule, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}

function mdBlock(b: Block, plotDir: string): string {
  switch (b.kind) {
    case 'paragraph':
      return escapeMarkdown(b.text);
    case 'note':
      return `_${escapeMarkdown(b.text)}_`;
    case 'heading':
      return `### ${escapeMarkdown(b.text)}`;
    case 'table': {
      const t = mdTable(b.columns, b.rows.map((r) => r.map(mdCell)));
      return b.caption ? `${escapeMarkdown(b.caption)}\n\n${t}` : t;
    }
    case 'grouped-table': {
      const rows = b.groups.flatMap((g) => g.rows.map((r, i) => [i === 0 ? mdCell(g.lead) : '', ...r.map(mdCell)]));
      const t = mdTable(b.columns, rows);
      return b.caption ? `${escapeMarkdown(b.caption)}\n\n${t}` : t;
    }
    case 'facts':
      return mdTable([{ title: '' }, { title: '' }], b.items.map(([k, v]) => [escapeMarkdown(k), mdCell(v)]));
    case 'plot':
      return `![${escapeMarkdown(b.title)}](${plotDir}/${b.name}.svg)\n\n_${escapeMarkdown(b.title)}._ ${escapeMarkdown(b.caption)}`;
    case 'code':
      return `${b.summary ? `${escapeMarkdown(b.summary)}\n\n` : ''}${markdownFence(b.text, b.lang ?? '')}`;
  }
}

export function toMarkdown(doc: ReportDoc, plotDir = 'plots'): string {
  const out: string[] = [`# ${escapeMarkdown(doc.title)}`, doc.meta.map(([k, v]) => `**${escapeMarkdown(k)}** ${escapeMarkdown(v)}`).join(' · ')];
  if (doc.headline) {
    out.push(`> **${escapeMarkdown(doc.headline.title)}**\n>\n${doc.headline.lines.map((l) => `> - ${escapeMarkdown(l)}`).join('\n')}`);
  }
  for (const s of doc.sections) {
    out.push(`## ${escapeMarkdown(s.title)}`);
    for (const b of s.blocks) out.push(mdBlock(b, plotDir));
  }
  return `${out.join('\n\n')}\n`;
}
