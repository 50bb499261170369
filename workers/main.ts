// Stand-alone worker entry point: `node --import tsx workers/main.ts [queues]`
// (what `crlhf worker` runs). Connects to TEMPORAL_ADDRESS and polls the
// given queues (default all) until SIGINT/SIGTERM, then drains and exits.
import { temporalSettings } from '../common/temporal.js';
import { ALL_QUEUES, startWorkers, type QueueKind } from './worker.js';

const arg = process.argv[2];
const queues = arg ? (arg.split(',') as QueueKind[]) : ALL_QUEUES;
const running = await startWorkers({ settings: temporalSettings(), queues });
process.stdout.write(`worker ${running.identity} polling ${queues.join(',')} (sticky queue ${running.stickyQueue})\n`);
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => void running.shutdown());
await running.done;
