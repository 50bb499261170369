import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hostEnv } from '../../../activities/compute-pool.js';

test('compute hosts share the cores as data-parallel ranks unless CRLHF_THREADS is set', () => {
  assert.equal(hostEnv(1, {}, 2).CRLHF_THREADS, '2');
  assert.equal(hostEnv(2, {}, 2).CRLHF_THREADS, '1');
  assert.equal(hostEnv(3, {}, 8).CRLHF_THREADS, '2');
  assert.equal(hostEnv(4, {}, 2).CRLHF_THREADS, '1', 'never below one rank');
  assert.equal(hostEnv(2, {}, 2).TF_NUM_INTRAOP_THREADS, '1', 'one TensorFlow thread per rank, also for a single rank');
  assert.deepEqual(hostEnv(2, { CRLHF_THREADS: '3' }, 2), { CRLHF_THREADS: '3' }, 'an explicit setting wins');
  assert.equal(hostEnv(1, { PATH: '/bin' }, 2).PATH, '/bin', 'the rest of the environment is passed on');
});
