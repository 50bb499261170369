import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { initBackend, backendInfo } from '../../../rlhf/backend.js';
import { dataParallelRanks } from '../../../rlhf/parallel/pool.js';
import { setup } from './helpers.js';

const run = promisify(execFile);
const info = await setup();

test('initBackend activates a backend, reports it, and is idempotent', async () => {
  assert.equal(tf.getBackend(), info.name);
  assert.equal(info.tfVersion, tf.version.tfjs);
  assert.ok(info.threads >= 1);
  // Node loads the single-threaded wasm build; the cores serve data-parallel worker threads instead.
  if (info.name !== 'tensorflow') assert.equal(info.threads, dataParallelRanks(), 'wasm and cpu report their worker-thread ranks');
  assert.equal(await initBackend('cpu'), info, 'a second call returns the first result');
  assert.deepEqual(backendInfo(), info);
  if (process.env.CRLHF_BACKEND) assert.equal(info.name, process.env.CRLHF_BACKEND);
});

const script = "import('./rlhf/backend.ts').then(async (m) => { const i = await m.initBackend(); console.log(JSON.stringify(i)); })";
async function child(env: Record<string, string>) {
  return run(process.execPath, ['--import', 'tsx', '-e', script], { env: { ...process.env, ...env }, cwd: new URL('../../../', import.meta.url).pathname });
}

test('CRLHF_BACKEND overrides the preference, and the cpu banner is silenced', async () => {
  const { stdout, stderr } = await child({ CRLHF_BACKEND: 'cpu' });
  assert.equal(JSON.parse(stdout).name, 'cpu');
  assert.doesNotMatch(stderr, /looks like you are running TensorFlow\.js in Node/);
});

test('auto picks the best installed backend without start-up noise on stderr', async () => {
  const { stdout, stderr } = await child({ CRLHF_BACKEND: 'auto' });
  const chosen = JSON.parse(stdout);
  assert.ok(['tensorflow', 'wasm', 'cpu'].includes(chosen.name));
  assert.doesNotMatch(stderr, /looks like you are running|cpu_feature_guard|oneDNN|absl/);
});

test('an unknown CRLHF_BACKEND is an error naming the allowed values', async () => {
  await assert.rejects(child({ CRLHF_BACKEND: 'gpu' }), /CRLHF_BACKEND=gpu is not one of auto, tensorflow, wasm, cpu/);
});
