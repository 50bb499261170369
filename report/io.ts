// Reading report data and writing a rendered report to a directory: the two
// file-system steps of `crlhf report <run> --out dir`, kept apart from the
// pure rendering so tests and other callers (an activity writing to S3) can
// use renderReport directly.
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DataError } from '../common/errors.js';
import { PLOT_DIR, renderReport, type RenderedReport } from './render.js';
import { parseReportData } from './schema.js';
import type { ReportData } from './types.js';

/** Reads and validates a report.json. */
export async function readReportData(file: string): Promise<ReportData> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new DataError(`${file}: cannot read report data: ${(err as Error).message}`, file);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new DataError(`${file}: not JSON: ${(err as Error).message}`, file);
  }
  return parseReportData(json, file);
}

export interface WrittenReport {
  dir: string;
  html: string;
  markdown: string;
  data: string;
  plots: string[];
  rendered: RenderedReport;
}

/** Writes to a temporary name, then renames: a reader never sees half a file. */
async function writeAtomic(path: string, text: string): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, text, 'utf8');
  await rename(tmp, path);
}

/** Renders `data` into `dir`: report.html, report.md, report.json and plots/<name>.svg. */
export async function writeReport(data: ReportData, dir: string): Promise<WrittenReport> {
  const rendered = await renderReport(data);
  await mkdir(join(dir, PLOT_DIR), { recursive: true });
  const plots: string[] = [];
  for (const [name, svg] of Object.entries(rendered.svgs)) {
    const p = join(dir, PLOT_DIR, `${name}.svg`);
    await writeAtomic(p, svg);
    plots.push(p);
  }
  const html = join(dir, 'report.html');
  const markdown = join(dir, 'report.md');
  const dataFile = join(dir, 'report.json');
  await writeAtomic(dataFile, `${JSON.stringify(data, null, 2)}\n`);
  await writeAtomic(markdown, rendered.markdown);
  await writeAtomic(html, rendered.html);
  return { dir, html, markdown, data: dataFile, plots, rendered };
}
