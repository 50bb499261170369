import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Command } from 'commander';
import { OVERLAP_POLICIES, registerScheduleCommands } from '../../../cli/schedule.js';
import { registerSweepCommands } from '../../../cli/sweep.js';
import { OVERLAP } from '../../../sweep/schedules.js';

describe('sweep and schedule commands', () => {
  it('are registered with their subcommands', () => {
    const program = new Command();
    registerSweepCommands(program);
    registerScheduleCommands(program);
    const sub = (name: string) => program.commands.find((c) => c.name() === name)!.commands.map((c) => c.name());
    assert.deepEqual(sub('sweep'), ['run', 'status', 'report', 'cancel', 'list']);
    assert.deepEqual(sub('schedule'), ['create', 'list', 'describe', 'pause', 'unpause', 'trigger', 'backfill', 'delete']);
  });

  it('list in their help the overlap policies the schedules accept', () => {
    assert.equal(OVERLAP_POLICIES, Object.keys(OVERLAP).join(', '));
  });
});
