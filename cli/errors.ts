// One clear line per failure and a meaningful exit code.
import { CrlhfError, EXIT_CODES } from '../common/errors.js';

export function reportError(err: unknown): number {
  if (err instanceof CrlhfError) {
    process.stderr.write(`crlhf: ${err.kind} error: ${err.message}\n`);
    return EXIT_CODES[err.kind];
  }
  if ((err as Error)?.name === 'WorkflowFailedError') {
    let cause: unknown = (err as Error).cause;
    const chain: string[] = [];
    while (cause instanceof Error) {
      chain.push(cause.message);
      cause = (cause as Error & { cause?: unknown }).cause;
    }
    process.stderr.write(`crlhf: workflow failed: ${chain.join(': ') || (err as Error).message}\n`);
    return 1;
  }
  const e = err as Error & { code?: string };
  if (e?.name === 'CommanderError') return 2;
  process.stderr.write(`crlhf: ${e?.message ?? String(err)}\n`);
  if (process.env.CRLHF_DEBUG) process.stderr.write(`${e?.stack}\n`);
  return 1;
}
