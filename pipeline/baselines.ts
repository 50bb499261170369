// Steps 4 and 5, the offline part of contrastive rewards: sample k responses
// per RL prompt from the SFT policy once (in parallel shards, each written in
// chunks so a retried shard keeps the chunks it finished), then score every
// baseline response with the reward model and keep per-prompt statistics.
import { encodePrompt } from '../rlhf/batch.js';
import { BaselineTable, offsetSpread, type OffsetSpread } from '../rlhf/contrastive.js';
import type { PolicyModel, RewardModel } from '../rlhf/model.js';
import { scoreIds } from '../rlhf/reward-model.js';
import { Rng } from '../rlhf/rng.js';
import { generate } from '../rlhf/sampling.js';
import { mean, std } from '../rlhf/stats.js';
import { getJson, putJson, putJsonl, readJsonl } from '../storage/json.js';
import { openStore } from '../storage/index.js';
import { joinKey } from '../storage/keys.js';
import { getTask } from '../tasks/index.js';
import { testStepDelay, type StepContext, type StepProgress } from './context.js';
import { loadData } from './data.js';
import { backendFor } from './models.js';
import type { BackendRef } from './models.js';
import type { Plan } from './plan.js';
import { loadFrozen } from './policies.js';
import type { RewardModelResult } from './reward-model.js';
import type { SftResult } from './sft.js';
import { cachedStep, readStepOutput } from './steps.js';

/** Rows generated per chunk (one generate call, one stored file). */
const CHUNK_ROWS = 64;

export interface BaselineSample {
  promptId: string;
  sample: number;
  response: string;
  responseIds: number[];
}

export interface ShardResult {
  shard: number;
  prompts: number;
  samples: number;
  chunks: string[];
  /** Chunks found complete from an earlier attempt and kept. */
  chunksReused: number;
  backend: BackendRef;
}

/** Prompt i belongs to shard i mod shards. */
export function shardPrompts<T>(prompts: readonly T[], shard: number, shards: number): T[] {
  return prompts.filter((_, i) => i % shards === shard);
}

export async function sampleBaselineShard(input: { plan: Plan; shard: number }, ctx: StepContext) {
  const { plan, shard } = input;
  const ref = plan.steps.baselineShards[shard];
  if (!ref) throw new Error(`no baseline shard ${shard}`);
  const store = openStore(plan.storeUri);
  return cachedStep(
    store,
    plan.runName,
    ref,
    ctx.attempt,
    async (): Promise<ShardResult> => {
      const cfg = plan.config.baselines;
      const backend = await backendFor(plan.config);
      const data = await loadData(store, plan.steps.data.dir);
      const sft = await readStepOutput<SftResult>(store, plan.steps.sft);
      if (!sft) throw new Error('baseline sampling needs the SFT model');
      const { model: policy, tokenizer } = await loadFrozen<PolicyModel>(store, sft.result.model, 'policy', ctx);
      const prompts = shardPrompts(data.rlPrompts, shard, cfg.shards);
      const rows = prompts.flatMap((p) => Array.from({ length: cfg.k }, (_, sample) => ({ p, sample })));
      const chunks: string[] = [];
      let reused = 0;
      for (let c = 0; c * CHUNK_ROWS < rows.length; c++) {
        if (ctx.signal.aborted) throw new Error('baseline sampling cancelled');
        const key = joinKey(ref.dir, 'chunks', `chunk-${String(c).padStart(5, '0')}.jsonl`);
        chunks.push(key);
        if (await store.exists(key)) {
          reused++;
        } else {
          const part = rows.slice(c * CHUNK_ROWS, (c + 1) * CHUNK_ROWS);
          // One stream per chunk: a chunk's samples do not depend on which chunks a retry skipped.
          const rng = new Rng(plan.config.seed).fork(`baselines.${shard}.${c}`);
          const gen = await generate(policy, part.map((r) => encodePrompt(tokenizer, r.p.prompt)), rng, {
            maxNewTokens: cfg.max_new_tokens,
            temperature: cfg.temperature,
            topK: cfg.top_k || undefined,
            topP: cfg.top_p,
          });
          const out: BaselineSample[] = part.map((r, i) => ({
            promptId: r.p.id,
            sample: r.sample,
            response: tokenizer.decode(gen.responses[i]!),
            responseIds: gen.responses[i]!,
          }));
          await putJsonl(store, key, out);
        }
        ctx.heartbeat({ phase: 'baselines', step: Math.min(rows.length, (c + 1) * CHUNK_ROWS), total: rows.length } satisfies StepProgress);
        await testStepDelay('baselines');
      }
      return { shard, prompts: prompts.length, samples: rows.length, chunks, chunksReused: reused, backend };
    },
    `baselines-${shard}`,
  );
}

export interface BaselineScoresResult {
  prompts: number;
  samples: number;
  /** Mean over prompts of the std of the k baseline scores. */
  meanWithinPromptStd: number;
  /** Std over prompts of the baseline means: what contrastive rewards subtract. */
  stdOfPromptMeans: number;
  rmMean: number;
  goldMean: number | null;
  /** Reward-model offsets against the gold reward (synthetic tasks). */
  offsetSpread: Omit<OffsetSpread, 'offsets'> | null;
  table: string;
  tableUri: string;
  scores: string;
  backend: BackendRef;
}

export interface ScoredBaseline extends BaselineSample {
  prompt: string;
  rm: number;
  gold: number | null;
}

export const BASELINE_TABLE = 'baseline_table.json';
export const BASELINE_SCORES = 'scores.jsonl';
export const OFFSETS = 'offsets.json';

export async function scoreBaselines(input: { plan: Plan }, ctx: StepContext) {
  const { plan } = input;
  const store = openStore(plan.storeUri);
  const ref = plan.steps.baselineScores;
  return cachedStep(store, plan.runName, ref, ctx.attempt, async (): Promise<BaselineScoresResult> => {
    const backend = await backendFor(plan.config);
    const data = await loadData(store, plan.steps.data.dir);
    const rmOut = await readStepOutput<RewardModelResult>(store, plan.steps.rewardModel);
    if (!rmOut) throw new Error('baseline scoring needs the reward model');
    const { model: rm, tokenizer } = await loadFrozen<RewardModel>(store, rmOut.result.model, 'reward', ctx);
    const task = plan.config.task === 'files' ? null : getTask(plan.config.task);
    const promptText = new Map(data.rlPrompts.map((p) => [p.id, p.prompt]));
    const samples: BaselineSample[] = [];
    for (const [i, shardRef] of plan.steps.baselineShards.entries()) {
      const out = await readStepOutput<ShardResult>(store, shardRef);
      if (!out) throw new Error(`baseline shard ${i} has not finished`);
      for (const key of out.result.chunks) for await (const row of readJsonl<BaselineSample>(store, key)) samples.push(row);
    }
    const scored: ScoredBaseline[] = [];
    for (let i = 0; i < samples.length; i += 256) {
      const part = samples.slice(i, i + 256);
      const rms = await scoreIds(
        rm,
        part.map((s) => encodePrompt(tokenizer, promptText.get(s.promptId)!)),
        part.map((s) => s.responseIds),
      );
      part.forEach((s, j) => {
        const prompt = promptText.get(s.promptId)!;
        scored.push({ ...s, prompt, rm: rms[j]!, gold: task ? task.goldReward(prompt, s.response) : null });
      });
      ctx.heartbeat({ phase: 'baseline_scoring', step: Math.min(samples.length, i + 256), total: samples.length } satisfies StepProgress);
    }
    const byPrompt = new Map<string, ScoredBaseline[]>();
    for (const s of scored) byPrompt.set(s.promptId, [...(byPrompt.get(s.promptId) ?? []), s]);
    const table = new BaselineTable({ rewardModel: rmOut.result.modelUri, k: plan.config.baselines.k });
    for (const [id, rows] of byPrompt) table.add(id, rows.sort((a, b) => a.sample - b.sample).map((r) => r.rm));
    const tableKey = joinKey(ref.dir, BASELINE_TABLE);
    const tablePut = await putJson(store, tableKey, table.toJSON());
    await putJsonl(store, joinKey(ref.dir, BASELINE_SCORES), scored);
    let spread: OffsetSpread | null = null;
    if (task) {
      spread = offsetSpread([...byPrompt].map(([promptId, rows]) => ({ promptId, rewardScores: rows.map((r) => r.rm), goldRewards: rows.map((r) => r.gold!) })));
      const difficulty = new Map(data.rlPrompts.map((p) => [p.id, p.difficulty]));
      await putJson(store, joinKey(ref.dir, OFFSETS), spread.offsets.map((o) => ({ ...o, difficulty: difficulty.get(o.promptId) ?? null })));
    }
    const stats = table.promptIds().map((id) => table.get(id)!);
    const { offsets: _offsets, ...spreadSummary } = spread ?? { offsets: [] };
    return {
      prompts: table.size,
      samples: scored.length,
      meanWithinPromptStd: mean(stats.map((s) => s.std)),
      stdOfPromptMeans: std(stats.map((s) => s.mean)),
      rmMean: mean(scored.map((s) => s.rm)),
      goldMean: task ? mean(scored.map((s) => s.gold!)) : null,
      offsetSpread: spread ? (spreadSummary as Omit<OffsetSpread, 'offsets'>) : null,
      table: tableKey,
      tableUri: tablePut.uri,
      scores: joinKey(ref.dir, BASELINE_SCORES),
      backend,
    };
  });
}

export async function loadBaselineTable(plan: Plan): Promise<BaselineTable> {
  const store = openStore(plan.storeUri);
  const key = joinKey(plan.steps.baselineScores.dir, BASELINE_TABLE);
  return BaselineTable.fromJSON(await getJson(store, key), store.uri(key));
}
