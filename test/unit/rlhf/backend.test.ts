import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
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
  // Node loads the single-threaded wasm build, and tensorflow runs one intra-op
  // thread per rank by default: the cores serve data-parallel ranks instead.
  if (dataParallelRanks() > 1 || info.name !== 'tensorflow') assert.equal(info.threads, dataParallelRanks(), 'the backend reports its data-parallel ranks');
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

const gpuBuild = join(process.env.CRLHF_CACHE_DIR ?? join(homedir(), '.cache', 'contrastive-rlhf'), 'tfjs-node-gpu-4.22.0', 'node_modules', '@tensorflow', 'tfjs-node-gpu', 'lib', 'napi-v8', 'tfjs_binding.node');
const noDevice = !readdirSync('/dev').some((n) => /^nvidia\d+$/.test(n));

test('the tfjs-node-gpu build (infra/tensorflow-gpu.sh) is passed over without an NVIDIA device, and runs on the CPU when forced', { skip: !existsSync(gpuBuild) ? 'tfjs-node-gpu not built here' : !noDevice ? 'this machine has a GPU' : false }, async () => {
  const plain = JSON.parse((await child({ CRLHF_BACKEND: 'tensorflow' })).stdout);
  assert.equal(plain.gpu, false);
  assert.match(plain.detail, /^@tensorflow\/tfjs-node \(.*no NVIDIA device: using tfjs-node/);
  const forced = JSON.parse((await child({ CRLHF_BACKEND: 'tensorflow', CRLHF_GPU: '1' })).stdout);
  assert.equal(forced.name, 'tensorflow');
  assert.equal(forced.gpu, false);
  assert.match(forced.detail, /^@tensorflow\/tfjs-node-gpu .*no CUDA device visible to TensorFlow: CPU kernels/);
});
