// `crlhf schedule ...`: sweeps on a Temporal Schedule. The commands and their
// help; the work lives in sweep/schedules.ts, loaded when a command runs.
import type { ScheduleOverlapPolicy } from '@temporalio/client';
import type { Command } from 'commander';

const collect = (v: string, prev: string[] = []) => [...prev, v];
const schedules = () => import('../sweep/schedules.js');
/** --overlap values and Temporal's policies (plain strings: the CLI loads no SDK to show its help). */
export const OVERLAP: Record<string, ScheduleOverlapPolicy> = {
  skip: 'SKIP',
  'buffer-one': 'BUFFER_ONE',
  'buffer-all': 'BUFFER_ALL',
  'allow-all': 'ALLOW_ALL',
  'cancel-other': 'CANCEL_OTHER',
  'terminate-other': 'TERMINATE_OTHER',
};
export const OVERLAP_POLICIES = Object.keys(OVERLAP).join(', ');

export function registerScheduleCommands(program: Command): void {
  const schedule = program.command('schedule').description('run a sweep on a Temporal Schedule (cron or interval) with overlap and catch-up policies');
  schedule
    .command('create')
    .description('validate a sweep spec and schedule it; each execution is a sweep named <id>-<scheduled time>')
    .argument('<sweep.yaml>', 'sweep spec')
    .option('--id <id>', "schedule ID; default: the sweep's name")
    .option('--cron <expression>', 'cron expression, e.g. "0 3 * * *" (03:00 every day)')
    .option('--every <duration>', 'interval, e.g. 24h, 6h, 30m')
    .option('--timezone <tz>', 'IANA time zone of the cron expression, e.g. Europe/Berlin (default UTC)')
    .option('--overlap <policy>', `when the previous sweep still runs: ${OVERLAP_POLICIES}`, 'skip')
    .option('--catchup <duration>', 'start missed sweeps that are at most this late after a server outage (default 1 year)')
    .option('--paused', 'create it paused')
    .option('--note <text>', 'a note shown by describe')
    .option('--name <name>', 'sweep name to validate the spec with (the schedule ID by default)')
    .option('--set <key=value>', 'override a base config field in every trial (repeatable)', collect)
    .option('--json', 'print the schedule as JSON')
    .action(async (file: string, opts: Parameters<Awaited<ReturnType<typeof schedules>>['scheduleCreateCommand']>[1]) => (await schedules()).scheduleCreateCommand(file, opts));
  schedule
    .command('list')
    .description('sweep schedules: when, paused or not, next times, recent sweeps')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }) => (await schedules()).scheduleListCommand(opts));
  schedule
    .command('describe')
    .description('a schedule in full: policies, next times, the sweeps it started')
    .argument('<id>', 'schedule ID')
    .option('--json', 'print JSON')
    .action(async (id: string, opts: { json?: boolean }) => (await schedules()).scheduleDescribeCommand(id, opts));
  schedule
    .command('pause')
    .description('start no new sweeps until unpaused (running ones continue)')
    .argument('<id>', 'schedule ID')
    .option('--note <text>', 'why')
    .action(async (id: string, opts: { note?: string }) => (await schedules()).schedulePauseCommand(id, opts));
  schedule
    .command('unpause')
    .description('resume starting sweeps')
    .argument('<id>', 'schedule ID')
    .option('--note <text>', 'why')
    .action(async (id: string, opts: { note?: string }) => (await schedules()).scheduleUnpauseCommand(id, opts));
  schedule
    .command('trigger')
    .description('start a sweep now (paused or not)')
    .argument('<id>', 'schedule ID')
    .option('--overlap <policy>', `instead of the schedule's: ${OVERLAP_POLICIES}`)
    .action(async (id: string, opts: { overlap?: string }) => (await schedules()).scheduleTriggerCommand(id, opts));
  schedule
    .command('backfill')
    .description('start the sweeps the schedule would have started in a past time range')
    .argument('<id>', 'schedule ID')
    .requiredOption('--start <time>', 'range start, e.g. 2025-05-01T00:00:00Z')
    .requiredOption('--end <time>', 'range end')
    .option('--overlap <policy>', 'overlap policy of the backfilled sweeps', 'allow-all')
    .action(async (id: string, opts: { start: string; end: string; overlap?: string }) => (await schedules()).scheduleBackfillCommand(id, opts));
  schedule
    .command('delete')
    .description('delete a schedule (the sweeps it started are not affected)')
    .argument('<id>', 'schedule ID')
    .action(async (id: string) => (await schedules()).scheduleDeleteCommand(id));
}
