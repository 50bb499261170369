// The annotation web server behind `crlhf annotate`: one self-contained page
// and a small JSON API over the run's human-eval workflow. It keeps no state:
// every read is a Query and every vote an Update, so a reload, a restarted
// server or a second server all see the same votes. Annotators see
// "Response 1 / Response 2" and opaque item numbers only; arm names, pair IDs
// and the shown order stay between this server and the workflow.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { hostname } from 'node:os';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { z } from 'zod';
import { WorkflowUpdateFailedError, WorkflowUpdateRPCTimeoutOrCancelledError, type Client } from '@temporalio/client';
import { ApplicationFailure, WorkflowNotFoundError } from '@temporalio/common';
import { UsageError } from '../../common/errors.js';
import {
  COMMENT_MAX_CHARS,
  nextPairQuery,
  pairViewQuery,
  stateQuery,
  undoUpdate,
  voteUpdate,
  type HumanChoice,
  type HumanEvalErrorType,
  type NextPairResult,
} from '../../workflows/human-eval.js';

export interface AnnotationServerOptions {
  client: Client;
  /** The human-eval workflow, by convention `<run>/human-eval`. */
  workflowId: string;
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  /** Access token required in every URL; generated when `host` is not loopback and none is given. */
  token?: string;
  /** How long one Query or Update may wait for a worker before the page is told no worker answers. */
  temporalTimeoutMs?: number;
}

export interface AnnotationServer {
  /** The address to give annotators, with `?token=` when one is required. */
  url: string;
  host: string;
  port: number;
  token?: string;
  app: FastifyInstance;
  close(): Promise<void>;
}

/** What `/api/next`, `/api/vote` and `/api/undo` return: the pair to show, blinded. */
export interface PageView {
  annotator: string;
  total: number;
  judged: number;
  done: boolean;
  closed: boolean;
  pair: { item: number; prompt: string; response1: string; response2: string } | null;
  /** The clientVoteId of the annotator's last vote, sent back with an undo. */
  lastVoteId: string | null;
}

const PAGE_FILE = new URL('./page.html', import.meta.url);
const TOKEN_MIN_CHARS = 16;

const STATUS_OF: Record<HumanEvalErrorType, number> = {
  UnknownPair: 400,
  UnknownAnnotator: 400,
  InvalidVote: 400,
  WrongShownOrder: 400,
  ClientVoteIdReused: 400,
  DuplicateVote: 409,
  NothingToUndo: 409,
  NotLastVote: 409,
  Closed: 410,
};

const annotatorField = z.string().min(1).max(64);
const voteBody = z.object({
  annotator: annotatorField,
  item: z.number().int().min(0),
  position: z.enum(['1', '2', 'tie']),
  clientVoteId: z.string().regex(/^[A-Za-z0-9_-]{8,100}$/, 'must be 8-100 letters, digits, "_" or "-"'),
  comment: z.string().max(COMMENT_MAX_CHARS).optional(),
});
const undoBody = z.object({ annotator: annotatorField, clientVoteId: z.string().max(100).optional() });
const nextQuery = z.object({ annotator: annotatorField });

export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h === '::1' || h.startsWith('127.') || h === '::ffff:127.0.0.1';
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

function parse<T>(schema: z.ZodType<T>, value: unknown): T {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  throw new HttpError(400, r.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; '));
}

function sameSecret(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

function loadPage(): { html: string; csp: string } {
  const html = readFileSync(PAGE_FILE, 'utf8');
  const script = /<script>([\s\S]*?)<\/script>/.exec(html)?.[1];
  if (script === undefined) throw new Error(`${PAGE_FILE.pathname} has no inline <script>`);
  const hash = createHash('sha256').update(script).digest('base64');
  // Only this page's own script and style run; the page may talk to this server and nothing else.
  const csp = [
    "default-src 'none'",
    `script-src 'sha256-${hash}'`,
    "style-src 'unsafe-inline'",
    "connect-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
  return { html, csp };
}

function blind(view: Extract<NextPairResult, { ok: true }>): PageView {
  return {
    annotator: view.annotator,
    total: view.total,
    judged: view.judged,
    done: view.done,
    closed: view.closed,
    pair: view.pair && { item: view.pair.item, prompt: view.pair.prompt, response1: view.pair.first, response2: view.pair.second },
    lastVoteId: view.lastVote?.clientVoteId ?? null,
  };
}

/** Builds the Fastify app without listening (tests use `app.inject`). */
export function buildAnnotationApp(opts: Omit<AnnotationServerOptions, 'port'>): { app: FastifyInstance; token?: string } {
  const host = opts.host ?? '127.0.0.1';
  let token = opts.token;
  if (token !== undefined && token.length < TOKEN_MIN_CHARS) {
    throw new UsageError(`the access token must have at least ${TOKEN_MIN_CHARS} characters`);
  }
  if (!isLoopback(host)) token ??= randomBytes(24).toString('base64url');
  const page = loadPage();
  const handle = opts.client.workflow.getHandle(opts.workflowId);
  const timeoutMs = opts.temporalTimeoutMs ?? 15_000;
  const withDeadline = <T>(fn: () => Promise<T>): Promise<T> => opts.client.connection.withDeadline(Date.now() + timeoutMs, fn);
  const app = Fastify({ logger: false, bodyLimit: 64 * 1024 });

  app.addHook('onRequest', async (req: FastifyRequest, reply: FastifyReply) => {
    reply.header('cache-control', 'no-store');
    reply.header('x-content-type-options', 'nosniff');
    reply.header('referrer-policy', 'no-referrer');
    if (token !== undefined) {
      const given = (req.query as Record<string, unknown>)?.token ?? req.headers['x-crlhf-token'];
      if (typeof given !== 'string' || !sameSecret(given, token)) {
        return reply.code(403).send({ error: 'missing or wrong access token: open the exact URL that `crlhf annotate` printed' });
      }
    } else {
      // Without a token only loopback names are served, so a web page elsewhere cannot
      // reach this server through DNS rebinding.
      const name = (req.headers.host ?? '').replace(/:\d+$/, '');
      if (!isLoopback(name)) return reply.code(403).send({ error: `host "${name}" is not served without an access token` });
    }
  });

  app.setErrorHandler((err: unknown, _req, reply) => {
    const { status, message } = httpErrorOf(err, opts.workflowId);
    if (status >= 500) process.stderr.write(`annotate: ${message}\n`);
    return reply.code(status).send({ error: message });
  });

  const next = async (annotator: string): Promise<PageView> => {
    const view = await withDeadline(() => handle.query(nextPairQuery, { annotator }));
    if (!view.ok) throw new HttpError(STATUS_OF[view.code], view.error);
    return blind(view);
  };

  app.get('/', async (_req, reply) => {
    reply.header('content-security-policy', page.csp);
    reply.header('x-frame-options', 'DENY');
    return reply.type('text/html; charset=utf-8').send(page.html);
  });

  app.get('/api/state', async () => {
    const s = await withDeadline(() => handle.query(stateQuery));
    // Per-pair counts stay server-side: pair IDs may name the arms.
    return {
      runName: s.runName,
      annotators: s.annotators,
      totalPairs: s.totalPairs,
      quota: s.quota,
      totalVotes: s.totalVotes,
      quotaReached: s.quotaReached,
      closed: s.closed,
      perAnnotator: s.perAnnotator,
    };
  });

  app.get('/api/next', async (req) => next(parse(nextQuery, req.query).annotator));

  app.post('/api/vote', async (req) => {
    const body = parse(voteBody, req.body);
    const view = await withDeadline(() => handle.query(pairViewQuery, { annotator: body.annotator, item: body.item }));
    if (!view.ok) throw new HttpError(STATUS_OF[view.code], view.error);
    const { pairId, shownOrder } = view.pair;
    const armOfFirst: HumanChoice = shownOrder === 'AB' ? 'A' : 'B';
    const armOfSecond: HumanChoice = shownOrder === 'AB' ? 'B' : 'A';
    const choice: HumanChoice = body.position === 'tie' ? 'tie' : body.position === '1' ? armOfFirst : armOfSecond;
    await withDeadline(() =>
      handle.executeUpdate(voteUpdate, {
        args: [{ annotator: body.annotator, pairId, choice, shownOrder, clientVoteId: body.clientVoteId, ...(body.comment ? { comment: body.comment } : {}) }],
      }),
    );
    return next(body.annotator);
  });

  app.post('/api/undo', async (req) => {
    const body = parse(undoBody, req.body);
    await withDeadline(() => handle.executeUpdate(undoUpdate, { args: [body] }));
    return next(body.annotator);
  });

  return { app, token };
}

/** Maps what the workflow or Temporal said to an HTTP status and one line for the page. */
export function httpErrorOf(err: unknown, workflowId: string): { status: number; message: string } {
  if (err instanceof HttpError) return { status: err.status, message: err.message };
  if (err instanceof WorkflowUpdateFailedError && err.cause instanceof ApplicationFailure) {
    const type = err.cause.type as HumanEvalErrorType | undefined;
    return { status: (type && STATUS_OF[type]) ?? 400, message: err.cause.message };
  }
  if (err instanceof WorkflowNotFoundError) {
    return /already completed/.test(err.message)
      ? { status: 410, message: 'this human evaluation is closed: votes are no longer accepted' }
      : { status: 404, message: `no human evaluation "${workflowId}" is running: has the run reached its human-eval step?` };
  }
  if (err instanceof WorkflowUpdateRPCTimeoutOrCancelledError || /deadline exceeded/i.test(String((err as Error)?.message))) {
    return { status: 504, message: 'no worker answered in time: is a crlhf worker running for this Temporal server?' };
  }
  const e = err as { statusCode?: number; message?: string };
  if (typeof e?.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
    return { status: e.statusCode, message: e.message ?? 'bad request' }; // Fastify's own (bad JSON, wrong content type)
  }
  return { status: 502, message: `Temporal error: ${(err as Error)?.message ?? String(err)}` };
}

function urlHost(host: string): string {
  if (host === '0.0.0.0' || host === '::') return hostname();
  return isIP(host) === 6 ? `[${host}]` : host;
}

export async function startAnnotationServer(opts: AnnotationServerOptions): Promise<AnnotationServer> {
  const host = opts.host ?? '127.0.0.1';
  const { app, token } = buildAnnotationApp({ ...opts, host });
  await app.listen({ host, port: opts.port ?? 0 });
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : (opts.port ?? 0);
  const url = `http://${urlHost(host)}:${port}/${token ? `?token=${encodeURIComponent(token)}` : ''}`;
  return { url, host, port, token, app, close: () => app.close() };
}
