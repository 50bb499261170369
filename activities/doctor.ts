import { getJson, joinKey, openStore, putJson } from '../storage/index.js';
import { computePool } from './compute-pool.js';
import type { SelfCheckInput, selfCheck } from './jobs/self-check.js';

/** Counts steps with heartbeats in a compute host; resumes from the last heartbeat after a retry. */
export async function selfCheckCompute(input: SelfCheckInput): Promise<Awaited<ReturnType<typeof selfCheck>>> {
  return computePool().runJob('selfCheck', input);
}

export async function selfCheckStore(input: { storeUri: string; computeDigest: number }) {
  const store = openStore(input.storeUri);
  await store.check();
  const key = joinKey('doctor', `check-${Date.now()}-${process.pid}.json`);
  const value = { computeDigest: input.computeDigest, at: new Date().toISOString() };
  const res = await putJson(store, key, value);
  const back = await getJson<typeof value>(store, key);
  await store.delete(key);
  return { uri: res.uri, roundTrip: back.computeDigest === input.computeDigest };
}
