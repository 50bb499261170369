// A minimal client for OpenAI-compatible Chat Completions (OpenAI, vLLM,
// llama.cpp, LiteLLM, ...): one POST per call, a timeout per attempt, retries
// with exponential backoff and jitter on what can pass (429, 408, 409, 5xx,
// timeouts, dropped connections, garbled bodies), the server's Retry-After
// honoured. The API key lives only in this closure: it is sent in the
// Authorization header and scrubbed from anything that leaves (errors, logs).
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { ConfigError, TransientError } from '../common/errors.js';
import type { Logger } from '../common/log.js';

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

export interface ChatRequest {
  model: string;
  messages: ChatMessage[];
  temperature: number;
  max_tokens: number;
  seed?: number;
}

export interface ChatResult {
  /** choices[0].message.content; '' when the server sent null. */
  content: string;
  promptTokens: number;
  completionTokens: number;
  /** The model the server says answered (may name a dated snapshot), or null. */
  model: string | null;
}

export interface ChatClientOptions {
  baseUrl: string;
  apiKey: string;
  /** Named in authentication errors so the user knows which variable to fix. */
  apiKeyEnv: string;
  timeoutMs: number;
  maxRetries: number;
  backoffBaseMs: number;
  backoffMaxMs: number;
  /** A Retry-After longer than this ends the call with a TransientError instead of blocking a worker. */
  maxRetryAfterMs: number;
  rng: () => number;
  logger: Logger;
  fetch?: typeof fetch;
  /** Called before each HTTP attempt; `retry` is true for every attempt after the first. */
  onAttempt?: (retry: boolean) => void;
}

export interface ChatClient {
  /** The endpoint without credentials or query, safe to print. */
  readonly endpoint: string;
  complete(req: ChatRequest, signal?: AbortSignal): Promise<ChatResult>;
}

const ResponseSchema = z.object({
  model: z.string().optional(),
  choices: z.array(z.object({ message: z.object({ content: z.string().nullable().optional() }) })).min(1),
  usage: z
    .object({ prompt_tokens: z.number().optional(), completion_tokens: z.number().optional() })
    .nullable()
    .optional(),
});

/** Statuses worth another try: request timeout, conflict, rate limit, server errors. */
export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 409 || status === 429 || status >= 500;
}

/**
 * The delay a server asks for, in ms: `retry-after-ms` (OpenAI's) first, then
 * `Retry-After` as seconds or as an HTTP date; null when absent or unreadable.
 */
export function retryAfterMs(headers: Headers, now: number = Date.now()): number | null {
  const ms = headers.get('retry-after-ms');
  if (ms !== null && ms.trim() !== '') {
    const v = Number(ms);
    if (Number.isFinite(v) && v >= 0) return v;
  }
  const ra = headers.get('retry-after');
  if (ra === null || ra.trim() === '') return null;
  const seconds = Number(ra);
  if (Number.isFinite(seconds)) return seconds >= 0 ? seconds * 1000 : null;
  const date = Date.parse(ra);
  return Number.isNaN(date) ? null : Math.max(0, date - now);
}

/** Exponential backoff with "equal jitter": half fixed, half random, so retries spread but never collapse to 0. */
export function backoffDelayMs(retryIndex: number, baseMs: number, maxMs: number, rng: () => number): number {
  const d = Math.min(maxMs, baseMs * 2 ** retryIndex);
  return d / 2 + (rng() * d) / 2;
}

/** {baseUrl}/chat/completions, with the base URL's query (e.g. Azure's api-version) kept. */
export function chatCompletionsUrl(baseUrl: string): URL {
  const u = new URL(baseUrl);
  u.pathname = `${u.pathname.replace(/\/+$/, '')}/chat/completions`;
  return u;
}

/** Origin and path only: a base URL may carry user:password or a key in its query. */
export function safeEndpoint(baseUrl: string): string {
  const u = chatCompletionsUrl(baseUrl);
  return `${u.origin}${u.pathname}`;
}

type Attempt = { ok: true; result: ChatResult } | { ok: false; reason: string; retryAfterMs: number | null };

export function createChatClient(opts: ChatClientOptions): ChatClient {
  const url = chatCompletionsUrl(opts.baseUrl).toString();
  const endpoint = safeEndpoint(opts.baseUrl);
  const doFetch = opts.fetch ?? fetch;
  const apiKey = opts.apiKey;

  // Servers echo keys back in 401 bodies ("Incorrect API key provided: sk-ab***yz").
  const redact = (text: string): string => {
    const whole = apiKey.length > 0 ? text.split(apiKey).join('[redacted]') : text;
    return whole.replace(/\bsk-[A-Za-z0-9_*.-]{3,}/g, '[redacted]');
  };

  async function attemptOnce(req: ChatRequest, signal: AbortSignal | undefined): Promise<Attempt> {
    const timeout = new AbortController();
    const timer = setTimeout(() => timeout.abort(), opts.timeoutMs);
    const combined = signal ? AbortSignal.any([signal, timeout.signal]) : timeout.signal;
    let status: number;
    let headers: Headers;
    let text: string;
    try {
      const res = await doFetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${apiKey}` },
        body: JSON.stringify(req),
        // A redirect is reported, not followed: the key must not travel to another address.
        redirect: 'manual',
        signal: combined,
      });
      status = res.status;
      headers = res.headers;
      text = await res.text();
    } catch (err) {
      if (signal?.aborted) throw signal.reason;
      if (timeout.signal.aborted) return { ok: false, reason: `timed out after ${opts.timeoutMs} ms`, retryAfterMs: null };
      return { ok: false, reason: `connection error: ${redact(describeFetchError(err))}`, retryAfterMs: null };
    } finally {
      clearTimeout(timer);
    }

    if (status >= 200 && status < 300) {
      const parsed = ResponseSchema.safeParse(safeJson(text));
      if (!parsed.success) return { ok: false, reason: `HTTP ${status} with a body that is not a chat completion`, retryAfterMs: null };
      const body = parsed.data;
      return {
        ok: true,
        result: {
          content: body.choices[0]?.message.content ?? '',
          promptTokens: body.usage?.prompt_tokens ?? 0,
          completionTokens: body.usage?.completion_tokens ?? 0,
          model: body.model ?? null,
        },
      };
    }
    const message = redact(serverMessage(text));
    if (isRetryableStatus(status)) return { ok: false, reason: `HTTP ${status}${message ? `: ${message}` : ''}`, retryAfterMs: retryAfterMs(headers) };

    const hint =
      status === 401 || status === 403
        ? ` (check the API key in $${opts.apiKeyEnv})`
        : status === 404
          ? ' (check baseUrl and model)'
          : '';
    const field = status === 401 || status === 403 ? opts.apiKeyEnv : status === 404 ? 'baseUrl' : undefined;
    throw new ConfigError(`judge endpoint ${endpoint} answered HTTP ${status}${hint}${message ? `: ${message}` : ''}`, undefined, field);
  }

  async function complete(req: ChatRequest, signal?: AbortSignal): Promise<ChatResult> {
    for (let attempt = 0; ; attempt++) {
      signal?.throwIfAborted();
      opts.onAttempt?.(attempt > 0);
      const outcome = await attemptOnce(req, signal);
      if (outcome.ok) return outcome.result;

      if (attempt >= opts.maxRetries) {
        throw new TransientError(`judge endpoint ${endpoint}: gave up after ${attempt + 1} attempts, last: ${outcome.reason}`);
      }
      let delay: number;
      if (outcome.retryAfterMs !== null) {
        if (outcome.retryAfterMs > opts.maxRetryAfterMs) {
          throw new TransientError(
            `judge endpoint ${endpoint} asked to retry after ${Math.round(outcome.retryAfterMs)} ms, more than the ${opts.maxRetryAfterMs} ms limit (${outcome.reason})`,
          );
        }
        // A little jitter upwards only: never earlier than the server asked.
        delay = outcome.retryAfterMs * (1 + 0.1 * opts.rng());
      } else {
        delay = backoffDelayMs(attempt, opts.backoffBaseMs, opts.backoffMaxMs, opts.rng);
      }
      opts.logger.warn({ endpoint, attempt: attempt + 1, delayMs: Math.round(delay), reason: outcome.reason }, 'judge request failed, retrying');
      try {
        await sleep(delay, undefined, { signal });
      } catch (err) {
        throw signal?.aborted ? signal.reason : err;
      }
    }
  }

  return { endpoint, complete };
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** The server's own error message (OpenAI shape `{error:{message}}`), else the start of the body. */
function serverMessage(text: string): string {
  const body = safeJson(text) as { error?: { message?: unknown } | string } | undefined;
  const fromJson = typeof body?.error === 'string' ? body.error : body?.error?.message;
  const msg = typeof fromJson === 'string' ? fromJson : text;
  const oneLine = msg.replace(/\s+/g, ' ').trim();
  return oneLine.length > 300 ? `${oneLine.slice(0, 300)}...` : oneLine;
}

function describeFetchError(err: unknown): string {
  if (err instanceof Error) {
    const cause = err.cause as { code?: unknown; message?: unknown } | undefined;
    if (cause && typeof cause.code === 'string') return cause.code;
    if (cause && typeof cause.message === 'string') return cause.message;
    return err.message;
  }
  return String(err);
}
