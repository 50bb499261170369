// Read and control commands for runs: status, list, cancel, report.
import { writeFile, mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { table } from './table.js';
import { NotFoundError } from '../common/errors.js';
import { layout } from '../pipeline/layout.js';
import type { ExperimentSummary } from '../pipeline/summary.js';
import { openStore } from '../storage/index.js';
import { openContext } from './context.js';
import { describeSnapshot, RateTracker, snapshot } from './progress.js';
import { printSummary, runInput } from './run.js';

const say = (msg: string) => process.stderr.write(`${msg}\n`);

async function describeOrThrow(handle: { describe(): Promise<{ status: { name: string }; startTime: Date; closeTime?: Date }> }, run: string) {
  try {
    return await handle.describe();
  } catch (err) {
    if ((err as Error).name === 'WorkflowNotFoundError') throw new NotFoundError(`no run named "${run}"`);
    throw err;
  }
}

export async function statusCommand(run: string, opts: { json?: boolean }): Promise<void> {
  const ctx = await openContext({ say });
  try {
    const handle = ctx.client.workflow.getHandle(run);
    const desc = await describeOrThrow(handle, run);
    const snap = await snapshot(ctx.client, run);
    const summary = desc.status.name === 'COMPLETED' ? ((await handle.result()) as ExperimentSummary) : undefined;
    if (opts.json) {
      console.log(JSON.stringify({ run, status: desc.status.name, startTime: desc.startTime, closeTime: desc.closeTime ?? null, progress: snap.progress ?? null, activities: snap.activities, arms: snap.arms, summary: summary ?? null }, null, 2));
      return;
    }
    console.log(`run ${run}: ${desc.status.name} (started ${desc.startTime.toISOString()}${desc.closeTime ? `, closed ${desc.closeTime.toISOString()}` : ''})`);
    if (snap.progress) {
      const t = table(['stage', 'status', 'seconds']);
      for (const s of snap.progress.stages) t.push([s.name, s.status, s.seconds === undefined ? '' : s.seconds.toFixed(1)]);
      console.log(t.toString());
      console.log(describeSnapshot(snap, new RateTracker()));
    }
    if (summary) printSummary(summary);
  } finally {
    await ctx.close();
  }
}

export async function listCommand(opts: { task?: string; sweep?: string; json?: boolean; limit?: number }): Promise<void> {
  const ctx = await openContext({ say });
  try {
    const clauses = [`CrlhfKind = 'experiment'`];
    if (opts.task) clauses.push(`CrlhfTask = '${opts.task.replace(/'/g, '')}'`);
    if (opts.sweep) clauses.push(`CrlhfSweep = '${opts.sweep.replace(/'/g, '')}'`);
    const rows: { run: string; status: string; task: string; started: string; closed: string | null }[] = [];
    for await (const wf of ctx.client.workflow.list({ query: clauses.join(' AND ') })) {
      const task = (wf.searchAttributes?.CrlhfTask as string[] | undefined)?.[0] ?? '';
      rows.push({ run: wf.workflowId, status: wf.status.name, task, started: wf.startTime.toISOString(), closed: wf.closeTime?.toISOString() ?? null });
      if (rows.length >= (opts.limit ?? 100)) break;
    }
    if (opts.json) {
      console.log(JSON.stringify(rows, null, 2));
      return;
    }
    const t = table(['run', 'status', 'task', 'started', 'closed']);
    for (const r of rows) t.push([r.run, r.status, r.task, r.started, r.closed ?? '']);
    console.log(t.toString());
  } finally {
    await ctx.close();
  }
}

export async function cancelCommand(run: string): Promise<void> {
  const ctx = await openContext({ say });
  try {
    const handle = ctx.client.workflow.getHandle(run);
    await describeOrThrow(handle, run);
    await handle.cancel();
    console.log(`cancellation of ${run} requested: PPO arms stop at their next iteration with a final checkpoint; continue later with crlhf resume ${run}`);
  } finally {
    await ctx.close();
  }
}

/** Copies the run's report (HTML, Markdown, data, plots) from the store to a local directory. */
export async function reportCommand(run: string, opts: { out?: string; json?: boolean }): Promise<void> {
  const ctx = await openContext({ say });
  try {
    const input = await runInput(ctx.client, run);
    const store = openStore(input.storeUri);
    const dir = layout.reportDir(run);
    const objs = await store.list(`${dir}/`);
    if (!objs.length) throw new NotFoundError(`run "${run}" has no report yet (in ${store.root}/${dir})`, `${store.root}/${dir}`);
    const out = resolve(opts.out ?? join('reports', run));
    for (const o of objs) {
      const rel = o.key.slice(dir.length + 1);
      const target = join(out, ...rel.split('/'));
      await mkdir(join(target, '..'), { recursive: true });
      await writeFile(target, await store.get(o.key));
    }
    const res = { run, html: join(out, 'report.html'), markdown: join(out, 'report.md'), data: join(out, 'report.json'), storeUri: `${store.root}/${dir}` };
    if (opts.json) console.log(JSON.stringify(res, null, 2));
    else console.log(`report of ${run} written to ${out}\n  ${res.html}\n  ${res.markdown}`);
  } finally {
    await ctx.close();
  }
}
