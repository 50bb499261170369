// Step manifests: a cached step writes its outputs, then OUTPUT.json last; a
// run records which output it used and whether it computed or reused it.
import { getJsonOrNull, putJson } from '../storage/json.js';
import type { ArtifactStore } from '../storage/types.js';
import { layout } from './layout.js';
import type { StepRef } from './plan.js';

export interface StepOutput<R> {
  step: string;
  hash: string;
  dir: string;
  result: R;
  completedAt: string;
  computedBy: { run: string; attempt: number; seconds: number };
}

export interface RunStepRecord {
  step: string;
  hash: string;
  /** true when the output came from the cache (computed earlier, by this or another run). */
  reused: boolean;
  computedBy: StepOutput<unknown>['computedBy'];
  at: string;
}

export async function readStepOutput<R>(store: ArtifactStore, ref: StepRef): Promise<StepOutput<R> | null> {
  return getJsonOrNull<StepOutput<R>>(store, layout.cacheOutput(ref.step, ref.hash));
}

/**
 * Returns the step's output, computing it only if no complete output exists
 * for the same inputs hash.
 */
export async function cachedStep<R>(
  store: ArtifactStore,
  run: string,
  ref: StepRef,
  attempt: number,
  compute: () => Promise<R>,
  recordAs: string = ref.step,
): Promise<StepOutput<R> & { reused: boolean }> {
  const existing = await readStepOutput<R>(store, ref);
  if (existing) {
    await recordRunStep(store, run, recordAs, existing, true);
    return { ...existing, reused: true };
  }
  const t0 = Date.now();
  const result = await compute();
  const out: StepOutput<R> = {
    step: ref.step,
    hash: ref.hash,
    dir: ref.dir,
    result,
    completedAt: new Date().toISOString(),
    computedBy: { run, attempt, seconds: (Date.now() - t0) / 1000 },
  };
  await putJson(store, layout.cacheOutput(ref.step, ref.hash), out);
  await recordRunStep(store, run, recordAs, out, false);
  return { ...out, reused: false };
}

async function recordRunStep(store: ArtifactStore, run: string, name: string, out: StepOutput<unknown>, reused: boolean): Promise<void> {
  const rec: RunStepRecord = { step: out.step, hash: out.hash, reused, computedBy: out.computedBy, at: new Date().toISOString() };
  await putJson(store, layout.runStep(run, name), rec);
}
