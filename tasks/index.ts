// Registry of the synthetic tasks, looked up by the name in an experiment config.

import { ConfigError } from '../common/errors.js';
import { sentimentTask } from './sentiment.js';
import { sortTask } from './sort.js';
import type { Task } from './types.js';

export const TASKS = {
  sentiment: sentimentTask,
  sort: sortTask,
} as const satisfies Record<string, Task>;

export type TaskName = keyof typeof TASKS;

export const TASK_NAMES = Object.keys(TASKS) as TaskName[];

export function getTask(name: string): Task {
  if (!Object.hasOwn(TASKS, name)) {
    throw new ConfigError(`unknown task ${JSON.stringify(name)}; known tasks: ${TASK_NAMES.join(', ')}`, undefined, 'task');
  }
  return TASKS[name as TaskName];
}

export * from './types.js';
