import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from '../../../common/errors.js';
import { TASK_NAMES, getTask } from '../../../tasks/index.js';
import { sentimentTask } from '../../../tasks/sentiment.js';
import { sortTask } from '../../../tasks/sort.js';

describe('getTask', () => {
  it('returns registered tasks by name', () => {
    assert.equal(getTask('sentiment'), sentimentTask);
    assert.equal(getTask('sort'), sortTask);
    assert.deepEqual(TASK_NAMES, ['sentiment', 'sort']);
  });

  it('lists the known tasks for an unknown name', () => {
    assert.throws(
      () => getTask('summarize'),
      (e: unknown) => e instanceof ConfigError && e.message === 'unknown task "summarize"; known tasks: sentiment, sort' && e.field === 'task',
    );
    assert.throws(() => getTask('toString'), ConfigError, 'no prototype keys');
  });
});
