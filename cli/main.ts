// The crlhf command line: commander for parsing and help; every command's
// work lives in its own module.
import { Command, Option } from 'commander';
import { stateDir } from '../common/dirs.js';
import { connectClient, temporalSettings } from '../common/temporal.js';
import { ensureTemporalServer, serverStatus, startTemporalServer, stopServer } from '../infra/servers.js';
import { ALL_QUEUES, startWorkers, type QueueKind } from '../workers/worker.js';
import { runDoctor } from './doctor.js';
import { reportError } from './errors.js';
import { resumeCommand, runCommand } from './run.js';
import { annotateCommand, humanEvalWorkflowId } from './annotate.js';
import { openContext } from './context.js';
import { cancelCommand, listCommand, reportCommand, statusCommand } from './runs.js';

const say = (msg: string) => process.stderr.write(`${msg}\n`);

const program = new Command()
  .name('crlhf')
  .description('RLHF experiments with contrastive rewards (arXiv 2403.07708) as durable Temporal workflows')
  .version('0.1.0')
  .showHelpAfterError()
  .addHelpText(
    'after',
    `
Without TEMPORAL_ADDRESS, commands use the embedded default: a local Temporal
server under $CRLHF_STATE_DIR (default ~/.local/state/contrastive-rlhf), built
on first use, a file:// store beside it, and an in-process worker.
Environment variables are listed in the README.`,
  );

program
  .command('doctor')
  .description('self-check: start the local Temporal server and store, run a tiny workflow, print the Web UI address and the tensor backend')
  .option('--json', 'print one JSON object')
  .action(async (opts: { json?: boolean }) => {
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
  });

const collect = (v: string, prev: string[] = []) => [...prev, v];

program
  .command('run')
  .description('validate a config and run the experiment: data → SFT → reward model → offline baselines → PPO arms → evaluation → report')
  .argument('<config.yaml>', 'experiment config (see README, "Configuration")')
  .option('--name <name>', 'run name (the workflow ID); default: the config\'s name or file name')
  .option('--set <key=value>', 'override a config field by dotted path, e.g. --set ppo.iterations=10 (repeatable)', collect)
  .option('--detach', 'start and return; the run continues on workers (embedded mode: a background worker)')
  .option('--json', 'print one JSON object at the end: run id, per-arm metrics, win rates, artifact URIs')
  .action(async (file: string, opts: { name?: string; set?: string[]; detach?: boolean; json?: boolean }) => {
    await runCommand(file, opts);
  });

program
  .command('resume')
  .description('continue a failed, cancelled or interrupted run; finished steps are reused from the store')
  .argument('<run>', 'run name')
  .option('--detach', 'start and return')
  .option('--json', 'print one JSON object at the end')
  .action(async (run: string, opts: { detach?: boolean; json?: boolean }) => {
    await resumeCommand(run, opts);
  });

program
  .command('status')
  .description('stage, progress and (when finished) results of a run')
  .argument('<run>', 'run name')
  .option('--json', 'print JSON')
  .action(statusCommand);

program
  .command('list')
  .description('experiments on the Temporal server, newest first')
  .option('--task <task>', 'only runs of this task')
  .option('--sweep <sweep>', 'only runs of this sweep')
  .option('--limit <n>', 'at most n runs', (v) => Number(v), 100)
  .option('--json', 'print JSON')
  .action(listCommand);

program
  .command('cancel')
  .description('cancel a run: PPO arms stop at the next iteration after a final checkpoint')
  .argument('<run>', 'run name')
  .action(cancelCommand);

program
  .command('report')
  .description("copy a run's report (HTML, Markdown, data, plots) from the store to a local directory")
  .argument('<run>', 'run name')
  .option('--out <dir>', 'output directory (default ./reports/<run>)')
  .option('--json', 'print the written paths as JSON')
  .action(reportCommand);

program
  .command('annotate')
  .description("serve the human judging page for a run's human-eval workflow (localhost by default; a token is required on other addresses)")
  .argument('<run>', 'run name (its config needs evaluation.judges: [human] and evaluation.human.quota > 0)')
  .option('--host <host>', 'address to bind', '127.0.0.1')
  .option('--port <port>', 'port (0 = any free port)', (v) => Number(v), 0)
  .option('--token <token>', 'access token (default: random when --host is not loopback)')
  .action(async (run: string, o: { host: string; port: number; token?: string }) => {
    const ctx = await openContext({ say });
    try {
      await annotateCommand({ client: ctx.client, workflowId: humanEvalWorkflowId(run), host: o.host, port: o.port, token: o.token, say });
    } finally {
      await ctx.close();
    }
  });

program
  .command('worker')
  .description('run a worker that polls the task queues of TEMPORAL_ADDRESS until interrupted')
  .addOption(new Option('--queues <list>', 'comma-separated queues to poll').default(ALL_QUEUES.join(',')))
  .option('--compute-hosts <n>', 'concurrent tensor-heavy activities (child processes)', (v) => Number(v))
  .option('--until <workflowId>', 'exit when this workflow closes')
  .action(async (opts: { queues: string; computeHosts?: number; until?: string }) => {
    const kinds = opts.queues.split(',').map((q) => q.trim()) as QueueKind[];
    for (const k of kinds) if (!ALL_QUEUES.includes(k)) throw new Error(`unknown queue "${k}"; expected some of ${ALL_QUEUES.join(', ')}`);
    const settings = await workerSettings();
    const running = await startWorkers({ settings, queues: kinds, computeHosts: opts.computeHosts });
    say(`worker ${running.identity} polling ${kinds.join(',')} on ${settings.address} (task queue prefix ${settings.taskQueue})`);
    for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => void running.shutdown());
    if (opts.until) void shutdownWhenClosed(settings, opts.until, running.shutdown);
    await running.done;
  });

/** The embedded server's address when TEMPORAL_ADDRESS is not set (a background worker of `run --detach`). */
async function workerSettings() {
  if (process.env.TEMPORAL_ADDRESS) return temporalSettings();
  const rec = await ensureTemporalServer({ stateDir: stateDir(), say });
  return temporalSettings(`${rec.host}:${rec.port}`);
}

async function shutdownWhenClosed(settings: ReturnType<typeof temporalSettings>, workflowId: string, shutdown: () => Promise<void>) {
  const client = await connectClient(settings);
  for (;;) {
    await new Promise((r) => setTimeout(r, 5000));
    const desc = await client.workflow.getHandle(workflowId).describe().catch(() => null);
    if (desc && desc.status.name !== 'RUNNING') break;
  }
  await client.connection.close();
  await shutdown();
}

const server = program.command('server').description('the embedded Temporal server under the state directory');
server
  .command('start')
  .description('start it (built on first use)')
  .action(async () => {
    const rec = (await serverStatus(stateDir(), 'temporal')) ?? (await startTemporalServer({ stateDir: stateDir(), say }));
    console.log(`Temporal server on ${rec.host}:${rec.port}, Web UI http://${rec.host}:${rec.uiPort}, database ${rec.dbFile}`);
  });
server
  .command('stop')
  .description('stop it')
  .action(async () => {
    console.log((await stopServer(stateDir(), 'temporal')) ? 'Temporal server stopped' : 'no Temporal server was running');
  });
server
  .command('status')
  .description('say whether it runs, where')
  .action(async () => {
    const rec = await serverStatus(stateDir(), 'temporal');
    if (!rec) {
      console.log(`no Temporal server running for ${stateDir()}`);
      process.exitCode = 1;
    } else console.log(`Temporal server on ${rec.host}:${rec.port} (pid ${rec.pid}), Web UI http://${rec.host}:${rec.uiPort}, database ${rec.dbFile}`);
  });

program.exitOverride();
try {
  await program.parseAsync(process.argv);
} catch (err) {
  process.exitCode = reportError(err);
}
