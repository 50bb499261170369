// `crlhf sweep ...`: the commands and their help. The work lives in
// sweep/commands.ts, loaded when a command runs, so `--help` stays fast.
import type { Command } from 'commander';

const collect = (v: string, prev: string[] = []) => [...prev, v];
const commands = () => import('../sweep/commands.js');

export function registerSweepCommands(program: Command): void {
  const sweep = program
    .command('sweep')
    .description('run an experiment across knobs and seeds: grid and random search, shared steps computed once, at most max_concurrent trials at once');
  sweep
    .command('run')
    .description('validate a sweep spec and run its trials as child experiments (<sweep>/t000, ...); running it again attaches or continues it')
    .argument('<sweep.yaml>', 'sweep spec (see README, "Sweeps")')
    .option('--name <name>', "sweep name (the workflow ID); default: the spec's name or file name")
    .option('--set <key=value>', 'override a base config field in every trial, e.g. --set ppo.iterations=10 (repeatable)', collect)
    .option('--dry-run', 'validate and list the trials without starting anything')
    .option('--detach', 'start and return; the sweep continues on workers (embedded mode: a background worker)')
    .option('--json', 'print one JSON object at the end: trials, states, metrics')
    .action(async (file: string, opts: { name?: string; set?: string[]; dryRun?: boolean; detach?: boolean; json?: boolean }) => {
      await (await commands()).sweepRunCommand(file, opts);
    });
  sweep
    .command('status')
    .description('a table of the trials: knobs, seed, state, ranking metric and gold reward per arm')
    .argument('<sweep>', 'sweep ID or name')
    .option('--json', 'print JSON (with each trial summary)')
    .action(async (id: string, opts: { json?: boolean }) => (await commands()).sweepStatusCommand(id, opts));
  sweep
    .command('report')
    .description('aggregate across seeds (mean ± 95% CI per setting of win rates and gold reward), plots of each metric against each knob; written to a local folder')
    .argument('<sweep>', 'sweep ID or name')
    .option('--out <dir>', 'output directory (default ./reports/<sweep>)')
    .option('--json', 'print the written paths and the best setting as JSON')
    .action(async (id: string, opts: { out?: string; json?: boolean }) => (await commands()).sweepReportCommand(id, opts));
  sweep
    .command('cancel')
    .description('cancel a sweep and its running trials')
    .argument('<sweep>', 'sweep ID or name')
    .action(async (id: string) => (await commands()).sweepCancelCommand(id));
  sweep
    .command('list')
    .description('sweeps on the Temporal server, newest first (scheduled ones included)')
    .option('--limit <n>', 'at most n sweeps', (v) => Number(v), 100)
    .option('--json', 'print JSON')
    .action(async (opts: { limit?: number; json?: boolean }) => (await commands()).sweepListCommand(opts));
}
