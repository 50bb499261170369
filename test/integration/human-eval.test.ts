// The human-eval workflow against a real local Temporal server: votes arrive
// as validated Updates, survive a worker restart and continue-as-new, and the
// report step can wait for a quota of them.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { WorkflowUpdateFailedError, type Client, type WorkflowHandle } from '@temporalio/client';
import { ApplicationFailure, WorkflowNotFoundError } from '@temporalio/common';
import { bundleWorkflowCode, NativeConnection, Runtime, Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { connectClient, temporalSettings } from '../../common/temporal.js';
import { panelAgreement } from '../../judges/agreement.js';
import { startTestTemporal } from '../helpers/servers.js';
import {
  closeSignal,
  nextPairQuery,
  pairViewQuery,
  stateQuery,
  undoUpdate,
  voteUpdate,
  votesQuery,
  type HumanChoice,
  type HumanEvalInput,
  type HumanEvalResult,
  type HumanPair,
  type humanEvalWorkflow,
} from '../../workflows/human-eval.js';
import type { reportStepTestWorkflow } from '../helpers/human-eval-workflows.js';

let temporal: Awaited<ReturnType<typeof startTestTemporal>>;
let client: Client;
let connection: NativeConnection;
let bundle: WorkflowBundleWithSourceMap;
let worker: Worker | undefined;
let workerDone: Promise<void> | undefined;
const taskQueue = `human-eval-${process.pid}`;

async function startWorker(): Promise<void> {
  worker = await Worker.create({ connection, taskQueue, workflowBundle: bundle });
  workerDone = worker.run();
}

async function stopWorker(): Promise<void> {
  worker?.shutdown();
  await workerDone;
  worker = undefined;
}

before(async () => {
  Runtime.install({
    logger: {
      log() {},
      trace() {},
      debug() {},
      info() {},
      // Expected here: this worker has no activities, and one test makes a workflow fail.
      warn: (m: string) => /No activities registered|Workflow failed/.test(m) || console.warn(`[temporal] ${m}`),
      error: (m: string) => console.error(`[temporal] ${m}`),
    },
  });
  temporal = await startTestTemporal();
  client = await connectClient(temporalSettings(temporal.address));
  connection = await NativeConnection.connect({ address: temporal.address });
  bundle = await bundleWorkflowCode({
    workflowsPath: fileURLToPath(new URL('../helpers/human-eval-workflows.ts', import.meta.url)),
    logger: { trace() {}, debug() {}, info() {}, warn() {}, error: console.error, log() {} } as never,
  });
  await startWorker();
});

after(async () => {
  await stopWorker();
  await connection?.close();
  await client?.connection.close();
  await temporal?.stop();
});

function pairs(n: number): HumanPair[] {
  return Array.from({ length: n }, (_, i) => ({
    pairId: `p${i}`,
    prompt: `prompt ${i}`,
    responseA: `ppo-cr answer ${i}`,
    responseB: `sft answer ${i}`,
    armA: 'ppo-cr',
    armB: 'sft',
    bucket: i % 2 ? 'hard' : 'easy',
  }));
}

let seq = 0;
async function start(overrides: Partial<HumanEvalInput> = {}): Promise<WorkflowHandle<typeof humanEvalWorkflow>> {
  const input: HumanEvalInput = { runName: 'run1', pairs: pairs(4), annotators: ['alice', 'bob'], quota: 3, ...overrides };
  return client.workflow.start<typeof humanEvalWorkflow>('humanEvalWorkflow', {
    taskQueue,
    workflowId: `test-${process.pid}-${++seq}/human-eval`,
    args: [input],
  });
}

/** Votes on the pair at input position `item`, in arm terms, with the shown order the workflow expects. */
async function vote(handle: WorkflowHandle, annotator: string, item: number, choice: HumanChoice, clientVoteId = `vote-${++seq}-${annotator}`) {
  const view = await handle.query(pairViewQuery, { annotator, item });
  assert.ok(view.ok, 'pair view');
  return handle.executeUpdate(voteUpdate, {
    args: [{ annotator, pairId: view.pair.pairId, choice, shownOrder: view.pair.shownOrder, clientVoteId }],
  });
}

async function rejectsWith(p: Promise<unknown>, type: string, message: RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof WorkflowUpdateFailedError, `expected WorkflowUpdateFailedError, got ${String(err)}`);
    assert.ok(err.cause instanceof ApplicationFailure);
    assert.equal(err.cause.type, type);
    assert.match(err.cause.message, message);
    return true;
  });
}

describe('human-eval workflow', () => {
  test('accepts votes, rejects bad ones with clear messages, undoes, flips quotaReached and closes with every vote', { timeout: 30_000 }, async () => {
    const h = await start();
    const first = await vote(h, 'alice', 0, 'A', 'alice-vote-0001');
    assert.deepEqual(first, { clientVoteId: 'alice-vote-0001', pairId: 'p0', duplicate: false, undone: false, judged: 1, total: 4 });

    const view0 = await h.query(pairViewQuery, { annotator: 'alice', item: 0 });
    assert.ok(view0.ok);
    const base = { annotator: 'alice', choice: 'A' as const, shownOrder: view0.pair.shownOrder };
    await rejectsWith(h.executeUpdate(voteUpdate, { args: [{ ...base, pairId: 'nope', clientVoteId: 'x-unknown-pair' }] }), 'UnknownPair', /unknown pair "nope"/);
    await rejectsWith(
      h.executeUpdate(voteUpdate, { args: [{ ...base, annotator: 'mallory', pairId: 'p0', clientVoteId: 'x-unknown-annotator' }] }),
      'UnknownAnnotator',
      /unknown annotator "mallory": this evaluation accepts "alice", "bob"/,
    );
    await rejectsWith(
      h.executeUpdate(voteUpdate, { args: [{ ...base, pairId: 'p0', choice: 'B', clientVoteId: 'alice-vote-0002' }] }),
      'DuplicateVote',
      /alice has already voted on pair "p0"; undo that vote first/,
    );
    await rejectsWith(
      h.executeUpdate(voteUpdate, { args: [{ ...base, pairId: 'p0', choice: 'B', clientVoteId: 'alice-vote-0001' }] }),
      'ClientVoteIdReused',
      /already used for another vote/,
    );
    const view1 = await h.query(pairViewQuery, { annotator: 'alice', item: 1 });
    assert.ok(view1.ok);
    const flipped = view1.pair.shownOrder === 'AB' ? 'BA' : 'AB';
    await rejectsWith(
      h.executeUpdate(voteUpdate, { args: [{ ...base, pairId: 'p1', shownOrder: flipped, clientVoteId: 'x-wrong-order' }] }),
      'WrongShownOrder',
      /is shown to alice in order/,
    );
    await rejectsWith(h.executeUpdate(undoUpdate, { args: [{ annotator: 'bob' }] }), 'NothingToUndo', /bob has no vote to undo/);
    await rejectsWith(h.executeUpdate(undoUpdate, { args: [{ annotator: 'eve' }] }), 'UnknownAnnotator', /unknown annotator "eve"/);

    // A retried request (same clientVoteId) is counted once.
    const retry = await h.executeUpdate(voteUpdate, { args: [{ ...base, pairId: 'p0', clientVoteId: 'alice-vote-0001' }] });
    assert.equal(retry.duplicate, true);
    assert.equal((await h.query(stateQuery)).totalVotes, 1);

    // Undo the last vote; a retried undo of the same vote is a no-op, and a retried vote stays undone.
    await vote(h, 'alice', 1, 'tie', 'alice-vote-0003');
    const undo = await h.executeUpdate(undoUpdate, { args: [{ annotator: 'alice', clientVoteId: 'alice-vote-0003' }] });
    assert.deepEqual(undo.undone, { clientVoteId: 'alice-vote-0003', pairId: 'p1' });
    const undoAgain = await h.executeUpdate(undoUpdate, { args: [{ annotator: 'alice', clientVoteId: 'alice-vote-0003' }] });
    assert.equal(undoAgain.undone, null);
    const revived = await vote(h, 'alice', 1, 'tie', 'alice-vote-0003');
    assert.equal(revived.undone, true);
    let state = await h.query(stateQuery);
    assert.equal(state.totalVotes, 1);
    assert.equal(state.perPair.p1, 0);
    assert.equal(state.quotaReached, false);

    await vote(h, 'alice', 1, 'B');
    await vote(h, 'bob', 2, 'tie');
    state = await h.query(stateQuery);
    assert.equal(state.quotaReached, true, 'quota of 3 reached');
    assert.deepEqual(state.perAnnotator, { alice: 2, bob: 1 });
    assert.deepEqual(state.perPair, { p0: 1, p1: 1, p2: 1, p3: 0 });
    assert.equal(state.totalPairs, 4);

    const votes = await h.query(votesQuery);
    assert.equal(votes.length, 3);
    const v0 = votes[0]!;
    assert.equal(v0.judge, 'human:alice');
    assert.equal(v0.pairId, 'p0');
    assert.equal(v0.armA, 'ppo-cr');
    assert.equal(v0.armB, 'sft');
    assert.equal(v0.verdict, 'A');
    assert.equal(v0.detail.kind, 'human');
    assert.equal(v0.detail.annotator, 'alice');
    assert.equal(v0.detail.shownOrder, view0.pair.shownOrder);
    assert.equal(v0.detail.bucket, 'easy');
    assert.ok(!Number.isNaN(Date.parse(v0.detail.votedAt)));

    await h.signal(closeSignal);
    const result: HumanEvalResult = await h.result();
    assert.equal(result.closedBy, 'close');
    assert.equal(result.quotaReached, true);
    assert.deepEqual(result.judgments, votes);
  });

  test('each annotator gets every pair once, in their own stable order, with a stable shown order', { timeout: 30_000 }, async () => {
    const h = await start({ pairs: pairs(8), annotators: ['alice', 'bob'] });
    const seen: Record<string, string[]> = { alice: [], bob: [] };
    const orders: Record<string, string> = {};
    // Both annotators vote at the same time.
    await Promise.all(
      ['alice', 'bob'].map(async (annotator) => {
        for (;;) {
          const next = await h.query(nextPairQuery, { annotator });
          assert.ok(next.ok);
          assert.equal(next.judged, seen[annotator]!.length);
          if (next.done) break;
          const pair = next.pair!;
          assert.equal(pair.first, pair.shownOrder === 'AB' ? `ppo-cr answer ${pair.item}` : `sft answer ${pair.item}`);
          orders[`${annotator}/${pair.pairId}`] = pair.shownOrder;
          seen[annotator]!.push(pair.pairId);
          await h.executeUpdate(voteUpdate, {
            args: [{ annotator, pairId: pair.pairId, choice: 'A', shownOrder: pair.shownOrder, clientVoteId: `${annotator}-${pair.pairId}-vote` }],
          });
        }
      }),
    );
    for (const a of ['alice', 'bob']) assert.deepEqual([...seen[a]!].sort(), pairs(8).map((p) => p.pairId).sort());
    assert.notDeepEqual(seen.alice, seen.bob, 'orders differ between annotators');
    const shown = Object.values(orders);
    assert.ok(shown.includes('AB') && shown.includes('BA'), 'both presentation orders occur');
    const state = await h.query(stateQuery);
    assert.deepEqual(state.perAnnotator, { alice: 8, bob: 8 });
    const unknown = await h.query(nextPairQuery, { annotator: 'zed' });
    assert.equal(unknown.ok, false);
    await h.signal(closeSignal);
    const { judgments } = await h.result();
    assert.equal(judgments.length, 16);
    // The report's agreement metrics take these judgments as they are.
    const byJudge = new Map(['human:alice', 'human:bob'].map((j) => [j, judgments.filter((v) => v.judge === j)]));
    const panel = panelAgreement(byJudge);
    assert.equal(panel.pairwise[0]?.n, 8);
    assert.equal(panel.meanAgreement, 1);
  });

  test('votes survive a worker restart and the history replays deterministically', { timeout: 40_000 }, async () => {
    const h = await start();
    await vote(h, 'alice', 0, 'A');
    await vote(h, 'bob', 1, 'B');
    const before = await h.query(nextPairQuery, { annotator: 'alice' });
    await stopWorker();
    await startWorker(); // an empty workflow cache: the new worker rebuilds state from history
    assert.deepEqual(await h.query(nextPairQuery, { annotator: 'alice' }), before);
    await vote(h, 'alice', 2, 'tie');
    const state = await h.query(stateQuery);
    assert.equal(state.totalVotes, 3);
    assert.deepEqual(state.perAnnotator, { alice: 2, bob: 1 });
    await h.signal(closeSignal);
    const result = await h.result();
    assert.deepEqual(
      result.judgments.map((j) => [j.judge, j.pairId, j.verdict]),
      [
        ['human:alice', 'p0', 'A'],
        ['human:bob', 'p1', 'B'],
        ['human:alice', 'p2', 'tie'],
      ],
    );
    await Worker.runReplayHistory({ workflowBundle: bundle }, await h.fetchHistory(), h.workflowId);
  });

  test('continues as new when history grows, carrying votes, undo history and presentation order', { timeout: 40_000 }, async () => {
    const h = await start({ pairs: pairs(6), maxHistoryEvents: 30 });
    const firstRun = (await h.describe()).runId;
    const order0 = await h.query(nextPairQuery, { annotator: 'bob' });
    for (let i = 0; i < 6; i++) await vote(h, 'alice', i, i % 2 ? 'A' : 'B', `alice-can-${i}-xx`);
    await h.executeUpdate(undoUpdate, { args: [{ annotator: 'alice', clientVoteId: 'alice-can-5-xx' }] });
    // Wait for the continue-as-new to land.
    let runId = firstRun;
    for (let i = 0; i < 50 && runId === firstRun; i++) {
      await new Promise((r) => setTimeout(r, 100));
      runId = (await h.describe()).runId;
    }
    assert.notEqual(runId, firstRun, 'continued as new');
    const state = await h.query(stateQuery);
    assert.equal(state.totalVotes, 5);
    assert.deepEqual(await h.query(nextPairQuery, { annotator: 'bob' }), order0, 'same order after continue-as-new');
    const retried = await vote(h, 'alice', 5, 'A', 'alice-can-5-xx');
    assert.equal(retried.undone, true, 'an undone vote stays undone across continue-as-new');
    await rejectsWith(vote(h, 'alice', 0, 'A'), 'DuplicateVote', /already voted on pair "p0"/);
    await h.signal(closeSignal);
    assert.equal((await h.result()).judgments.length, 5);
  });

  test('closes by itself after closeAfter and rejects votes once closed', { timeout: 30_000 }, async () => {
    const h = await start({ closeAfter: '1.5 seconds' });
    await vote(h, 'alice', 0, 'A');
    const result = await h.result();
    assert.equal(result.closedBy, 'closeAfter');
    assert.equal(result.judgments.length, 1);
    await assert.rejects(vote(h, 'bob', 1, 'A'), (err: Error) => err instanceof WorkflowNotFoundError && /already completed/.test(err.message));
  });

  test('the report step waits for the quota (or its timeout), then closes the evaluation and gets every vote', { timeout: 40_000 }, async () => {
    const humanEvalId = `report-${process.pid}-${++seq}/human-eval`;
    const input: HumanEvalInput = { runName: 'run2', pairs: pairs(4), annotators: ['alice'], quota: 2 };
    const report = await client.workflow.start<typeof reportStepTestWorkflow>('reportStepTestWorkflow', {
      taskQueue,
      workflowId: `report-${process.pid}-${seq}`,
      args: [input, humanEvalId, '30 seconds'],
    });
    const h = client.workflow.getHandle(humanEvalId);
    for (let i = 0; i < 50; i++) {
      try {
        await h.query(stateQuery);
        break;
      } catch {
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    await vote(h, 'alice', 0, 'A');
    await vote(h, 'alice', 1, 'B');
    const result = await report.result();
    assert.equal(result.timedOut, false);
    assert.equal(result.quotaReached, true);
    assert.equal(result.judgments.length, 2);

    const timedOut = await client.workflow.execute<typeof reportStepTestWorkflow>('reportStepTestWorkflow', {
      taskQueue,
      workflowId: `report-${process.pid}-${++seq}`,
      args: [{ ...input, quota: 5 }, `report-${process.pid}-${seq}/human-eval`, '1 second'],
    });
    assert.equal(timedOut.timedOut, true);
    assert.equal(timedOut.judgments.length, 0);
  });

  test('refuses to start with an unusable input, naming each problem', { timeout: 20_000 }, async () => {
    const h = await start({ annotators: ['ok', 'bad name'], pairs: [...pairs(2), pairs(1)[0]!] });
    await assert.rejects(h.result(), (err: Error & { cause?: Error }) => {
      assert.match(err.cause?.message ?? '', /annotator "bad name" must be/);
      assert.match(err.cause?.message ?? '', /pairs\[2\]\.pairId "p0" is repeated/);
      return true;
    });
  });
});
