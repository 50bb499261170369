// Evaluation in the worker: judges compare the arms' responses pairwise
// (oracle on the gold reward, an LLM judge, humans through their own
// workflow), and every statistic of the report is computed here once.
import { createLlmJudge } from '../judges/llm.js';
import { createOracleJudge } from '../judges/oracle.js';
import { compareArms, winRateByBucket, type BucketStats, type WinRateStats } from '../judges/win-rate.js';
import { lengthControlledWinRate, type LengthControlResult } from '../judges/length-control.js';
import { distinct12 } from '../judges/distinct.js';
import type { JudgePair, Judgment } from '../judges/types.js';
import type { JudgmentCache } from '../judges/cache.js';
import { Rng } from '../rlhf/rng.js';
import { mean } from '../rlhf/stats.js';
import { openStore } from '../storage/index.js';
import { getJsonOrNull, putJson, putJsonl, readJsonl } from '../storage/json.js';
import { joinKey } from '../storage/keys.js';
import type { ArtifactStore } from '../storage/types.js';
import { getTask } from '../tasks/index.js';
import type { StepContext, StepProgress } from './context.js';
import { comparisons, goldMeanCI, readEvalResponses, type EvalResponse, type GeneratedEval } from './evaluate.js';
import { layout } from './layout.js';
import type { Plan } from './plan.js';

export const EVALUATION_SCHEMA = 'crlhf.evaluation/v1';

export interface ArmEvaluation {
  arm: string;
  rewardMode: 'sft' | 'raw' | 'contrastive';
  n: number;
  gold: { mean: number; lo: number; hi: number } | null;
  rmMean: number;
  klMean: number;
  lengthMean: number;
  distinct1: number;
  distinct2: number;
}

export interface ComparisonResult {
  judge: string;
  candidate: string;
  baseline: string;
  stats: WinRateStats;
  lengthControlled: LengthControlResult;
}

export interface EvaluationResult {
  schema: typeof EVALUATION_SCHEMA;
  arms: ArmEvaluation[];
  comparisons: ComparisonResult[];
  byDifficulty: { judge: string; candidate: string; baseline: string; buckets: BucketStats[] }[];
  goldByDifficulty: { arm: string; bucket: string; n: number; goldMean: number; gainOverSft: number }[];
  llm: { model: string; promptVersion: string; promptSha256: string; usage: Record<string, number | null> } | null;
  judgments: Record<string, string>;
  pairs: string;
  humanPairs: string | null;
}

export const evaluationKey = (plan: Plan) => joinKey(layout.evalDir(plan.runName), 'evaluation.json');
export const humanPairsKey = (plan: Plan) => joinKey(layout.evalDir(plan.runName), 'human_pairs.json');

/** Judge calls cached in the store (one object per ordered call), so a resumed evaluation never pays twice. */
export class StoreJudgmentCache implements JudgmentCache {
  constructor(private readonly store: ArtifactStore) {}
  private key(k: string) {
    return joinKey('cache', 'judgments', k.slice(0, 2), `${k}.json`);
  }
  get(k: string) {
    return getJsonOrNull(this.store, this.key(k));
  }
  async put(k: string, value: unknown) {
    await putJson(this.store, this.key(k), value);
  }
}

function buildPairs(plan: Plan, byArm: Map<string, EvalResponse[]>): JudgePair[] {
  const pairs: JudgePair[] = [];
  for (const [cand, base] of comparisons(plan)) {
    const a = byArm.get(cand);
    const b = byArm.get(base);
    if (!a || !b) throw new Error(`cannot compare ${cand} with ${base}: no responses`);
    const bById = new Map(b.map((r) => [r.promptId, r]));
    for (const ra of a) {
      const rb = bById.get(ra.promptId)!;
      pairs.push({
        pairId: `${cand}~${base}~${ra.promptId}`,
        prompt: ra.prompt,
        responseA: ra.response,
        responseB: rb.response,
        armA: cand,
        armB: base,
        meta: { bucket: ra.bucket, difficulty: ra.difficulty, lenA: ra.length, lenB: rb.length },
      });
    }
  }
  return pairs;
}

export async function judgeArms(plan: Plan, generated: GeneratedEval, ctx: StepContext): Promise<EvaluationResult> {
  const store = openStore(plan.storeUri);
  const e = plan.config.evaluation;
  const task = plan.config.task === 'files' ? null : getTask(plan.config.task);
  const byArm = new Map<string, EvalResponse[]>();
  for (const p of generated.policies) byArm.set(p.arm, await readEvalResponses(store, p.responses));
  const pairs = buildPairs(plan, byArm);
  const evalDir = layout.evalDir(plan.runName);
  const pairsKey = joinKey(evalDir, 'pairs.jsonl');
  await putJsonl(store, pairsKey, pairs);

  const judgments: Judgment[] = [];
  const judgmentKeys: Record<string, string> = {};
  const save = async (name: string, js: Judgment[]) => {
    const key = joinKey(evalDir, `judgments-${name}.jsonl`);
    await putJsonl(store, key, js);
    judgmentKeys[name] = key;
    judgments.push(...js);
  };
  const progress = (judge: string) => (done: number, total: number) =>
    ctx.heartbeat({ phase: `judging:${judge}`, step: done, total } satisfies StepProgress);

  if (e.judges.includes('oracle') && task) {
    const oracle = createOracleJudge({ goldReward: (p, r) => task.goldReward(p, r), tolerance: e.tie_tolerance });
    await save('oracle', await oracle.judge(pairs, { onProgress: progress('oracle'), signal: ctx.signal }));
  }
  let llm: EvaluationResult['llm'] = null;
  if (e.judges.includes('llm') && e.llm) {
    const judge = createLlmJudge(
      {
        baseUrl: e.llm.base_url,
        model: e.llm.model,
        apiKeyEnv: e.llm.api_key_env,
        concurrency: e.llm.concurrency,
        timeoutMs: e.llm.timeout_ms,
        maxRetries: e.llm.max_retries,
        maxTokens: e.llm.max_tokens,
        temperature: e.llm.temperature,
        ...(e.llm.backoff_base_ms !== undefined ? { backoffBaseMs: e.llm.backoff_base_ms } : {}),
        ...(e.llm.pricing ? { pricing: { inputPerMTok: e.llm.pricing.input_per_mtok, outputPerMTok: e.llm.pricing.output_per_mtok } } : {}),
      },
      { cache: new StoreJudgmentCache(store), rng: (() => { const r = new Rng(plan.config.seed).fork('llm-backoff'); return () => r.next(); })() },
    );
    await save('llm', await judge.judge(pairs, { onProgress: progress('llm'), signal: ctx.signal }));
    const spec = judge.promptSpec();
    llm = { model: judge.config.model, promptVersion: spec.version, promptSha256: spec.sha256, usage: { ...judge.usage() } };
    await putJson(store, joinKey(evalDir, 'llm-judge.json'), { ...llm, prompt: spec, config: judge.config });
  }

  const rng = new Rng(plan.config.seed).fork('bootstrap');
  const boot = { rng: () => rng.next(), iterations: e.bootstrap };
  const pairById = new Map(pairs.map((p) => [p.pairId, p]));
  const comparisonsOut: ComparisonResult[] = compareArms(judgments, boot).map((c) => {
    const rows = judgments
      .filter((j) => j.judge === c.judge && j.armA === c.armA && j.armB === c.armB)
      .map((j) => {
        const meta = pairById.get(j.pairId)!.meta as { lenA: number; lenB: number };
        return { verdict: j.verdict, lenA: meta.lenA, lenB: meta.lenB };
      });
    return { judge: c.judge, candidate: c.armA, baseline: c.armB, stats: c.stats, lengthControlled: lengthControlledWinRate(rows) };
  });
  const byDifficulty = comparisonsOut.map((c) => ({
    judge: c.judge,
    candidate: c.candidate,
    baseline: c.baseline,
    buckets: winRateByBucket(
      judgments.filter((j) => j.judge === c.judge && j.armA === c.candidate && j.armB === c.baseline),
      (j) => String((pairById.get(j.pairId)!.meta as { bucket: string }).bucket),
      boot,
    ),
  }));

  const arms: ArmEvaluation[] = generated.policies.map((p) => {
    const rows = byArm.get(p.arm)!;
    const d = distinct12(rows.map((r) => r.response));
    return {
      arm: p.arm,
      rewardMode: p.rewardMode,
      n: rows.length,
      gold: task ? goldMeanCI(rows.map((r) => r.gold!), plan.config.seed) : null,
      rmMean: p.rmMean,
      klMean: p.klMean,
      lengthMean: p.lengthMean,
      distinct1: d.distinct1,
      distinct2: d.distinct2,
    };
  });
  const goldByDifficulty: EvaluationResult['goldByDifficulty'] = [];
  if (task) {
    const sftRows = byArm.get('sft') ?? [];
    for (const p of generated.policies) {
      for (const b of generated.buckets) {
        const rows = byArm.get(p.arm)!.filter((r) => r.bucket === b.name);
        const base = sftRows.filter((r) => r.bucket === b.name);
        if (!rows.length) continue;
        const g = mean(rows.map((r) => r.gold!));
        goldByDifficulty.push({ arm: p.arm, bucket: b.name, n: rows.length, goldMean: g, gainOverSft: base.length ? g - mean(base.map((r) => r.gold!)) : 0 });
      }
    }
  }
  let humanPairs: string | null = null;
  if (e.judges.includes('human') && e.human) {
    // A deterministic sample of pairs for people; arm names stay server-side.
    const order = new Rng(plan.config.seed).fork('human-pairs').shuffle([...pairs.keys()]);
    const chosen = order.slice(0, e.human.pairs).map((i) => pairs[i]!);
    humanPairs = humanPairsKey(plan);
    await putJson(store, humanPairs, chosen);
  }
  const result: EvaluationResult = {
    schema: EVALUATION_SCHEMA,
    arms,
    comparisons: comparisonsOut,
    byDifficulty,
    goldByDifficulty,
    llm,
    judgments: judgmentKeys,
    pairs: pairsKey,
    humanPairs,
  };
  await putJson(store, evaluationKey(plan), result);
  return result;
}

export async function readJudgments(store: ArtifactStore, key: string): Promise<Judgment[]> {
  const out: Judgment[] = [];
  for await (const j of readJsonl<Judgment>(store, key)) out.push(j);
  return out;
}
