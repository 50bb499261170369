// renderReport: ReportData → a self-contained HTML page (inline CSS and SVG,
// no scripts, no fetches), a Markdown summary that references the plots as
// plots/<name>.svg, and the SVGs themselves for the caller to write next to
// it. Async only because Vega's SVG rendering is.
import { toHtml, toMarkdown } from './doc.js';
import { renderPlots } from './plots.js';
import { buildDoc } from './sections.js';
import { REPORT_CSS } from './style.js';
import type { ReportData } from './types.js';

export interface RenderedReport {
  html: string;
  markdown: string;
  /** Plot name → standalone SVG; the Markdown links them as `plots/<name>.svg`. */
  svgs: Record<string, string>;
  /** Vega-Lite / Vega warnings per plot; empty for a clean render. */
  warnings: Record<string, string[]>;
}

export const PLOT_DIR = 'plots';

export async function renderReport(data: ReportData): Promise<RenderedReport> {
  const { plots, svgs, warnings } = await renderPlots(data);
  const doc = buildDoc(data, plots);
  return { html: toHtml(doc, svgs, REPORT_CSS), markdown: toMarkdown(doc, PLOT_DIR), svgs, warnings };
}
