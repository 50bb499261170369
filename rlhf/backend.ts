// Picks the fastest TensorFlow.js backend installed on this machine, once per
// process. Measured on the developers' 2-core machine (research/probe.md §1,
// §7): tensorflow (tfjs-node on TF's C library) ≈ 3.7× wasm ≈ 100× cpu.
// tfjs-node-gpu (infra/tensorflow-gpu.sh) comes first where an NVIDIA device
// is present.
import { existsSync, readdirSync } from 'node:fs';
import { availableParallelism, homedir } from 'node:os';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { hasOneDnnMatMul } from './native.js';
import { dataParallelRanks, tensorflowRanks } from './parallel/pool.js';

export type BackendName = 'tensorflow' | 'wasm' | 'cpu';
export type BackendPreference = 'auto' | BackendName;

export interface BackendInfo {
  /** The tfjs backend that runs every op: recorded with every result. */
  name: BackendName;
  /**
   * Threads the backend really uses: the data-parallel ranks of
   * parallel/pool.ts (CRLHF_THREADS, default the cores), each running
   * single-threaded kernels; on tensorflow with one rank, TensorFlow's
   * intra-op pool (the cores).
   */
  threads: number;
  tfVersion: string;
  /** Whether TensorFlow runs the ops on a CUDA device (tfjs-node-gpu with a GPU visible). */
  gpu: boolean;
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

const TFJS_NODE_VERSION = '4.22.0';

/**
 * Where tfjs-node-gpu is installed: resolvable from here (an ordinary npm
 * install), else the prefix infra/tensorflow-gpu.sh builds under
 * $CRLHF_CACHE_DIR; undefined when neither has a built addon.
 */
function gpuPackageDir(): string | undefined {
  const require = createRequire(import.meta.url);
  try {
    return join(require.resolve('@tensorflow/tfjs-node-gpu/package.json'), '..');
  } catch {
    const cache = process.env.CRLHF_CACHE_DIR ?? join(homedir(), '.cache', 'contrastive-rlhf');
    const dir = join(cache, `tfjs-node-gpu-${TFJS_NODE_VERSION}`, 'node_modules', '@tensorflow', 'tfjs-node-gpu');
    return existsSync(join(dir, 'lib', 'napi-v8', 'tfjs_binding.node')) ? dir : undefined;
  }
}

/** An NVIDIA driver exposes its devices (checked before loading TensorFlow's CUDA build at all). */
function nvidiaDevicePresent(): boolean {
  try {
    return readdirSync('/dev').some((n) => /^nvidia\d+$/.test(n));
  } catch {
    return false;
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
  const require = createRequire(import.meta.url);
  const notes: string[] = [];
  let pkg: string | undefined;
  // CRLHF_GPU=0 never loads the GPU build; =1 loads it even without a visible device.
  const gpuDir = process.env.CRLHF_GPU === '0' ? undefined : gpuPackageDir();
  const wantGpu = gpuDir !== undefined && (process.env.CRLHF_GPU === '1' || nvidiaDevicePresent());
  // Data-parallel ranks run kernels on one thread each (parallel/pool.ts);
  // TensorFlow reads this once, when the library loads.
  const ranks = tensorflowRanks(wantGpu);
  if (ranks > 1) process.env.TF_NUM_INTRAOP_THREADS = '1';
  if (gpuDir && wantGpu) {
    try {
      require(gpuDir);
      pkg = `@tensorflow/tfjs-node-gpu (${gpuDir})`;
    } catch (err) {
      notes.push(`tfjs-node-gpu did not load: ${(err as Error).message.split('\n')[0]}`);
    }
  } else if (gpuDir) {
    notes.push('tfjs-node-gpu installed, no NVIDIA device: using tfjs-node');
  }
  if (!pkg) {
    try {
      require.resolve('@tensorflow/tfjs-node');
    } catch {
      throw new Error(['@tensorflow/tfjs-node is not installed', ...notes].join('; '));
    }
    await import('@tensorflow/tfjs-node');
    pkg = '@tensorflow/tfjs-node';
  }
  if (!(await tf.setBackend('tensorflow'))) throw new Error(`${pkg} loaded but backend 'tensorflow' failed`);
  await tf.ready();
  const gpu = (tf.backend() as unknown as { isUsingGpuDevice?: boolean }).isUsingGpuDevice === true;
  if (pkg.startsWith('@tensorflow/tfjs-node-gpu') && !gpu) notes.push('no CUDA device visible to TensorFlow: CPU kernels');
  return {
    name: 'tensorflow',
    threads: ranks > 1 ? ranks : availableParallelism(),
    tfVersion: tf.version.tfjs,
    gpu,
    detail: [
      `${pkg} (TensorFlow C library${gpu ? ', CUDA' : ''}, ${ranks > 1 ? `data-parallel over ${ranks} threads, one intra-op thread each` : 'intra-op threads = cores'}${hasOneDnnMatMul() ? ', oneDNN for transposed and batched matrix products' : ''})`,
      ...notes,
    ].join('; '),
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
    gpu: false,
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
  return { name: 'cpu', threads: ranks, tfVersion: tf.version.tfjs, gpu: false, detail: `pure-JS cpu backend, ${ranks > 1 ? `data-parallel over ${ranks} threads` : 'one thread'}` };
}
