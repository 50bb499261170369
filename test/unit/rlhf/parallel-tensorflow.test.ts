// The data-parallel suite on tensorflow, whose ranks each run TensorFlow's
// kernels on one intra-op thread (parallel/pool.ts's tensorflowRanks).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { availableParallelism } from 'node:os';
import { initBackend } from '../../../rlhf/backend.js';
import { parallelSuite } from './parallel-suite.js';

const info = await initBackend('tensorflow');

test('tensorflow starts with one data-parallel rank per core, each on one intra-op thread', { skip: info.name !== 'tensorflow' ? `backend ${info.name} (CRLHF_BACKEND)` : (info.gpu || process.env.CRLHF_THREADS !== undefined) && 'GPU or CRLHF_THREADS set' }, () => {
  assert.equal(info.threads, availableParallelism());
  if (info.threads > 1) {
    assert.equal(process.env.TF_NUM_INTRAOP_THREADS, '1');
    assert.match(info.detail, /data-parallel over \d+ threads/);
  }
});

parallelSuite();
