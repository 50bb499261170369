// Tables for the terminal: cli-table3 with colours only when stdout is a terminal,
// so piped and logged output stays plain text.
import Table from 'cli-table3';

export function table(head: string[]): InstanceType<typeof Table> {
  return new Table({ head, style: process.stdout.isTTY ? {} : { head: [], border: [] } });
}
