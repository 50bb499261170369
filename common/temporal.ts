// How every crlhf process reaches Temporal: address, namespace and task
// queues from the environment, with the embedded local server as default.
import { Client, Connection } from '@temporalio/client';
import { SEARCH_ATTRIBUTES } from '../infra/servers.js';

export interface TemporalSettings {
  address: string;
  namespace: string;
  /** Prefix of every task queue: `<prefix>` (workflows), `<prefix>-cpu`, `<prefix>-gpu`. */
  taskQueue: string;
}

export function temporalSettings(address?: string): TemporalSettings {
  return {
    address: address ?? process.env.TEMPORAL_ADDRESS ?? '127.0.0.1:7233',
    namespace: process.env.TEMPORAL_NAMESPACE ?? 'default',
    taskQueue: process.env.CRLHF_TASK_QUEUE ?? 'crlhf',
  };
}

export function queues(prefix: string) {
  return {
    workflow: prefix,
    cpu: `${prefix}-cpu`,
    gpu: `${prefix}-gpu`,
  } as const;
}

export async function connectClient(settings: TemporalSettings): Promise<Client> {
  const connection = await Connection.connect({ address: settings.address, connectTimeout: 5000 });
  return new Client({ connection, namespace: settings.namespace });
}

/**
 * Registers the tool's custom search attributes on servers that lack them (the
 * embedded server gets them at start; a shared cluster needs this once).
 */
export async function ensureSearchAttributes(client: Client, namespace: string): Promise<void> {
  const { operatorService } = client.connection;
  const existing = await operatorService.listSearchAttributes({ namespace });
  const have = new Set(Object.keys(existing.customAttributes ?? {}));
  const missing = Object.entries(SEARCH_ATTRIBUTES).filter(([k]) => !have.has(k));
  if (missing.length === 0) return;
  // IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD = 2
  await operatorService.addSearchAttributes({
    namespace,
    searchAttributes: Object.fromEntries(missing.map(([k]) => [k, 2])),
  });
}
