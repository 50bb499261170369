// A test double for an OpenAI-compatible Chat Completions server: a real HTTP
// server on 127.0.0.1 (port 0) whose replies a test scripts per request, and
// which records every request and how many were in flight at once.
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedRequest {
  /** 0-based arrival order. */
  index: number;
  at: number;
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  rawBody: string;
  /** The parsed body, or null when it was not JSON. */
  body: { model?: string; messages?: Array<{ role: string; content: string }>; temperature?: number; max_tokens?: number; seed?: number } | null;
  system: string;
  user: string;
  /** The quoted texts as shown, cut out of the user message by the prompt's markers. */
  question: string;
  shownA: string;
  shownB: string;
}

export type FakeReply =
  | { kind: 'verdict'; label: 'A' | 'B' | 'C'; explanation?: string }
  | { kind: 'content'; content: string | null }
  | { kind: 'status'; status: number; body?: string; headers?: Record<string, string> }
  /** Never answer: the client's timeout or abort has to end it. */
  | { kind: 'hang' }
  /** 200 with a body that is not JSON. */
  | { kind: 'malformed' }
  /** Drop the connection without a response. */
  | { kind: 'reset' };

export type Rule = (req: RecordedRequest) => FakeReply;

export interface FakeOpenAI {
  baseUrl: string;
  requests: RecordedRequest[];
  /** Most requests in flight at any moment so far. */
  readonly maxInFlight: number;
  readonly inFlight: number;
  rule: Rule;
  close(): Promise<void>;
}

export interface FakeOptions {
  rule?: Rule;
  /** Delay before every answer, so concurrent requests overlap. */
  delayMs?: number;
  usage?: { prompt_tokens: number; completion_tokens: number };
}

function between(text: string, start: string, end: string): string {
  const i = text.indexOf(start);
  const j = text.indexOf(end, i + start.length);
  return i < 0 || j < 0 ? '' : text.slice(i + start.length, j);
}

export async function startFakeOpenAI(opts: FakeOptions = {}): Promise<FakeOpenAI> {
  const requests: RecordedRequest[] = [];
  const usage = opts.usage ?? { prompt_tokens: 100, completion_tokens: 20 };
  let inFlight = 0;
  let maxInFlight = 0;

  const sendJson = (res: ServerResponse, status: number, body: string, headers: Record<string, string> = {}): void => {
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(body);
  };

  const server = createServer((req, res) => {
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    res.on('close', () => inFlight--);
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const rawBody = Buffer.concat(chunks).toString('utf8');
      let body: RecordedRequest['body'] = null;
      try {
        body = JSON.parse(rawBody) as RecordedRequest['body'];
      } catch {
        body = null;
      }
      const system = body?.messages?.find((m) => m.role === 'system')?.content ?? '';
      const user = body?.messages?.find((m) => m.role === 'user')?.content ?? '';
      const recorded: RecordedRequest = {
        index: requests.length,
        at: performance.now(),
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        rawBody,
        body,
        system,
        user,
        question: between(user, '<<<USER QUESTION>>>\n', '\n<<<END USER QUESTION>>>'),
        shownA: between(user, '<<<RESPONSE A>>>\n', '\n<<<END RESPONSE A>>>'),
        shownB: between(user, '<<<RESPONSE B>>>\n', '\n<<<END RESPONSE B>>>'),
      };
      requests.push(recorded);
      const reply = fake.rule(recorded);
      const answer = (): void => {
        switch (reply.kind) {
          case 'hang':
            return;
          case 'reset':
            req.socket.destroy();
            return;
          case 'malformed':
            sendJson(res, 200, '{"choices": [{"message": ');
            return;
          case 'status':
            sendJson(res, reply.status, reply.body ?? JSON.stringify({ error: { message: `status ${reply.status}` } }), reply.headers);
            return;
          case 'verdict':
          case 'content': {
            const content = reply.kind === 'verdict' ? `${reply.explanation ?? 'Compared both.'} [[${reply.label}]]` : reply.content;
            sendJson(
              res,
              200,
              JSON.stringify({
                id: `chatcmpl-${recorded.index}`,
                object: 'chat.completion',
                model: `${body?.model ?? 'unknown'}-2025-01-01`,
                choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }],
                usage: { ...usage, total_tokens: usage.prompt_tokens + usage.completion_tokens },
              }),
            );
            return;
          }
        }
      };
      if (opts.delayMs) setTimeout(answer, opts.delayMs);
      else answer();
    });
  });

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  const fake: FakeOpenAI = {
    baseUrl: `http://127.0.0.1:${port}/v1`,
    requests,
    get maxInFlight() {
      return maxInFlight;
    },
    get inFlight() {
      return inFlight;
    },
    rule: opts.rule ?? preferLonger,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((err) => (err ? reject(err) : resolve()));
      }),
  };
  return fake;
}

/** A judge with a length bias: the longer shown response wins, equal lengths tie. */
export const preferLonger: Rule = (r) => ({
  kind: 'verdict',
  label: r.shownA.length > r.shownB.length ? 'A' : r.shownB.length > r.shownA.length ? 'B' : 'C',
});

/** The shown response containing `word` wins; both or neither is a tie. */
export function preferKeyword(word: string): Rule {
  return (r) => {
    const a = r.shownA.includes(word);
    const b = r.shownB.includes(word);
    return { kind: 'verdict', label: a === b ? 'C' : a ? 'A' : 'B' };
  };
}

/** A judge with pure position bias. */
export function always(label: 'A' | 'B' | 'C'): Rule {
  return () => ({ kind: 'verdict', label });
}

/** The i-th request (in arrival order) gets replies[i]; later ones follow `then`. */
export function sequence(replies: FakeReply[], then: Rule): Rule {
  return (r) => replies[r.index] ?? then(r);
}
