import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DataError } from '../../../common/errors.js';
import { exampleReportData } from '../../../report/fixture.js';
import { readReportData, writeReport } from '../../../report/io.js';

describe('writeReport / readReportData', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'crlhf-report-io-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('writes report.html, report.md, report.json and the SVGs the Markdown links to', async () => {
    const data = exampleReportData();
    const out = await writeReport(data, join(dir, 'out'));
    assert.deepEqual((await readdir(join(dir, 'out'))).sort(), ['plots', 'report.html', 'report.json', 'report.md']);
    const md = await readFile(out.markdown, 'utf8');
    const linked = [...md.matchAll(/\]\((plots\/[a-z-]+\.svg)\)/g)].map((m) => m[1]);
    assert.ok(linked.length >= 6);
    for (const rel of linked) assert.match(await readFile(join(dir, 'out', rel as string), 'utf8'), /^<svg /);
    assert.deepEqual(await readReportData(out.data), data, 'report.json reads back to the same data');
    assert.equal(await readFile(out.html, 'utf8'), out.rendered.html);
  });

  it('names the file when it is not JSON or not valid report data', async () => {
    const bad = join(dir, 'bad.json');
    await writeFile(bad, '{"schema": "crlhf.report/v1", ');
    await assert.rejects(readReportData(bad), (err: unknown) => err instanceof DataError && err.file === bad && /not JSON/.test(err.message));
    const wrong = join(dir, 'wrong.json');
    await writeFile(wrong, JSON.stringify({ ...exampleReportData(), ci: { level: 95, method: 'x', iterations: 10 } }));
    await assert.rejects(readReportData(wrong), (err: unknown) => err instanceof DataError && err.field === 'ci.level' && err.message.startsWith(`${wrong} is not valid`));
    await assert.rejects(readReportData(join(dir, 'missing.json')), (err: unknown) => err instanceof DataError && /cannot read/.test(err.message));
  });
});
