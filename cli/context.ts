// Where a CLI command finds Temporal, the store and workers. With no
// TEMPORAL_ADDRESS it uses the embedded default: the local Temporal server
// under the state directory (started if needed, left running for later
// commands), a file:// store beside it, and an in-process worker while the
// command runs.
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Client } from '@temporalio/client';
import { stateDir } from '../common/dirs.js';
import { connectClient, ensureSearchAttributes, temporalSettings, type TemporalSettings } from '../common/temporal.js';
import { ensureTemporalServer, type ServerRecord } from '../infra/servers.js';
import { startWorkers, type RunningWorkers } from '../workers/worker.js';

export interface CliContext {
  settings: TemporalSettings;
  client: Client;
  embedded: boolean;
  server?: ServerRecord;
  /** Temporal Web UI base URL, when known. */
  uiUrl?: string;
  storeUri: string;
  workers?: RunningWorkers;
  close(): Promise<void>;
}

export function defaultStoreUri(): string {
  return process.env.CRLHF_STORE ?? pathToFileURL(join(stateDir(), 'store')).href;
}

export interface ContextOptions {
  /** Run an in-process worker (embedded mode only, unless forced). */
  worker?: boolean;
  say?: (msg: string) => void;
}

export async function openContext(opts: ContextOptions = {}): Promise<CliContext> {
  const embedded = !process.env.TEMPORAL_ADDRESS;
  let server: ServerRecord | undefined;
  let settings: TemporalSettings;
  if (embedded) {
    server = await ensureTemporalServer({ stateDir: stateDir(), say: opts.say });
    settings = temporalSettings(`${server.host}:${server.port}`);
  } else {
    settings = temporalSettings();
  }
  const client = await connectClient(settings);
  await ensureSearchAttributes(client, settings.namespace).catch(() => {});
  const uiUrl = server ? `http://${server.host}:${server.uiPort}` : process.env.CRLHF_TEMPORAL_UI_URL;
  let workers: RunningWorkers | undefined;
  if (opts.worker && embedded) workers = await startWorkers({ settings });
  return {
    settings,
    client,
    embedded,
    server,
    uiUrl,
    storeUri: defaultStoreUri(),
    workers,
    async close() {
      await workers?.shutdown();
      await client.connection.close();
    },
  };
}

export function workflowUiLink(ctx: CliContext, workflowId: string): string | undefined {
  if (!ctx.uiUrl) return undefined;
  return `${ctx.uiUrl}/namespaces/${ctx.settings.namespace}/workflows/${encodeURIComponent(workflowId)}`;
}
