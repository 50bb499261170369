// Oracle judge for synthetic tasks: the gold reward that defines the task
// decides, so LLM-judge and human verdicts can be checked against the truth.
import { ConfigError } from '../common/errors.js';
import type { Judge, JudgeOptions, JudgePair, Judgment } from './types.js';

export type GoldReward = (prompt: string, response: string) => number | Promise<number>;

export interface OracleJudgeOptions {
  goldReward: GoldReward;
  /** A tie when |gold(A) − gold(B)| ≤ tolerance. */
  tolerance: number;
  /** Appended to the judge id ('oracle:<name>') when several gold rewards are in use. */
  name?: string;
}

export function createOracleJudge(options: OracleJudgeOptions): Judge {
  const { goldReward, tolerance } = options;
  if (!Number.isFinite(tolerance) || tolerance < 0) {
    throw new ConfigError(`oracle judge tolerance must be a finite number >= 0, got ${tolerance}`, undefined, 'tolerance');
  }
  const id = options.name ? `oracle:${options.name}` : 'oracle';

  async function judgeOne(pair: JudgePair): Promise<Judgment> {
    const [goldA, goldB] = await Promise.all([goldReward(pair.prompt, pair.responseA), goldReward(pair.prompt, pair.responseB)]);
    const base = { pairId: pair.pairId, judge: id, armA: pair.armA, armB: pair.armB };
    if (!Number.isFinite(goldA) || !Number.isFinite(goldB)) {
      // null, not NaN: the detail must survive a JSON round trip unchanged.
      const finite = (x: number): number | null => (Number.isFinite(x) ? x : null);
      const error = `gold reward is not a finite number (A: ${goldA}, B: ${goldB})`;
      return { ...base, verdict: 'error', detail: { kind: 'oracle', goldA: finite(goldA), goldB: finite(goldB), tolerance, error } };
    }
    const delta = goldA - goldB;
    const verdict = Math.abs(delta) <= tolerance ? 'tie' : delta > 0 ? 'A' : 'B';
    return { ...base, verdict, detail: { kind: 'oracle', goldA, goldB, tolerance } };
  }

  async function judge(pairs: readonly JudgePair[], opts: JudgeOptions = {}): Promise<Judgment[]> {
    const out: Judgment[] = [];
    for (const pair of pairs) {
      opts.signal?.throwIfAborted();
      out.push(await judgeOne(pair));
      opts.onProgress?.(out.length, pairs.length);
    }
    return out;
  }

  return { id, judge };
}
