// The sweep's one activity: its aggregate report, written to the store under
// sweeps/<sweep>/report/ when the last trial has finished. Registered by the
// workers next to the pipeline's activities (activities/index.ts).
import { joinKey } from '../storage/keys.js';
import { openStore } from '../storage/index.js';
import { aggregateSweep, loadTrialSummaries, renderSweepReport, sweepReportDir, writeSweepReportFiles } from '../pipeline/sweep-report.js';
import type { SweepStatus } from '../workflows/sweep.js';

export async function writeSweepReport(status: SweepStatus): Promise<{ html: string; markdown: string; data: string }> {
  const store = openStore(status.storeUri);
  const summaries = await loadTrialSummaries(store, status);
  const rendered = await renderSweepReport(aggregateSweep(status, summaries));
  const dir = sweepReportDir(status.sweep);
  await writeSweepReportFiles(rendered, async (rel, text) => {
    await store.put(joinKey(dir, rel), text, { contentType: rel.endsWith('.svg') ? 'image/svg+xml' : rel.endsWith('.html') ? 'text/html' : rel.endsWith('.json') ? 'application/json' : 'text/markdown' });
  });
  return { html: store.uri(joinKey(dir, 'report.html')), markdown: store.uri(joinKey(dir, 'report.md')), data: store.uri(joinKey(dir, 'report.json')) };
}
