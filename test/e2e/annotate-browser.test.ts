// Human judging end to end: a real Temporal server and worker, the
// annotation server started by `annotateCommand`, and headless Chromium
// (Debian's package, driven by playwright-core) voting with the keyboard and
// the mouse, undoing, reloading, and a second annotator beside the first.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import type { Client, WorkflowHandle } from '@temporalio/client';
import { bundleWorkflowCode, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { annotateCommand, humanEvalWorkflowId } from '../../cli/annotate.js';
import { connectClient, temporalSettings } from '../../common/temporal.js';
import { buildAnnotationApp, startAnnotationServer, type AnnotationServer, type PageView } from '../../judges/human/server.js';
import { closeSignal, votesQuery, type HumanEvalInput, type HumanPair, type humanEvalWorkflow } from '../../workflows/human-eval.js';
import { startTestTemporal } from '../helpers/servers.js';

const CHROMIUM = process.env.CRLHF_CHROMIUM ?? '/usr/bin/chromium';
const SHOTS = fileURLToPath(new URL('../../tmp/human-eval/', import.meta.url));
const taskQueue = `annotate-e2e-${process.pid}`;

let temporal: Awaited<ReturnType<typeof startTestTemporal>>;
let client: Client;
let connection: NativeConnection;
let worker: Worker;
let workerDone: Promise<void>;
let browser: Browser;
let handle: WorkflowHandle<typeof humanEvalWorkflow>;
let server: AnnotationServer;
const stopAnnotate = new AbortController();
let annotateDone: Promise<void>;
const said: string[] = [];

// Response texts say which arm wrote them, so the test can check the arm mapping; the page never shows arm names.
const PAIRS: HumanPair[] = [
  { pairId: 'p0', prompt: 'Write a haiku about rain.', responseA: 'ALPHA-0 Soft rain on the roof\nwhispers to the sleeping town\npuddles hold the sky', responseB: 'BETA-0 Rain is water falling from clouds.', armA: 'ppo-cr', armB: 'sft' },
  { pairId: 'p1', prompt: 'Explain <b>HTML</b> escaping.', responseA: 'ALPHA-1 <img src=x onerror="document.title=\'pwned\'"> is shown as text.', responseB: 'BETA-1 <script>document.title="pwned"</script>', armA: 'ppo-cr', armB: 'sft' },
  { pairId: 'p2', prompt: 'Sort 3, 1, 2.', responseA: 'ALPHA-2 1, 2, 3', responseB: 'BETA-2 3, 2, 1', armA: 'ppo-cr', armB: 'sft' },
  { pairId: 'p3', prompt: 'Say hello politely.', responseA: 'ALPHA-3 Hello! How can I help you today?', responseB: 'BETA-3 hi', armA: 'ppo-cr', armB: 'sft' },
];

before(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`no Chromium at ${CHROMIUM}: install Debian's package with \`apt-get install chromium\` (or set CRLHF_CHROMIUM)`);
  }
  Runtime.install({
    logger: {
      log() {},
      trace() {},
      debug() {},
      info() {},
      warn: (m: string) => /No activities registered/.test(m) || console.warn(`[temporal] ${m}`),
      error: (m: string) => console.error(`[temporal] ${m}`),
    },
  });
  const launched = chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  temporal = await startTestTemporal();
  client = await connectClient(temporalSettings(temporal.address));
  connection = await NativeConnection.connect({ address: temporal.address });
  const workflowBundle = await bundleWorkflowCode({
    workflowsPath: fileURLToPath(new URL('../helpers/human-eval-workflows.ts', import.meta.url)),
    logger: { trace() {}, debug() {}, info() {}, warn() {}, error: console.error, log() {} } as never,
  });
  worker = await Worker.create({ connection, taskQueue, workflowBundle });
  workerDone = worker.run();
  const input: HumanEvalInput = { runName: 'e2e-run', pairs: PAIRS, annotators: ['alice', 'bob'], quota: 5 };
  handle = await client.workflow.start<typeof humanEvalWorkflow>('humanEvalWorkflow', {
    taskQueue,
    workflowId: humanEvalWorkflowId(`e2e-${process.pid}`),
    args: [input],
  });
  const listening = new Promise<AnnotationServer>((resolve) => {
    annotateDone = annotateCommand({
      client,
      workflowId: handle.workflowId,
      host: '127.0.0.1',
      port: 0,
      say: (m) => said.push(m),
      signal: stopAnnotate.signal,
      onListening: resolve,
    });
  });
  server = await listening;
  browser = await launched;
  await mkdir(SHOTS, { recursive: true });
});

after(async () => {
  await browser?.close();
  stopAnnotate.abort();
  await annotateDone;
  worker?.shutdown();
  await workerDone;
  await connection?.close();
  await client?.connection.close();
  await temporal?.stop();
});

type ApiError = { error: string };
type ApiState = { perAnnotator: Record<string, number>; quotaReached: boolean };
const jsonOf = async <T = ApiError>(res: Response): Promise<T> => (await res.json()) as T;

const progress = (page: Page) => page.locator('#progress-text');

async function waitProgress(page: Page, judged: number): Promise<void> {
  await page.locator('#progress-text', { hasText: new RegExp(`^${judged} of 4 judged$`) }).waitFor({ timeout: 10_000 });
}

/** What the page shows now: the prompt and the two responses' texts. */
async function shown(page: Page) {
  const [prompt, r1, r2] = await Promise.all(['#prompt', '#response1', '#response2'].map((s) => page.locator(s).textContent()));
  return { prompt: prompt!, r1: r1!, r2: r2! };
}

/** The arm verdict expected when the annotator prefers the response shown as `position`. */
function armOf(text: string): 'A' | 'B' {
  return text.startsWith('ALPHA') ? 'A' : 'B';
}

describe('crlhf annotate in a browser', () => {
  test('the CLI prints a loopback URL without a token', () => {
    assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
    assert.ok(said.some((m) => m.includes(server.url)));
    assert.ok(said.some((m) => /e2e-run: 4 pairs, annotators alice, bob; 0 of a quota of 5 votes/.test(m)));
    assert.ok(said.includes(`  bob: ${server.url}?annotator=bob`));
  });

  test('votes with the keyboard and the mouse, keeps comments out of shortcuts, undoes, and keeps state across reloads', { timeout: 40_000 }, async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
    const page = await context.newPage();
    const pageErrors: string[] = [];
    page.on('pageerror', (e) => pageErrors.push(e.message));
    await page.goto(server.url);

    // Choose who is judging.
    await page.getByLabel('Your name').selectOption('alice');
    await page.getByRole('button', { name: 'Start judging' }).click();
    await waitProgress(page, 0);
    assert.match(page.url(), /annotator=alice/);
    const body = (await page.locator('body').textContent())!;
    assert.ok(!/ppo-cr|sft|p[0-3]\b/.test(body), 'no arm names or pair IDs on the page');
    assert.equal(await page.getByRole('heading', { name: 'Response 1' }).count(), 1);
    assert.equal(await page.getByRole('heading', { name: 'Response 2' }).count(), 1);

    // 1: keyboard, "1 is better".
    const first = await shown(page);
    await page.keyboard.press('1');
    await waitProgress(page, 1);
    const expected: { prompt: string; verdict: string; comment?: string }[] = [{ prompt: first.prompt, verdict: armOf(first.r1) }];

    // Typing a comment with shortcut letters votes nothing; then the mouse votes "2 is better".
    const second = await shown(page);
    await page.getByLabel(/Comment/).fill('');
    await page.getByLabel(/Comment/).pressSequentially('t1 2 u: second is <b>clearer</b>');
    assert.equal(await progress(page).textContent(), '1 of 4 judged');
    await page.screenshot({ path: `${SHOTS}annotate-page.png` });
    await page.getByRole('button', { name: '2 is better' }).click();
    await waitProgress(page, 2);

    // Undo (u) brings the same pair back; Space then votes a tie on it.
    await page.keyboard.press('u');
    await waitProgress(page, 1);
    assert.equal((await shown(page)).prompt, second.prompt);
    assert.match((await page.locator('#status').textContent())!, /undone/);
    await page.keyboard.press(' ');
    await waitProgress(page, 2);
    expected.push({ prompt: second.prompt, verdict: 'tie' });

    // Reload: the same annotator, the same progress, the next pair.
    const third = await shown(page);
    await page.reload();
    await waitProgress(page, 2);
    assert.equal((await shown(page)).prompt, third.prompt);
    // A fresh tab without ?annotator= remembers the annotator (localStorage).
    const page2 = await context.newPage();
    await page2.goto(server.url);
    await waitProgress(page2, 2);
    assert.equal(await page2.locator('#who').textContent(), 'alice');
    await page2.close();

    // Untrusted text stays text.
    for (let i = 0; i < 2; i++) {
      const s = await shown(page);
      if (s.prompt.includes('<b>HTML</b>')) {
        assert.equal(await page.locator('#task img, #task script, #task b').count(), 0);
        assert.match(s.r1 + s.r2, /<img src=x onerror=/);
      }
      await page.keyboard.press(i === 0 ? 'ArrowRight' : 'ArrowLeft');
      await waitProgress(page, 3 + i);
      expected.push({ prompt: s.prompt, verdict: armOf(i === 0 ? s.r2 : s.r1) });
    }
    assert.notEqual(await page.title(), 'pwned');
    await page.getByRole('heading', { name: 'All done' }).waitFor();
    assert.match((await page.locator('#done-text').textContent())!, /judged all 4 pairs/);
    await page.screenshot({ path: `${SHOTS}annotate-done.png` });

    // The workflow holds exactly these votes, mapped back to arms.
    const votes = (await handle.query(votesQuery)).filter((v) => v.detail.annotator === 'alice');
    const promptOf = new Map(PAIRS.map((p) => [p.pairId, p.prompt]));
    assert.deepEqual(
      votes.map((v) => ({ prompt: promptOf.get(v.pairId), verdict: v.verdict })),
      expected.map(({ prompt, verdict }) => ({ prompt, verdict })),
    );
    assert.ok(votes.every((v) => v.judge === 'human:alice' && v.armA === 'ppo-cr' && v.armB === 'sft'));
    assert.equal(votes.find((v) => v.detail.comment)?.detail.comment, undefined, 'the undone vote took its comment with it');
    assert.deepEqual(pageErrors, []);
    await context.close();
  });

  test('a second annotator judges beside the first, from their own link', { timeout: 20_000 }, async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${server.url}?annotator=bob`);
    await waitProgress(page, 0);
    assert.equal(await page.locator('#who').textContent(), 'bob');
    await page.getByLabel(/Comment/).fill('bob thinks so');
    await page.getByRole('button', { name: '1 is better' }).click();
    await waitProgress(page, 1);
    const bob = (await handle.query(votesQuery)).filter((v) => v.detail.annotator === 'bob');
    assert.equal(bob.length, 1);
    assert.equal(bob[0]!.detail.comment, 'bob thinks so');
    // An unknown name in the link falls back to the chooser with the reason.
    await page.goto(`${server.url}?annotator=mallory`);
    await page.getByRole('heading', { name: 'Who is judging?' }).waitFor();
    assert.match((await page.locator('#error').textContent())!, /unknown annotator "mallory"/);
    await context.close();
  });

  test('a second server over the same workflow shows the same state, and workflow rejections come back as HTTP errors', { timeout: 20_000 }, async () => {
    const other = await startAnnotationServer({ client, workflowId: handle.workflowId });
    try {
      const next = await jsonOf<PageView>(await fetch(`${other.url}api/next?annotator=alice`));
      assert.equal(next.judged, 4);
      assert.equal(next.done, true);
      const post = (path: string, body: unknown) =>
        fetch(`${other.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      let res = await post('api/vote', { annotator: 'alice', item: 0, position: '1', clientVoteId: 'dup-vote-123' });
      assert.equal(res.status, 409);
      assert.match((await jsonOf(res)).error, /alice has already voted on pair "p0"; undo that vote first/);
      res = await post('api/vote', { annotator: 'zed', item: 0, position: '1', clientVoteId: 'zed-vote-123' });
      assert.equal(res.status, 400);
      assert.match((await jsonOf(res)).error, /unknown annotator "zed"/);
      res = await post('api/vote', { annotator: 'bob', item: 9, position: '1', clientVoteId: 'bob-vote-123' });
      assert.equal(res.status, 400);
      assert.match((await jsonOf(res)).error, /unknown pair item 9/);
      res = await post('api/vote', { annotator: 'bob', item: 1, position: 'left', clientVoteId: 'bob-vote-124' });
      assert.equal(res.status, 400);
      assert.match((await jsonOf(res)).error, /position: /);
      const state = await jsonOf<ApiState>(await fetch(`${other.url}api/state`));
      assert.deepEqual(state.perAnnotator, { alice: 4, bob: 1 });
      assert.equal(state.quotaReached, true);
      assert.equal('perPair' in state, false);
    } finally {
      await other.close();
    }
  });

  test('a non-loopback bind requires the per-run token; loopback refuses foreign Host names', { timeout: 20_000 }, async () => {
    const open = await startAnnotationServer({ client, workflowId: handle.workflowId, host: '0.0.0.0' });
    try {
      assert.ok(open.token && open.token.length >= 16);
      assert.match(open.url, /\?token=/);
      const base = `http://127.0.0.1:${open.port}`;
      assert.equal((await fetch(`${base}/`)).status, 403);
      assert.equal((await fetch(`${base}/api/state?token=wrong-token-wrong-token`)).status, 403);
      const page = await fetch(`${base}/?token=${open.token}`);
      assert.equal(page.status, 200);
      assert.match(page.headers.get('content-security-policy') ?? '', /script-src 'sha256-/);
      assert.equal((await fetch(`${base}/api/state`, { headers: { 'x-crlhf-token': open.token } })).status, 200);
    } finally {
      await open.close();
    }
    const { app } = buildAnnotationApp({ client, workflowId: handle.workflowId });
    const foreign = await app.inject({ method: 'GET', url: '/', headers: { host: 'evil.example:80' } });
    assert.equal(foreign.statusCode, 403);
    assert.equal((await app.inject({ method: 'GET', url: '/', headers: { host: 'localhost:1234' } })).statusCode, 200);
    await app.close();
  });

  test('once closed, the page says so and votes are refused', { timeout: 20_000 }, async () => {
    await handle.signal(closeSignal);
    await handle.result();
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${server.url}?annotator=bob`);
    await page.getByRole('heading', { name: 'Closed' }).waitFor();
    const res = await fetch(`${server.url}api/vote`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ annotator: 'bob', item: 2, position: 'tie', clientVoteId: 'late-vote-123' }),
    });
    assert.equal(res.status, 410);
    assert.match((await jsonOf(res)).error, /closed/);
    await context.close();
  });
});
