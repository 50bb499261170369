// The rendered report in a real browser: the example report is written to a
// temporary directory and opened in headless Chromium (Debian's package,
// driven by playwright-core). Every plot must be visible with a real size,
// the page must log no errors, fetch nothing and run no script (a response
// carrying one is part of the data), and it must fit a laptop-width window.
// A full-page screenshot is left in the temp directory for a human to look at.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';
import { exampleReportData } from '../../report/fixture.js';
import { writeReport, type WrittenReport } from '../../report/io.js';

const CHROMIUM = process.env.CRLHF_CHROMIUM ?? '/usr/bin/chromium';

let browser: Browser;
let page: Page;
let written: WrittenReport;
let dir: string;
const consoleErrors: string[] = [];
const requests: string[] = [];

before(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`no Chromium at ${CHROMIUM}: install Debian's package with \`apt-get install chromium\` (or set CRLHF_CHROMIUM)`);
  }
  const launched = chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const data = exampleReportData();
  // Model output is untrusted: if the page ran this, window.pwned would be set.
  const response = data.samples[0]?.responses[1];
  assert.ok(response);
  response.text = 'the cast was great <script>window.pwned = true</script><img src=x onerror="window.pwned = true">';
  dir = await mkdtemp(join(tmpdir(), 'crlhf-report-e2e-'));
  written = await writeReport(data, dir);
  browser = await launched;
  page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') consoleErrors.push(`${m.type()}: ${m.text()}`);
  });
  page.on('pageerror', (e) => consoleErrors.push(`pageerror: ${e.message}`));
  page.on('request', (r) => requests.push(r.url()));
  await page.goto(pathToFileURL(written.html).href, { waitUntil: 'load' });
});

after(async () => {
  await browser?.close();
});

describe('report HTML in headless Chromium', () => {
  it('shows every plot as a visible SVG with a non-zero size', async () => {
    const names = Object.keys(written.rendered.svgs);
    assert.ok(names.length >= 6, `plots: ${names.join(', ')}`);
    for (const name of names) {
      const svg = page.locator(`figure[data-plot="${name}"] > svg`);
      assert.equal(await svg.count(), 1, `one <svg> for ${name}`);
      assert.ok(await svg.isVisible(), `${name} is visible`);
      const box = await svg.boundingBox();
      assert.ok(box && box.width > 100 && box.height > 100, `${name} has a real size: ${JSON.stringify(box)}`);
      // Marks were drawn, not just an empty frame.
      assert.ok((await svg.locator('path, line, rect').count()) > 10, `${name} has marks`);
    }
  });

  it('shows the headline and every section', async () => {
    assert.ok(await page.locator('section.headline h2').isVisible());
    const headline = await page.locator('section.headline h2').innerText();
    assert.match(headline, /^ppo-cr vs ppo \(oracle\): adjusted win rate 0\.\d+ \[0\.\d+, 0\.\d+\], W\/T\/L = \d+\/\d+\/\d+$/);
    for (const id of ['arms', 'comparisons', 'training', 'difficulty', 'reward-model', 'baselines', 'judges', 'samples', 'reproducibility']) {
      assert.ok(await page.locator(`section#${id} > h2`).isVisible(), `section ${id}`);
    }
  });

  it('logs no errors, fetches nothing and runs no script from the data', async () => {
    assert.deepEqual(consoleErrors, []);
    assert.deepEqual(requests, [pathToFileURL(written.html).href]);
    // Strings, not functions: this project's tsconfig has no DOM types.
    assert.equal(await page.evaluate('typeof window.pwned'), 'undefined');
    const cell = page.locator('td.code', { hasText: 'window.pwned' });
    assert.equal(await cell.count(), 1);
    assert.match(await cell.innerText(), /<script>window\.pwned = true<\/script>/, 'shown as text');
  });

  it('fits a 1280-pixel window without horizontal scrolling', async () => {
    const overflow = await page.evaluate<number>('document.documentElement.scrollWidth - window.innerWidth');
    assert.ok(overflow <= 0, `page is ${overflow}px wider than the window`);
  });

  it('saves a full-page screenshot', async () => {
    const path = join(dir, 'report.png');
    const png = await page.screenshot({ path, fullPage: true });
    assert.ok(png.length > 50_000, `screenshot is ${png.length} bytes`);
    console.log(`report screenshot: ${path}\nreport html: ${written.html}`);
  });
});
