// Human judging as one long-lived workflow per run (`<run>/human-eval`): the
// annotation server shows pairs and sends each vote as an Update, so a vote
// is durable once the HTTP request returns, and the report step can wait for
// a quota of votes. Deterministic code only: no I/O, no Math.random; every
// draw comes from a hash of the workflow ID, the annotator and the pair.
//
// Pairs travel inline (input, then continue-as-new arguments), not as a store
// URI: a human evaluation is a few dozen short pairs (kilobytes), and the
// annotation server then needs nothing but a Temporal client, with no store
// credentials on the machine that faces annotators. The input is checked
// against PAIRS_MAX_BYTES so a large set fails loudly instead of hitting
// Temporal's 2 MB payload limit later.
import { Rng } from '../rlhf/rng.js';
import {
  allHandlersFinished,
  ApplicationFailure,
  condition,
  continueAsNew,
  defineQuery,
  defineSignal,
  defineUpdate,
  getExternalWorkflowHandle,
  log,
  setHandler,
  startChild,
  workflowInfo,
} from '@temporalio/workflow';
// The same Duration parser the SDK applies to its own timeouts (deterministic, no I/O).
import { msToNumber } from '@temporalio/common/lib/time.js';
import type { Duration } from '@temporalio/common';
import type { HumanJudgmentDetail, JudgePair, Judgment, Order } from '../judges/types.js';

export type HumanChoice = 'A' | 'B' | 'tie';

/** A pair shown to people: a JudgePair (arms in canonical order: A = candidate, B = baseline) without the free-form meta; annotators never see arm names. */
export interface HumanPair extends Omit<JudgePair, 'meta'> {
  /** Difficulty bucket or any grouping the report wants to split by. */
  bucket?: string;
}

export interface HumanEvalInput {
  runName: string;
  pairs: HumanPair[];
  annotators: string[];
  /** Total votes (all annotators) after which `quotaReached` is true. */
  quota: number;
  /** Completes by itself after this long ('3 days', '90 minutes', or milliseconds). */
  closeAfter?: Duration;
  /** Signalled with `humanEvalQuotaReachedSignal` once the quota is first reached (the experiment workflow). */
  notifyWorkflowId?: string;
  /** Continue-as-new once history has this many events, even before the server suggests it. */
  maxHistoryEvents?: number;
  /** Seeds presentation order; defaults to the workflow ID, so it is stable across continue-as-new. */
  seed?: string;
  /** Set by the workflow itself when it continues as new. */
  carried?: CarriedState;
}

interface StoredVote {
  clientVoteId: string;
  annotator: string;
  pairId: string;
  choice: HumanChoice;
  shownOrder: Order;
  comment?: string;
  /** Workflow time, ISO 8601. */
  votedAt: string;
}

interface CarriedState {
  seed: string;
  votes: StoredVote[];
  /** clientVoteIds of votes that were undone, so a retried request does not bring them back. */
  undoneVoteIds: string[];
  /** Epoch ms at which the evaluation closes by itself. */
  deadline?: number;
  quotaNotified: boolean;
}

export interface VoteInput {
  annotator: string;
  pairId: string;
  /** In arm terms: 'A' means arm A (the pair's `armA`) is better, whatever the shown order. */
  choice: HumanChoice;
  shownOrder: Order;
  comment?: string;
  /** Chosen by the client once per vote; a retried request with the same ID is counted once. */
  clientVoteId: string;
}

export interface VoteReceipt {
  clientVoteId: string;
  pairId: string;
  /** True when this clientVoteId had already been received. */
  duplicate: boolean;
  /** True when this clientVoteId had been received and since undone: it stays undone. */
  undone: boolean;
  judged: number;
  total: number;
}

export interface UndoInput {
  annotator: string;
  /** The vote the client believes is the annotator's last; makes a retried undo a no-op. */
  clientVoteId?: string;
}

export interface UndoReceipt {
  /** The vote removed, or null when `clientVoteId` had already been undone. */
  undone: { clientVoteId: string; pairId: string } | null;
  judged: number;
  total: number;
}

export interface HumanEvalState {
  runName: string;
  annotators: string[];
  totalPairs: number;
  quota: number;
  totalVotes: number;
  quotaReached: boolean;
  closed: boolean;
  perAnnotator: Record<string, number>;
  perPair: Record<string, number>;
}

/** A pair as one annotator sees it: `first` is shown as Response 1. */
export interface ShownPair {
  pairId: string;
  /** Position of the pair in the input, an opaque handle for clients that must not see pair IDs. */
  item: number;
  prompt: string;
  first: string;
  second: string;
  shownOrder: Order;
}

export type NextPairResult =
  | {
      ok: true;
      annotator: string;
      total: number;
      judged: number;
      done: boolean;
      closed: boolean;
      /** null when the annotator has judged every pair. */
      pair: ShownPair | null;
      lastVote: { clientVoteId: string; pairId: string } | null;
    }
  | { ok: false; code: HumanEvalErrorType; error: string };

export type PairViewResult = { ok: true; pair: ShownPair } | { ok: false; code: HumanEvalErrorType; error: string };

export interface HumanVoteDetail extends HumanJudgmentDetail {
  shownOrder: Order;
  clientVoteId: string;
  votedAt: string;
  comment?: string;
  bucket?: string;
}

export interface HumanJudgment extends Judgment {
  verdict: HumanChoice;
  detail: HumanVoteDetail;
}

export interface HumanEvalResult {
  runName: string;
  judgments: HumanJudgment[];
  quotaReached: boolean;
  closedBy: 'close' | 'closeAfter';
}

/** ApplicationFailure types thrown by the update validators; the annotation server maps them to HTTP statuses. */
export type HumanEvalErrorType =
  | 'UnknownPair'
  | 'UnknownAnnotator'
  | 'DuplicateVote'
  | 'ClientVoteIdReused'
  | 'WrongShownOrder'
  | 'InvalidVote'
  | 'NothingToUndo'
  | 'NotLastVote'
  | 'Closed';

export const PAIRS_MAX_BYTES = 1_000_000;
export const COMMENT_MAX_CHARS = 2000;
const ANNOTATOR_RE = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/;
const CLIENT_VOTE_ID_RE = /^[A-Za-z0-9_-]{8,100}$/;

export const voteUpdate = defineUpdate<VoteReceipt, [VoteInput]>('vote');
export const undoUpdate = defineUpdate<UndoReceipt, [UndoInput]>('undo');
export const closeSignal = defineSignal<[]>('close');
export const stateQuery = defineQuery<HumanEvalState>('state');
export const nextPairQuery = defineQuery<NextPairResult, [{ annotator: string }]>('nextPair');
/** The view of any pair for one annotator (what the server needs to turn "Response 1" into an arm). */
export const pairViewQuery = defineQuery<PairViewResult, [{ annotator: string; item: number }]>('pairView');
export const votesQuery = defineQuery<HumanJudgment[]>('votes');
/** Sent to `notifyWorkflowId` once the quota is reached. */
export const humanEvalQuotaReachedSignal = defineSignal<[HumanEvalState]>('humanEvalQuotaReached');

// --- deterministic draws ----------------------------------------------------

/** cyrb53 (public-domain string hash): 53 well-mixed bits from a string. */
export function hashString(s: string, seed = 0): number {
  let h1 = 0xdeadbeef ^ seed;
  let h2 = 0x41c6ce57 ^ seed;
  for (let i = 0; i < s.length; i++) {
    const ch = s.charCodeAt(i);
    h1 = Math.imul(h1 ^ ch, 2654435761);
    h2 = Math.imul(h2 ^ ch, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return 4294967296 * (2097151 & h2) + (h1 >>> 0);
}

/** The order in which `annotator` sees the pairs: a seeded shuffle of the indices (rlhf/rng.ts is pure, safe in workflows). */
export function annotatorOrder(seed: string, annotator: string, n: number): number[] {
  return new Rng(`${seed}\u0000${annotator}`).shuffle(Array.from({ length: n }, (_, i) => i));
}

/** Which response `annotator` sees first for `pairId`: 'AB' shows arm A as Response 1. */
export function shownOrderFor(seed: string, annotator: string, pairId: string): Order {
  return hashString(`${seed}\u0000${annotator}\u0000${pairId}`) % 2 === 0 ? 'AB' : 'BA';
}

// --- input checks -----------------------------------------------------------

/** Problems with an input, one line each; empty when it is fine. Also usable before starting the workflow. */
export function humanEvalInputProblems(input: HumanEvalInput): string[] {
  const problems: string[] = [];
  if (!input.runName) problems.push('runName is empty');
  if (!Array.isArray(input.pairs) || input.pairs.length === 0) problems.push('pairs is empty: nothing to judge');
  if (!Array.isArray(input.annotators) || input.annotators.length === 0) problems.push('annotators is empty: nobody may vote');
  if (!Number.isInteger(input.quota) || input.quota < 0) problems.push(`quota must be a whole number ≥ 0, got ${input.quota}`);
  const seenPairs = new Set<string>();
  for (const [i, p] of (input.pairs ?? []).entries()) {
    if (!p.pairId) problems.push(`pairs[${i}].pairId is empty`);
    else if (seenPairs.has(p.pairId)) problems.push(`pairs[${i}].pairId "${p.pairId}" is repeated`);
    seenPairs.add(p.pairId);
    for (const f of ['prompt', 'responseA', 'responseB', 'armA', 'armB'] as const) {
      if (typeof p[f] !== 'string') problems.push(`pairs[${i}].${f} must be a string`);
    }
  }
  const seenAnnotators = new Set<string>();
  for (const a of input.annotators ?? []) {
    if (!ANNOTATOR_RE.test(a)) problems.push(`annotator "${a}" must be 1-64 letters, digits, '.', '_', '@' or '-', starting with a letter or digit`);
    if (seenAnnotators.has(a)) problems.push(`annotator "${a}" is repeated`);
    seenAnnotators.add(a);
  }
  const bytes = JSON.stringify(input.pairs ?? []).length;
  if (bytes > PAIRS_MAX_BYTES) {
    problems.push(`pairs take ${bytes} bytes, more than ${PAIRS_MAX_BYTES}: judge fewer or shorter pairs per run`);
  }
  return problems;
}

function reject(type: HumanEvalErrorType, message: string): never {
  throw ApplicationFailure.create({ type, message, nonRetryable: true });
}

// --- the workflow -----------------------------------------------------------

export async function humanEvalWorkflow(input: HumanEvalInput): Promise<HumanEvalResult> {
  const problems = humanEvalInputProblems(input);
  if (problems.length > 0) {
    throw ApplicationFailure.create({ type: 'ConfigError', message: `human-eval input: ${problems.join('; ')}`, nonRetryable: true });
  }
  const info = workflowInfo();
  const carried = input.carried;
  const seed = carried?.seed ?? input.seed ?? info.workflowId;
  const pairs = input.pairs;
  const pairIndex = new Map(pairs.map((p, i) => [p.pairId, i]));
  const annotators = new Set(input.annotators);
  const deadline = carried?.deadline ?? (input.closeAfter !== undefined ? Date.now() + msToNumber(input.closeAfter) : undefined);

  const votes: StoredVote[] = [...(carried?.votes ?? [])];
  const undoneVoteIds = new Set(carried?.undoneVoteIds ?? []);
  let quotaNotified = carried?.quotaNotified ?? false;
  let closed = false;

  const byId = (): Map<string, StoredVote> => new Map(votes.map((v) => [v.clientVoteId, v]));
  const voteOf = (annotator: string, pairId: string) => votes.find((v) => v.annotator === annotator && v.pairId === pairId);
  const judgedBy = (annotator: string) => votes.filter((v) => v.annotator === annotator).length;
  const lastVoteOf = (annotator: string) => {
    for (let i = votes.length - 1; i >= 0; i--) if (votes[i]!.annotator === annotator) return votes[i]!;
    return undefined;
  };
  const orders = new Map<string, number[]>();
  const orderOf = (annotator: string) => {
    let o = orders.get(annotator);
    if (!o) orders.set(annotator, (o = annotatorOrder(seed, annotator, pairs.length)));
    return o;
  };
  const show = (annotator: string, item: number): ShownPair => {
    const p = pairs[item]!;
    const shownOrder = shownOrderFor(seed, annotator, p.pairId);
    const [first, second] = shownOrder === 'AB' ? [p.responseA, p.responseB] : [p.responseB, p.responseA];
    return { pairId: p.pairId, item, prompt: p.prompt, first, second, shownOrder };
  };
  const unknownAnnotator = (annotator: string) =>
    `unknown annotator "${annotator}": this evaluation accepts ${[...annotators].map((a) => `"${a}"`).join(', ')}`;
  const quotaReached = () => votes.length >= input.quota;

  const state = (): HumanEvalState => {
    const perAnnotator: Record<string, number> = Object.fromEntries(input.annotators.map((a) => [a, 0]));
    const perPair: Record<string, number> = Object.fromEntries(pairs.map((p) => [p.pairId, 0]));
    for (const v of votes) {
      perAnnotator[v.annotator] = (perAnnotator[v.annotator] ?? 0) + 1;
      perPair[v.pairId] = (perPair[v.pairId] ?? 0) + 1;
    }
    return {
      runName: input.runName,
      annotators: [...input.annotators],
      totalPairs: pairs.length,
      quota: input.quota,
      totalVotes: votes.length,
      quotaReached: quotaReached(),
      closed,
      perAnnotator,
      perPair,
    };
  };

  const judgment = (v: StoredVote): HumanJudgment => {
    const p = pairs[pairIndex.get(v.pairId)!]!;
    const detail: HumanVoteDetail = {
      kind: 'human',
      annotator: v.annotator,
      shownOrder: v.shownOrder,
      clientVoteId: v.clientVoteId,
      votedAt: v.votedAt,
    };
    if (v.comment) detail.comment = v.comment;
    if (p.bucket !== undefined) detail.bucket = p.bucket;
    return { pairId: v.pairId, judge: `human:${v.annotator}`, armA: p.armA, armB: p.armB, verdict: v.choice, detail };
  };

  setHandler(
    voteUpdate,
    (vote): VoteReceipt => {
      const total = pairs.length;
      const receipt = (duplicate: boolean, undone: boolean): VoteReceipt => ({
        clientVoteId: vote.clientVoteId,
        pairId: vote.pairId,
        duplicate,
        undone,
        judged: judgedBy(vote.annotator),
        total,
      });
      if (undoneVoteIds.has(vote.clientVoteId)) return receipt(true, true);
      if (byId().has(vote.clientVoteId)) return receipt(true, false);
      const stored: StoredVote = {
        clientVoteId: vote.clientVoteId,
        annotator: vote.annotator,
        pairId: vote.pairId,
        choice: vote.choice,
        shownOrder: vote.shownOrder,
        votedAt: new Date(Date.now()).toISOString(),
      };
      const comment = vote.comment?.trim();
      if (comment) stored.comment = comment;
      votes.push(stored);
      return receipt(false, false);
    },
    {
      description: "Records one annotator's verdict on one pair",
      validator: (vote) => {
        if (typeof vote !== 'object' || vote === null) reject('InvalidVote', 'a vote must be an object');
        if (closed) reject('Closed', `the human evaluation of ${input.runName} is closed`);
        if (typeof vote.clientVoteId !== 'string' || !CLIENT_VOTE_ID_RE.test(vote.clientVoteId)) {
          reject('InvalidVote', 'clientVoteId must be 8-100 letters, digits, "_" or "-"');
        }
        if (!annotators.has(vote.annotator)) reject('UnknownAnnotator', unknownAnnotator(vote.annotator));
        if (!pairIndex.has(vote.pairId)) reject('UnknownPair', `unknown pair "${vote.pairId}" in the human evaluation of ${input.runName}`);
        if (!['A', 'B', 'tie'].includes(vote.choice)) reject('InvalidVote', `choice must be "A", "B" or "tie", got ${JSON.stringify(vote.choice)}`);
        if (vote.shownOrder !== 'AB' && vote.shownOrder !== 'BA') {
          reject('InvalidVote', `shownOrder must be "AB" or "BA", got ${JSON.stringify(vote.shownOrder)}`);
        }
        if (vote.comment !== undefined && (typeof vote.comment !== 'string' || vote.comment.length > COMMENT_MAX_CHARS)) {
          reject('InvalidVote', `comment must be text of at most ${COMMENT_MAX_CHARS} characters`);
        }
        const same = byId().get(vote.clientVoteId);
        if (same) {
          if (same.annotator !== vote.annotator || same.pairId !== vote.pairId || same.choice !== vote.choice) {
            reject('ClientVoteIdReused', `clientVoteId ${vote.clientVoteId} was already used for another vote`);
          }
          return; // a retry of a vote already counted
        }
        if (undoneVoteIds.has(vote.clientVoteId)) return; // a retry of a vote since undone
        if (voteOf(vote.annotator, vote.pairId)) {
          reject('DuplicateVote', `${vote.annotator} has already voted on pair "${vote.pairId}"; undo that vote first to change it`);
        }
        const expected = shownOrderFor(seed, vote.annotator, vote.pairId);
        if (vote.shownOrder !== expected) {
          reject('WrongShownOrder', `pair "${vote.pairId}" is shown to ${vote.annotator} in order ${expected}, not ${vote.shownOrder}`);
        }
      },
    },
  );

  setHandler(
    undoUpdate,
    ({ annotator, clientVoteId }): UndoReceipt => {
      const total = pairs.length;
      if (clientVoteId !== undefined && undoneVoteIds.has(clientVoteId)) {
        return { undone: null, judged: judgedBy(annotator), total };
      }
      const last = lastVoteOf(annotator)!;
      votes.splice(votes.lastIndexOf(last), 1);
      undoneVoteIds.add(last.clientVoteId);
      return { undone: { clientVoteId: last.clientVoteId, pairId: last.pairId }, judged: judgedBy(annotator), total };
    },
    {
      description: "Removes the annotator's last vote",
      validator: (undo) => {
        if (typeof undo !== 'object' || undo === null) reject('InvalidVote', 'an undo must be an object');
        if (closed) reject('Closed', `the human evaluation of ${input.runName} is closed`);
        if (!annotators.has(undo.annotator)) reject('UnknownAnnotator', unknownAnnotator(undo.annotator));
        if (undo.clientVoteId !== undefined && undoneVoteIds.has(undo.clientVoteId)) return; // a retried undo
        const last = lastVoteOf(undo.annotator);
        if (!last) reject('NothingToUndo', `${undo.annotator} has no vote to undo`);
        if (undo.clientVoteId !== undefined && undo.clientVoteId !== last.clientVoteId) {
          reject('NotLastVote', `vote ${undo.clientVoteId} is not the last vote of ${undo.annotator}; reload to see the current state`);
        }
      },
    },
  );

  setHandler(closeSignal, () => {
    closed = true;
  });
  setHandler(stateQuery, state);
  setHandler(votesQuery, () => votes.map(judgment));
  setHandler(nextPairQuery, ({ annotator }): NextPairResult => {
    if (!annotators.has(annotator)) return { ok: false, code: 'UnknownAnnotator', error: unknownAnnotator(annotator) };
    const voted = new Set(votes.filter((v) => v.annotator === annotator).map((v) => v.pairId));
    const item = orderOf(annotator).find((i) => !voted.has(pairs[i]!.pairId));
    const last = lastVoteOf(annotator);
    return {
      ok: true,
      annotator,
      total: pairs.length,
      judged: voted.size,
      done: item === undefined,
      closed,
      pair: item === undefined ? null : show(annotator, item),
      lastVote: last ? { clientVoteId: last.clientVoteId, pairId: last.pairId } : null,
    };
  });
  setHandler(pairViewQuery, ({ annotator, item }): PairViewResult => {
    if (!annotators.has(annotator)) return { ok: false, code: 'UnknownAnnotator', error: unknownAnnotator(annotator) };
    if (!Number.isInteger(item) || item < 0 || item >= pairs.length) {
      return { ok: false, code: 'UnknownPair', error: `unknown pair item ${item} in the human evaluation of ${input.runName}` };
    }
    return { ok: true, pair: show(annotator, item) };
  });

  const timedOut = () => deadline !== undefined && Date.now() >= deadline;
  const historyFull = () =>
    workflowInfo().continueAsNewSuggested || (input.maxHistoryEvents !== undefined && workflowInfo().historyLength >= input.maxHistoryEvents);
  const mustNotify = () => input.notifyWorkflowId !== undefined && !quotaNotified && quotaReached();

  for (;;) {
    const wake = () => closed || mustNotify() || historyFull();
    if (deadline === undefined) await condition(wake);
    else if (!timedOut()) await condition(wake, Math.max(1, deadline - Date.now()));

    if (mustNotify()) {
      quotaNotified = true;
      try {
        await getExternalWorkflowHandle(input.notifyWorkflowId!).signal(humanEvalQuotaReachedSignal, state());
      } catch (err) {
        log.warn('could not tell the waiting workflow that the quota is reached', { notifyWorkflowId: input.notifyWorkflowId, err });
      }
    }
    if (closed || timedOut()) break;
    if (historyFull()) {
      await condition(allHandlersFinished);
      const next: CarriedState = { seed, votes, undoneVoteIds: [...undoneVoteIds], quotaNotified };
      if (deadline !== undefined) next.deadline = deadline;
      await continueAsNew<typeof humanEvalWorkflow>({ ...input, carried: next });
    }
  }
  const closedBy = closed ? 'close' : 'closeAfter';
  closed = true; // queries on the completed workflow say so
  await condition(allHandlersFinished);
  return { runName: input.runName, judgments: votes.map(judgment), quotaReached: quotaReached(), closedBy };
}

// --- for the experiment workflow ------------------------------------------

export interface CollectHumanVotesOptions {
  /** The human-eval workflow ID, by convention `<run>/human-eval`. */
  workflowId: string;
  /** How long to wait for the quota before closing with the votes so far. */
  quotaTimeout: Duration;
}

/**
 * The report step's side of human judging, called from a workflow: starts
 * the human evaluation as a child, waits until its quota is reached or
 * `quotaTimeout` passes, closes it and returns every vote.
 */
export async function collectHumanVotes(
  input: Omit<HumanEvalInput, 'notifyWorkflowId' | 'carried'>,
  opts: CollectHumanVotesOptions,
): Promise<HumanEvalResult & { timedOut: boolean }> {
  let reached = false;
  setHandler(humanEvalQuotaReachedSignal, () => {
    reached = true;
  });
  const child = await startChild(humanEvalWorkflow, {
    workflowId: opts.workflowId,
    args: [{ ...input, notifyWorkflowId: workflowInfo().workflowId }],
  });
  const inTime = await condition(() => reached, opts.quotaTimeout);
  // By workflow ID, not run ID: the child may have continued as new since it started.
  await getExternalWorkflowHandle(opts.workflowId).signal(closeSignal);
  const result = await child.result();
  return { ...result, timedOut: !inTime };
}
