// `crlhf doctor`: starts (or finds) the Temporal server and the store, runs a
// tiny workflow end to end on a worker, and says what runs where.
import { randomBytes } from 'node:crypto';
import { queues } from '../common/temporal.js';
import { binaryVersion, TEMPORAL_CLI_VERSION } from '../infra/servers.js';
import { openStore } from '../storage/index.js';
import type { DoctorResult } from '../workflows/doctor.js';
import { openContext, workflowUiLink } from './context.js';

export interface DoctorReport {
  ok: boolean;
  temporal: { address: string; namespace: string; embedded: boolean; version?: string | null; ui?: string };
  store: { uri: string; writable: boolean };
  backend: DoctorResult['compute']['backend'];
  workflow: { id: string; ui?: string; resumedFrom: number; seconds: number };
  node: string;
}

export async function runDoctor(say: (msg: string) => void): Promise<DoctorReport> {
  const ctx = await openContext({ worker: true, say });
  try {
    const store = openStore(ctx.storeUri);
    await store.check();
    const workflowId = `crlhf-doctor-${Date.now()}-${randomBytes(3).toString('hex')}`;
    const t0 = Date.now();
    const result = await ctx.client.workflow.execute('doctorWorkflow', {
      taskQueue: queues(ctx.settings.taskQueue).workflow,
      workflowId,
      args: [{ storeUri: ctx.storeUri, steps: 5, stepMs: 50, computeQueue: queues(ctx.settings.taskQueue).gpu }],
      workflowExecutionTimeout: '5 minutes',
    });
    const r = result as DoctorResult;
    return {
      ok: r.compute.matmulOk && r.store.roundTrip,
      temporal: {
        address: ctx.settings.address,
        namespace: ctx.settings.namespace,
        embedded: ctx.embedded,
        version: ctx.embedded ? `Temporal CLI ${TEMPORAL_CLI_VERSION}, ${(await binaryVersion('temporal'))?.replace(/^.*\((.*)\).*$/, '$1')}` : undefined,
        ui: ctx.uiUrl,
      },
      store: { uri: ctx.storeUri, writable: r.store.roundTrip },
      backend: r.compute.backend,
      workflow: { id: workflowId, ui: workflowUiLink(ctx, workflowId), resumedFrom: r.compute.resumedFrom, seconds: (Date.now() - t0) / 1000 },
      node: process.version,
    };
  } finally {
    await ctx.close();
  }
}

export async function doctorCommand(opts: { json?: boolean }, say: (msg: string) => void): Promise<void> {
  const r = await runDoctor(say);
  if (opts.json) {
    console.log(JSON.stringify(r, null, 2));
  } else {
    console.log(`Temporal:  ${r.temporal.address} (namespace ${r.temporal.namespace}${r.temporal.embedded ? `, embedded server ${r.temporal.version ?? ''}` : ''})`);
    if (r.temporal.ui) console.log(`Web UI:    ${r.temporal.ui}`);
    console.log(`Store:     ${r.store.uri} (${r.store.writable ? 'writable' : 'NOT writable'})`);
    console.log(`Backend:   ${r.backend.name} (${r.backend.threads} threads; ${r.backend.detail})`);
    console.log(`Workflow:  ${r.workflow.id} completed in ${r.workflow.seconds.toFixed(1)}s${r.workflow.ui ? `\n           ${r.workflow.ui}` : ''}`);
    console.log(r.ok ? 'doctor: all checks passed' : 'doctor: some checks FAILED');
  }
  if (!r.ok) process.exitCode = 1;
}
