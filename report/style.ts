// The report's stylesheet, inlined into the HTML so the file is
// self-contained: system fonts, tabular figures in tables, muted intervals,
// a print layout. No web fonts, no external anything.
import { FONT } from './plots.js';

export const REPORT_CSS = `
:root {
  --ink: #1f2328; --muted: #59636e; --rule: #d8dee4; --soft: #f6f8fa;
  --accent: #0072B2; --good: #007a5a; --bad: #b84a00; --even: #59636e;
}
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body { margin: 0; font-family: ${FONT}; font-size: 15px; line-height: 1.5; color: var(--ink); background: #fff; }
.wrap { max-width: 1160px; margin: 0 auto; padding: 0 28px; }
header.top { background: #f3f6f9; border-bottom: 1px solid var(--rule); padding: 26px 0 18px; }
header.top h1 { margin: 0 0 10px; font-size: 26px; font-weight: 650; letter-spacing: -0.01em; }
.meta { display: flex; flex-wrap: wrap; gap: 8px; }
.chip { background: #fff; border: 1px solid var(--rule); border-radius: 999px; padding: 2px 11px; font-size: 13px; }
.chip .k { color: var(--muted); }
nav.toc { border-bottom: 1px solid var(--rule); background: #fff; font-size: 13.5px; }
nav.toc .wrap { display: flex; flex-wrap: wrap; gap: 4px 18px; padding-top: 8px; padding-bottom: 8px; }
nav.toc a { color: var(--accent); text-decoration: none; }
nav.toc a:hover { text-decoration: underline; }
main { padding-bottom: 64px; }
section { margin-top: 34px; }
h2 { font-size: 20px; font-weight: 650; margin: 0 0 12px; padding-bottom: 6px; border-bottom: 1px solid var(--rule); }
h3 { font-size: 16px; font-weight: 650; margin: 24px 0 8px; }
p { margin: 8px 0; max-width: 80ch; }
p.note { color: var(--muted); font-style: italic; }
.headline { margin-top: 26px; padding: 16px 20px; border: 1px solid var(--rule); border-left: 6px solid var(--even); border-radius: 6px; background: var(--soft); }
.headline.verdict-good { border-left-color: var(--good); }
.headline.verdict-bad { border-left-color: var(--bad); }
td.nowrap { white-space: nowrap; }
.headline h2 { border: 0; padding: 0; margin: 0 0 6px; font-size: 19px; }
.headline ul { margin: 0; padding-left: 20px; }
.headline li { margin: 2px 0; }
.table-wrap { overflow-x: auto; margin: 10px 0 6px; }
table { border-collapse: collapse; font-size: 13.5px; }
caption { caption-side: top; text-align: left; color: var(--muted); padding: 0 0 6px; font-size: 13px; }
th, td { padding: 5px 10px; border-bottom: 1px solid var(--rule); text-align: left; vertical-align: top; }
thead th { border-bottom: 2px solid #b9c1c9; font-weight: 600; white-space: nowrap; background: #fff; }
th[title] { text-decoration: underline dotted #9aa4ad; text-underline-offset: 3px; cursor: help; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tbody tr:hover td { background: #fafbfc; }
.sub { color: var(--muted); font-size: 12.5px; }
.tone-good { color: var(--good); font-weight: 600; }
.tone-bad { color: var(--bad); font-weight: 600; }
code, pre { font-family: ui-monospace, SFMono-Regular, "SF Mono", Menlo, Consolas, "Liberation Mono", monospace; font-size: 12.5px; }
td.code code { white-space: pre-wrap; word-break: break-word; }
table.grouped tbody { border-top: 2px solid var(--rule); }
table.grouped th.lead { font-weight: 400; max-width: 300px; background: #fbfcfd; border-right: 1px solid var(--rule); }
table.grouped th.lead .sub { display: block; margin-top: 4px; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 4px 22px; margin: 10px 0; font-size: 14px; }
dl.facts dt { color: var(--muted); }
dl.facts dd { margin: 0; word-break: break-word; font-variant-numeric: tabular-nums; }
figure.plot { margin: 16px 0 22px; }
figure.plot figcaption { font-size: 13.5px; color: var(--muted); margin-bottom: 6px; max-width: 90ch; }
figure.plot figcaption strong { color: var(--ink); }
figure.plot svg { display: block; max-width: 100%; height: auto; }
pre { background: var(--soft); border: 1px solid var(--rule); border-radius: 6px; padding: 12px 14px; overflow: auto; max-height: 520px; line-height: 1.45; }
details summary { cursor: pointer; color: var(--muted); }
@media print {
  nav.toc { display: none; }
  header.top { background: none; }
  section, figure.plot { break-inside: avoid; }
  pre { max-height: none; }
}
`;
