// The crlhf command line: commander for parsing and help; every command's
// work lives in its own module.
// Command modules are imported when their command runs, so `--help` and
// config errors answer without loading Temporal, TensorFlow or the AWS SDK.
import { Command } from 'commander';
import { reportError } from './errors.js';
import { registerScheduleCommands } from './schedule.js';
import { registerSweepCommands } from './sweep.js';

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
  .action(async (opts: { json?: boolean }) => (await import('./doctor.js')).doctorCommand(opts, say));

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
    await (await import('./run.js')).runCommand(file, opts);
  });

program
  .command('resume')
  .description('continue a failed, cancelled or interrupted run; finished steps are reused from the store')
  .argument('<run>', 'run name')
  .option('--detach', 'start and return')
  .option('--json', 'print one JSON object at the end')
  .action(async (run: string, opts: { detach?: boolean; json?: boolean }) => {
    await (await import('./run.js')).resumeCommand(run, opts);
  });

program
  .command('status')
  .description('stage, progress and (when finished) results of a run')
  .argument('<run>', 'run name')
  .option('--json', 'print JSON')
  .action(async (run: string, opts: { json?: boolean }) => (await import('./runs.js')).statusCommand(run, opts));

program
  .command('list')
  .description('experiments on the Temporal server, newest first')
  .option('--task <task>', 'only runs of this task')
  .option('--sweep <sweep>', 'only runs of this sweep')
  .option('--limit <n>', 'at most n runs', (v) => Number(v), 100)
  .option('--json', 'print JSON')
  .action(async (opts: { task?: string; sweep?: string; json?: boolean; limit?: number }) => (await import('./runs.js')).listCommand(opts));

program
  .command('cancel')
  .description('cancel a run: PPO arms stop at the next iteration after a final checkpoint')
  .argument('<run>', 'run name')
  .action(async (run: string) => (await import('./runs.js')).cancelCommand(run));

program
  .command('report')
  .description("copy a run's report (HTML, Markdown, data, plots) from the store to a local directory")
  .argument('<run>', 'run name')
  .option('--out <dir>', 'output directory (default ./reports/<run>)')
  .option('--json', 'print the written paths as JSON')
  .action(async (run: string, opts: { out?: string; json?: boolean }) => (await import('./runs.js')).reportCommand(run, opts));

program
  .command('annotate')
  .description("serve the human judging page for a run's human-eval workflow (localhost by default; a token is required on other addresses)")
  .argument('<run>', 'run name (its config needs evaluation.judges: [human] and evaluation.human.quota > 0)')
  .option('--host <host>', 'address to bind', '127.0.0.1')
  .option('--port <port>', 'port (0 = any free port)', (v) => Number(v), 0)
  .option('--token <token>', 'access token (default: random when --host is not loopback)')
  .action(async (run: string, o: { host: string; port: number; token?: string }) => {
    const [{ openContext }, { annotateCommand, humanEvalWorkflowId }] = await Promise.all([import('./context.js'), import('./annotate.js')]);
    const ctx = await openContext({ say });
    try {
      await annotateCommand({ client: ctx.client, workflowId: humanEvalWorkflowId(run), host: o.host, port: o.port, token: o.token, say });
    } finally {
      await ctx.close();
    }
  });

program
  .command('worker')
  .description('run a worker that polls the task queues of TEMPORAL_ADDRESS (or the embedded server) until interrupted')
  .option('--queues <list>', 'comma-separated queues to poll: workflow, cpu, gpu', 'workflow,cpu,gpu')
  .option('--compute-hosts <n>', 'concurrent tensor-heavy activities (child processes)', (v) => Number(v))
  .option('--until <workflowId>', 'exit when this workflow closes')
  .action(async (opts: { queues: string; computeHosts?: number; until?: string }) => (await import('./worker.js')).workerCommand(opts, say));

const config = program.command('config').description('the experiment config: reference and validation');
config
  .command('reference')
  .description('every config field with its type, default and meaning (Markdown)')
  .action(async () => {
    const { configReference } = await import('../config/reference.js');
    console.log(configReference());
  });
config
  .command('show')
  .description('validate a config and print it with every default filled in')
  .argument('<config.yaml>')
  .option('--set <key=value>', 'override a field by dotted path (repeatable)', collect)
  .action(async (file: string, opts: { set?: string[] }) => {
    const [{ loadConfig }, { parseOverrides }, { stringify }] = await Promise.all([import('../config/load.js'), import('./run.js'), import('yaml')]);
    const { config } = await loadConfig(file, parseOverrides(opts.set));
    process.stdout.write(stringify(config));
  });

const server = program.command('server').description('the embedded Temporal server under the state directory');
server
  .command('start')
  .description('start it (built on first use)')
  .action(async () => (await import('./server.js')).serverCommand('start', say));
server
  .command('stop')
  .description('stop it')
  .action(async () => (await import('./server.js')).serverCommand('stop', say));
server
  .command('status')
  .description('say whether it runs, where')
  .action(async () => (await import('./server.js')).serverCommand('status', say));

registerSweepCommands(program);
registerScheduleCommands(program);

program.exitOverride();
try {
  await program.parseAsync(process.argv);
} catch (err) {
  process.exitCode = reportError(err);
}
