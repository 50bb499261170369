// `crlhf annotate <run>`: serves the human judging page for a run's
// human-eval workflow until interrupted.
import type { Client } from '@temporalio/client';
import { WorkflowNotFoundError } from '@temporalio/common';
import { NotFoundError } from '../common/errors.js';
import { isLoopback, startAnnotationServer, type AnnotationServer } from '../judges/human/server.js';
import { stateQuery } from '../workflows/human-eval.js';

export interface AnnotateOptions {
  client: Client;
  /** `<run>/human-eval`. */
  workflowId: string;
  host?: string;
  port?: number;
  /** Defaults to a fresh random token when `host` is not loopback. */
  token?: string;
  say: (msg: string) => void;
  /** Stops the server (tests); otherwise SIGINT or SIGTERM does. */
  signal?: AbortSignal;
  /** Called once the server listens. */
  onListening?: (server: AnnotationServer) => void;
}

export function humanEvalWorkflowId(run: string): string {
  return `${run}/human-eval`;
}

/** The page's URL with the annotator preselected. */
export function annotatorUrl(pageUrl: string, annotator: string): string {
  const u = new URL(pageUrl);
  u.searchParams.set('annotator', annotator);
  return u.toString();
}

export async function annotateCommand(opts: AnnotateOptions): Promise<void> {
  const handle = opts.client.workflow.getHandle(opts.workflowId);
  let status: string;
  try {
    status = (await handle.describe()).status.name;
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) {
      throw new NotFoundError(`no human evaluation "${opts.workflowId}": has the run reached its human-eval step?`, opts.workflowId);
    }
    throw err;
  }
  const server = await startAnnotationServer(opts);
  try {
    if (status !== 'RUNNING') opts.say(`The human evaluation is ${status.toLowerCase()}: the page shows it, votes are no longer accepted.`);
    let annotators: string[] = [];
    try {
      const s = await opts.client.connection.withDeadline(Date.now() + 10_000, () => handle.query(stateQuery));
      opts.say(
        `${s.runName}: ${s.totalPairs} pairs, annotators ${s.annotators.join(', ')}; ${s.totalVotes} of a quota of ${s.quota} votes so far.`,
      );
      annotators = s.annotators;
    } catch {
      opts.say('No worker answered yet: the page needs a running `crlhf worker` to show pairs and record votes.');
    }
    opts.say(`Annotation page: ${server.url}`);
    if (annotators.length > 0) {
      opts.say('One link per annotator (each may also pick their name on the page):');
      for (const a of annotators) opts.say(`  ${a}: ${annotatorUrl(server.url, a)}`);
    }
    if (!isLoopback(server.host)) opts.say('Reachable from other machines; share the whole URL: the token in it is the only access control.');
    opts.say('Press Ctrl-C to stop.');
    opts.onListening?.(server);
    let stop = () => {};
    const stopped = new Promise<void>((resolve) => (stop = resolve));
    opts.signal?.addEventListener('abort', stop, { once: true });
    if (opts.signal?.aborted) stop();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    await stopped;
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  } finally {
    await server.close();
  }
}
