// Data order as a pure function of (seed, step): step s reads batch s mod n
// of the epoch's shuffled order, so a resumed run needs no data-loader state.
import { Rng } from '../rlhf/rng.js';

export function epochBatch<T>(items: readonly T[], batchSize: number, step: number, seed: number, stream: string): T[] {
  if (items.length === 0) throw new Error(`no items to batch for ${stream}`);
  const perEpoch = Math.max(1, Math.floor(items.length / batchSize));
  const epoch = Math.floor(step / perEpoch);
  const order = new Rng(seed).fork(`${stream}.epoch.${epoch}`).shuffle([...items.keys()]);
  const start = (step % perEpoch) * batchSize;
  const out: T[] = [];
  for (let i = 0; i < batchSize; i++) out.push(items[order[(start + i) % order.length]!]!);
  return out;
}
