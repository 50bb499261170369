// Picks the fastest TensorFlow.js backend installed on this machine, once per
// process. Measured on the developers' 2-core machine (research/probe.md §1,
// §7): tensorflow (tfjs-node on TF's C library) ≈ 3.7× wasm ≈ 100× cpu.
import { availableParallelism } from 'node:os';
import { createRequire } from 'node:module';
import * as tf from '@tensorflow/tfjs';
import { dataParallelRanks } from './parallel/pool.js';

export type BackendName = 'tensorflow' | 'wasm' | 'cpu';
export type BackendPreference = 'auto' | BackendName;

export interface BackendInfo {
  /** The tfjs backend that runs every op: recorded with every result. */
  name: BackendName;
  /**
   * Threads the backend really uses: TensorFlow's intra-op pool on
   * tensorflow; on wasm and cpu (single-threaded kernels) the data-parallel
   * worker threads of parallel/pool.ts (CRLHF_THREADS, default the cores).
   */
  threads: number;
  tfVersion: string;
  /** Which package provided it and why others were skipped. */
  detail: string;
}

const PREFERENCES: readonly BackendPreference[] = ['auto', 'tensorflow', 'wasm', 'cpu'];

let info: BackendInfo | undefined;
let pending: Promise<BackendInfo> | undefined;

/**
 * Chooses and activates the backend. `CRLHF_BACKEND` overrides `pref`, so a
 * test run or a worker can be pinned without code changes. Idempotent: later
 * calls return the first call's result whatever they ask for.
 */
export function initBackend(pref: BackendPreference = 'auto'): Promise<BackendInfo> {
  if (info) return Promise.resolve(info);
  pending ??= choose(pref).then((chosen) => {
    info = chosen;
    return chosen;
  });
  return pending;
}

/** The active backend; throws if `initBackend` has not finished. */
export function backendInfo(): BackendInfo {
  if (!info) throw new Error('rlhf backend not initialised: await initBackend() first');
  return info;
}

async function choose(pref: BackendPreference): Promise<BackendInfo> {
  const env = process.env.CRLHF_BACKEND?.trim();
  if (env) {
    if (!PREFERENCES.includes(env as BackendPreference)) {
      throw new Error(`CRLHF_BACKEND=${env} is not one of ${PREFERENCES.join(', ')}`);
    }
    pref = env as BackendPreference;
  }
  const order: BackendName[] = pref === 'auto' ? ['tensorflow', 'wasm', 'cpu'] : [pref];
  const skipped: string[] = [];
  for (const name of order) {
    try {
      const chosen = await activate(name);
      if (skipped.length) chosen.detail += `; skipped ${skipped.join('; ')}`;
      return chosen;
    } catch (err) {
      if (pref !== 'auto') throw err;
      skipped.push(`${name}: ${(err as Error).message.split('\n')[0]}`);
    }
  }
  throw new Error(`no TensorFlow.js backend could start: ${skipped.join('; ')}`);
}

async function activate(name: BackendName): Promise<BackendInfo> {
  switch (name) {
    case 'tensorflow':
      return activateNode();
    case 'wasm':
      return activateWasm();
    case 'cpu':
      return activateCpu();
  }
}

async function activateNode(): Promise<BackendInfo> {
  // TensorFlow's C library logs oneDNN/CPU-feature notices at load time.
  process.env.TF_CPP_MIN_LOG_LEVEL ??= '2';
  // TensorFlow's default CPU allocator returns every buffer to the system, so
  // each large temporary is fresh pages to fault in; its BFC allocator keeps
  // them (measured: a 25M-element multiply 75 → 15 ms, the 25M-parameter
  // training step 3.7 → 2.1 s). Read once, when the library loads.
  process.env.TF_CPU_ALLOCATOR_USE_BFC ??= 'true';
  let pkg: string | undefined;
  const require = createRequire(import.meta.url);
  for (const candidate of ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node']) {
    try {
      require.resolve(candidate);
    } catch {
      continue;
    }
    await import(candidate);
    pkg = candidate;
    break;
  }
  if (!pkg) throw new Error('neither @tensorflow/tfjs-node-gpu nor @tensorflow/tfjs-node is installed');
  if (!(await tf.setBackend('tensorflow'))) throw new Error(`${pkg} loaded but backend 'tensorflow' failed`);
  await tf.ready();
  return {
    name: 'tensorflow',
    threads: availableParallelism(),
    tfVersion: tf.version.tfjs,
    detail: `${pkg} (TensorFlow C library, intra-op threads = cores)`,
  };
}

async function activateWasm(): Promise<BackendInfo> {
  const wasm = await import('@tensorflow/tfjs-backend-wasm');
  // Only the threaded build honours this, and Node never loads that build
  // (probe §1); set anyway so a future tfjs that does gets all cores.
  wasm.setThreadsCount(availableParallelism());
  if (!(await tf.setBackend('wasm'))) throw new Error("backend 'wasm' failed to initialise");
  await tf.ready();
  const simd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT');
  const ranks = dataParallelRanks();
  return {
    name: 'wasm',
    threads: ranks,
    tfVersion: tf.version.tfjs,
    detail: `@tensorflow/tfjs-backend-wasm${simd ? ' (SIMD)' : ' (no SIMD)'}, ${ranks > 1 ? `data-parallel over ${ranks} threads` : 'one thread'}`,
  };
}

async function activateCpu(): Promise<BackendInfo> {
  if (!(await tf.setBackend('cpu'))) throw new Error("backend 'cpu' failed to initialise");
  await tf.ready();
  // The cpu backend prints an "install tfjs-node" banner on its first tensor;
  // we already know and record it, so create that tensor quietly.
  const prod = tf.env().getBool('PROD');
  tf.env().set('PROD', true);
  tf.tidy(() => tf.scalar(0));
  tf.env().set('PROD', prod);
  const ranks = dataParallelRanks();
  return { name: 'cpu', threads: ranks, tfVersion: tf.version.tfjs, detail: `pure-JS cpu backend, ${ranks > 1 ? `data-parallel over ${ranks} threads` : 'one thread'}` };
}
