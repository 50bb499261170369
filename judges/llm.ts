// LLM judge over an OpenAI-compatible Chat Completions endpoint, with
// MT-Bench's position-swap protocol: every pair is judged in both orders and
// the two verdicts are combined (see combine.ts). Each ordered call is cached
// on its own, so an evaluation that is retried or resumed pays for a call once.
import { z } from 'zod';
import { ConfigError } from '../common/errors.js';
import { log, type Logger } from '../common/log.js';
import { callCacheKey, type JudgmentCache } from './cache.js';
import { createChatClient, type ChatRequest } from './chat-client.js';
import { combineOrders, labelToArm } from './combine.js';
import { parseVerdict, promptSpec, renderUserMessage, SYSTEM_PROMPT, type PromptSpec } from './prompt.js';
import { Semaphore } from './semaphore.js';
import type { Judge, JudgeOptions, JudgePair, Judgment, LlmCallRecord, Order } from './types.js';

export const LlmJudgeConfigSchema = z
  .object({
    baseUrl: z
      .url({ protocol: /^https?$/ })
      .refine((u) => { const p = new URL(u); return p.username === '' && p.password === ''; }, 'must not contain credentials; the key goes in the variable named by apiKeyEnv')
      .describe('Base URL of the OpenAI-compatible API, e.g. https://api.openai.com/v1; /chat/completions is appended.'),
    model: z.string().min(1).describe('Judge model name, e.g. gpt-4o-mini.'),
    apiKeyEnv: z.string().min(1).default('OPENAI_API_KEY').describe('Name of the environment variable that holds the API key (the key itself never goes in a config).'),
    temperature: z.number().min(0).max(2).default(0).describe('Sampling temperature of the judge; 0 for reproducible verdicts.'),
    maxTokens: z.number().int().positive().default(1024).describe('max_tokens of each judge call (explanation plus verdict).'),
    seed: z.number().int().optional().describe('Sent as `seed` where the server supports it.'),
    concurrency: z.number().int().positive().default(4).describe('Most judge calls in flight at once.'),
    timeoutMs: z.number().int().positive().default(60_000).describe('Timeout of one HTTP attempt, in ms.'),
    maxRetries: z.number().int().min(0).default(5).describe('Retries of one call after 429, 408, 409, 5xx, timeouts and connection errors.'),
    backoffBaseMs: z.number().nonnegative().default(1000).describe('First backoff delay in ms; doubles on each retry, with jitter.'),
    backoffMaxMs: z.number().nonnegative().default(60_000).describe('Cap of the backoff delay in ms.'),
    maxRetryAfterMs: z.number().nonnegative().default(120_000).describe('Longest Retry-After the judge waits for; longer ends the call with a transient error.'),
    pricing: z
      .object({
        inputPerMTok: z.number().nonnegative().describe('USD per million prompt tokens.'),
        outputPerMTok: z.number().nonnegative().describe('USD per million completion tokens.'),
      })
      .strict()
      .optional()
      .describe('Token prices, for the cost counter; without them costUsd is null.'),
  })
  .strict();

export type LlmJudgeConfig = z.input<typeof LlmJudgeConfigSchema>;
export type ResolvedLlmJudgeConfig = z.output<typeof LlmJudgeConfigSchema>;

export interface LlmJudgeUsage {
  /** HTTP attempts made, retries included; cache hits make none. */
  requests: number;
  /** Attempts after the first of a call. */
  retries: number;
  promptTokens: number;
  completionTokens: number;
  /** Cost of the tokens this judge paid for (cache hits are free); null without pricing. */
  costUsd: number | null;
  cacheHits: number;
  cacheMisses: number;
  /** Cache reads or writes that failed (logged; the call went on without the cache). */
  cacheErrors: number;
  /** Ordered calls whose output had no [[A]]/[[B]]/[[C]], cached ones included. */
  unparseable: number;
}

export interface LlmJudge extends Judge {
  /** The settings that decide the verdicts, safe to store with results (no key). */
  readonly config: Readonly<ResolvedLlmJudgeConfig>;
  promptSpec(): PromptSpec;
  usage(): LlmJudgeUsage;
}

export interface LlmJudgeDeps {
  cache?: JudgmentCache;
  /** Jitter source for backoff; Math.random by default. */
  rng?: () => number;
  logger?: Logger;
  /** Where the key is read from; process.env by default. */
  env?: NodeJS.ProcessEnv;
  fetch?: typeof fetch;
}

const CachedCallSchema = z.object({
  raw: z.string(),
  servedModel: z.string().nullable(),
  promptTokens: z.number(),
  completionTokens: z.number(),
});
type CachedCall = z.infer<typeof CachedCallSchema>;

export function parseLlmJudgeConfig(input: unknown): ResolvedLlmJudgeConfig {
  const parsed = LlmJudgeConfigSchema.safeParse(input);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const field = issue ? issue.path.join('.') : undefined;
  throw new ConfigError(`invalid LLM judge config${field ? ` at '${field}'` : ''}: ${issue?.message ?? parsed.error.message}`, undefined, field);
}

export function createLlmJudge(input: LlmJudgeConfig, deps: LlmJudgeDeps = {}): LlmJudge {
  const config = Object.freeze(parseLlmJudgeConfig(input));
  const apiKey = (deps.env ?? process.env)[config.apiKeyEnv];
  if (!apiKey) throw new ConfigError(`the LLM judge's API key is not set: export ${config.apiKeyEnv}`, undefined, 'apiKeyEnv');

  const spec = promptSpec();
  const id = `llm:${config.model}@${spec.version}`;
  const logger = deps.logger ?? log.child({ component: 'judges/llm' });
  const cache = deps.cache;
  const semaphore = new Semaphore(config.concurrency);
  const inflight = new Map<string, Promise<CachedCall>>();
  const counters = { requests: 0, retries: 0, promptTokens: 0, completionTokens: 0, cacheHits: 0, cacheMisses: 0, cacheErrors: 0, unparseable: 0 };

  const client = createChatClient({
    baseUrl: config.baseUrl,
    apiKey,
    apiKeyEnv: config.apiKeyEnv,
    timeoutMs: config.timeoutMs,
    maxRetries: config.maxRetries,
    backoffBaseMs: config.backoffBaseMs,
    backoffMaxMs: config.backoffMaxMs,
    maxRetryAfterMs: config.maxRetryAfterMs,
    rng: deps.rng ?? Math.random,
    logger,
    ...(deps.fetch ? { fetch: deps.fetch } : {}),
    onAttempt: (retry) => {
      counters.requests++;
      if (retry) counters.retries++;
    },
  });

  async function cacheGet(key: string): Promise<CachedCall | null> {
    if (!cache) return null;
    try {
      const parsed = CachedCallSchema.safeParse(await cache.get(key));
      if (parsed.success) {
        counters.cacheHits++;
        return parsed.data;
      }
    } catch (err) {
      counters.cacheErrors++;
      logger.warn({ err, key }, 'judgment cache read failed; calling the judge');
    }
    counters.cacheMisses++;
    return null;
  }

  async function cachePut(key: string, value: CachedCall): Promise<void> {
    if (!cache) return;
    try {
      await cache.put(key, value);
    } catch (err) {
      // The verdict is in hand and correct; losing the entry only costs a repeat call on resume.
      counters.cacheErrors++;
      logger.warn({ err, key }, 'judgment cache write failed');
    }
  }

  async function judgeOrder(pair: JudgePair, order: Order, signal: AbortSignal): Promise<LlmCallRecord> {
    const [first, second] = order === 'AB' ? [pair.responseA, pair.responseB] : [pair.responseB, pair.responseA];
    // The key is the request as shown (first, second), so a call is paid for once
    // whichever pair or order asked for it; identical calls in flight share one request.
    const key = callCacheKey({
      model: config.model,
      promptVersion: spec.version,
      promptSha256: spec.sha256,
      order: 'AB',
      prompt: pair.prompt,
      responseA: first,
      responseB: second,
      temperature: config.temperature,
      maxTokens: config.maxTokens,
      seed: config.seed ?? null,
    });

    let call = await cacheGet(key);
    const cached = call !== null;
    if (call === null) {
      let pending = inflight.get(key);
      if (!pending) {
        const request: ChatRequest = {
          model: config.model,
          messages: [
            { role: 'system', content: SYSTEM_PROMPT },
            { role: 'user', content: renderUserMessage(pair.prompt, first, second) },
          ],
          temperature: config.temperature,
          max_tokens: config.maxTokens,
          ...(config.seed !== undefined ? { seed: config.seed } : {}),
        };
        // The slot is held through retries and their backoff (a rate-limited endpoint gets no new
        // calls meanwhile) and until the answer is cached, so a crash loses at most `concurrency` paid calls.
        pending = semaphore.run(async () => {
          const result = await client.complete(request, signal);
          counters.promptTokens += result.promptTokens;
          counters.completionTokens += result.completionTokens;
          const fresh: CachedCall = { raw: result.content, servedModel: result.model, promptTokens: result.promptTokens, completionTokens: result.completionTokens };
          await cachePut(key, fresh);
          return fresh;
        });
        inflight.set(key, pending);
        pending.finally(() => inflight.delete(key)).catch(() => {});
      }
      call = await pending;
    }

    const label = parseVerdict(call.raw);
    if (label === null) counters.unparseable++;
    return {
      order,
      raw: call.raw,
      label,
      verdict: label === null ? null : labelToArm(label, order),
      cached,
      servedModel: call.servedModel,
      promptTokens: call.promptTokens,
      completionTokens: call.completionTokens,
    };
  }

  async function judgePair(pair: JudgePair, signal: AbortSignal): Promise<Judgment> {
    const [ab, ba] = await Promise.all([judgeOrder(pair, 'AB', signal), judgeOrder(pair, 'BA', signal)]);
    const verdict = combineOrders(ab.verdict, ba.verdict);
    return {
      pairId: pair.pairId,
      judge: id,
      armA: pair.armA,
      armB: pair.armB,
      verdict,
      detail: {
        kind: 'llm',
        model: config.model,
        promptVersion: spec.version,
        promptSha256: spec.sha256,
        calls: [ab, ba],
        consistent: ab.verdict === null || ba.verdict === null ? null : ab.verdict === ba.verdict,
      },
    };
  }

  async function judge(pairs: readonly JudgePair[], opts: JudgeOptions = {}): Promise<Judgment[]> {
    // One failed call (bad key, retries exhausted) fails the batch: stop the
    // other calls rather than pay for them, but wait for them to settle so no
    // request outlives this function. Finished calls stay in the cache.
    const stop = new AbortController();
    const signal = opts.signal ? AbortSignal.any([opts.signal, stop.signal]) : stop.signal;
    const failures: unknown[] = [];
    let done = 0;
    const settled = await Promise.allSettled(
      pairs.map(async (pair) => {
        try {
          const judgment = await judgePair(pair, signal);
          opts.onProgress?.(++done, pairs.length);
          return judgment;
        } catch (err) {
          // The first failure is the cause; the rest are its abort echoing back.
          if (failures.push(err) === 1) stop.abort(err);
          throw err;
        }
      }),
    );
    if (failures.length > 0) throw failures[0];
    return settled.map((s) => (s as PromiseFulfilledResult<Judgment>).value);
  }

  function usage(): LlmJudgeUsage {
    const p = config.pricing;
    const costUsd = p ? (counters.promptTokens * p.inputPerMTok + counters.completionTokens * p.outputPerMTok) / 1e6 : null;
    return { ...counters, costUsd };
  }

  return { id, config, judge, usage, promptSpec: () => spec };
}
