// Shared setup for the rlhf unit tests: the backend comes from CRLHF_BACKEND
// (default: best installed), and sizes shrink on the pure-JS cpu backend.
import * as tf from '@tensorflow/tfjs';
import { initBackend, type BackendInfo } from '../../../rlhf/backend.js';

export async function setup(): Promise<BackendInfo> {
  return initBackend((process.env.CRLHF_BACKEND as 'auto' | undefined) ?? 'auto');
}

/** True on the slow pure-JS backend, where tests use smaller configs. */
export function onCpu(): boolean {
  return tf.getBackend() === 'cpu';
}

/** |a − b| ≤ atol + rtol·|b| elementwise, with a message naming the first offender. */
export function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, atol: number, rtol = 0, what = 'value'): void {
  if (actual.length !== expected.length) throw new Error(`${what}: length ${actual.length} ≠ ${expected.length}`);
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i] as number;
    const e = expected[i] as number;
    if (!(Math.abs(a - e) <= atol + rtol * Math.abs(e))) throw new Error(`${what}[${i}]: ${a} vs expected ${e} (atol ${atol}, rtol ${rtol})`);
  }
}

/**
 * Options for learning tests: skipped on the pure-JS cpu backend (minutes
 * there) unless CRLHF_CPU_SLOW=1, so `CRLHF_BACKEND=cpu` runs the fast subset.
 */
export function slowTest(): { skip?: string } {
  return tf.getBackend() === 'cpu' && process.env.CRLHF_CPU_SLOW !== '1' ? { skip: 'learning test: slow on the cpu backend (CRLHF_CPU_SLOW=1 runs it)' } : {};
}
