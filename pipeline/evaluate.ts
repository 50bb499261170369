// Step 7, evaluation. In a compute host: each policy (SFT and every arm)
// answers the held-out prompts with the same random stream (common random
// numbers), and each answer gets its reward-model score, gold reward, KL to
// the reference and length. In the worker: judges compare arms pairwise and
// the statistics of the paper's analyses are computed.
import { encodePrompt, buildBatch } from '../rlhf/batch.js';
import { modelFromCheckpoint } from '../rlhf/checkpoint.js';
import type { PolicyModel, RewardModel } from '../rlhf/model.js';
import { scoreIds } from '../rlhf/reward-model.js';
import { Rng } from '../rlhf/rng.js';
import { generate, sequenceLogprobs } from '../rlhf/sampling.js';
import { bootstrapMeanCI, mean } from '../rlhf/stats.js';
import { openStore } from '../storage/index.js';
import { getJsonOrNull, putJson, putJsonl, readJsonl } from '../storage/json.js';
import { joinKey } from '../storage/keys.js';
import type { ArtifactStore } from '../storage/types.js';
import { getTask } from '../tasks/index.js';
import { difficultyBucket, type DifficultyBucket } from '../tasks/types.js';
import type { StepContext, StepProgress } from './context.js';
import { loadData } from './data.js';
import { layout } from './layout.js';
import { backendFor, loadTrainingState } from './models.js';
import type { BackendRef } from './models.js';
import type { Plan } from './plan.js';
import { loadFrozen } from './policies.js';
import type { PpoArmResult } from './ppo.js';
import type { RewardModelResult } from './reward-model.js';
import type { SftResult } from './sft.js';
import { readStepOutput } from './steps.js';

export interface EvalResponse {
  promptId: string;
  prompt: string;
  difficulty: number;
  bucket: string;
  response: string;
  rm: number;
  gold: number | null;
  /** Σ_t log π(y_t) − log π_ref(y_t) of the sampled response: a one-sample KL estimate. */
  kl: number;
  length: number;
  tokens: number;
}

export interface EvalPolicySummary {
  arm: string;
  rewardMode: 'sft' | 'raw' | 'contrastive';
  n: number;
  rmMean: number;
  goldMean: number | null;
  klMean: number;
  lengthMean: number;
  responses: string;
}

export interface GeneratedEval {
  /** Hashes of the policies evaluated, so a resumed evaluation reuses the responses. */
  key: string;
  policies: EvalPolicySummary[];
  buckets: DifficultyBucket[];
  backend: BackendRef;
}

export const evalResponsesKey = (plan: Plan, arm: string) => joinKey(layout.evalDir(plan.runName), 'responses', `${arm}.jsonl`);
export const generatedKey = (plan: Plan) => joinKey(layout.evalDir(plan.runName), 'responses', 'OUTPUT.json');

function evalIdentity(plan: Plan): string {
  return JSON.stringify({ sft: plan.steps.sft.hash, rm: plan.steps.rewardModel.hash, arms: plan.arms.map((a) => a.hash), eval: plan.config.evaluation, seed: plan.config.seed });
}

/** Compute-host job: responses of every policy on the evaluation prompts. */
export async function generateEval(input: { plan: Plan }, ctx: StepContext): Promise<GeneratedEval> {
  const { plan } = input;
  const store = openStore(plan.storeUri);
  const key = evalIdentity(plan);
  const existing = await getJsonOrNull<GeneratedEval>(store, generatedKey(plan));
  if (existing && existing.key === key) return existing;

  const backend = await backendFor(plan.config);
  const data = await loadData(store, plan.steps.data.dir);
  const task = plan.config.task === 'files' ? null : getTask(plan.config.task);
  const buckets = task?.difficultyBuckets ?? [{ name: 'all', max: 1 }];
  const sft = await readStepOutput<SftResult>(store, plan.steps.sft);
  const rmOut = await readStepOutput<RewardModelResult>(store, plan.steps.rewardModel);
  if (!sft || !rmOut) throw new Error('evaluation needs the SFT and reward models');
  const { model: reference, tokenizer } = await loadFrozen<PolicyModel>(store, sft.result.model, 'policy', ctx);
  const { model: rm } = await loadFrozen<RewardModel>(store, rmOut.result.model, 'reward', ctx);
  const e = plan.config.evaluation;
  const prompts = data.evalPrompts;
  const promptIds = prompts.map((p) => encodePrompt(tokenizer, p.prompt));

  const policies: { arm: string; rewardMode: EvalPolicySummary['rewardMode']; load: () => Promise<PolicyModel>; owned: boolean }[] = [
    { arm: 'sft', rewardMode: 'sft', load: async () => reference, owned: false },
    ...plan.arms.map((a) => ({
      arm: a.name,
      rewardMode: a.rewardMode,
      owned: true,
      load: async () => {
        const out = await getJsonOrNull<PpoArmResult>(store, layout.armOutput(plan.runName, a.name));
        if (!out) throw new Error(`arm ${a.name} has not finished`);
        return modelFromCheckpoint(await loadTrainingState(store, out.checkpointDir), 'policy') as PolicyModel;
      },
    })),
  ];
  const summaries: EvalPolicySummary[] = [];
  for (const [pi, pol] of policies.entries()) {
    const policy = await pol.load();
    try {
      const rows: EvalResponse[] = [];
      const rng = new Rng(plan.config.seed).fork('eval');
      for (let i = 0; i < prompts.length; i += 64) {
        const part = prompts.slice(i, i + 64);
        const ids = promptIds.slice(i, i + 64);
        const gen = await generate(policy, ids, rng, { maxNewTokens: e.max_new_tokens, temperature: e.temperature, topK: e.top_k || undefined, topP: e.top_p });
        const rms = await scoreIds(rm, ids, gen.responses);
        const batch = buildBatch(ids, gen.responses, policy.config.contextLength);
        const lp = await sequenceLogprobs(policy, batch);
        const ref = await sequenceLogprobs(reference, batch);
        part.forEach((p, j) => {
          const response = tokenizer.decode(gen.responses[j]!);
          const kl = (lp.logprobs[j] ?? []).reduce((s, x, t) => s + x - (ref.logprobs[j]![t] ?? 0), 0);
          rows.push({
            promptId: p.id,
            prompt: p.prompt,
            difficulty: p.difficulty,
            bucket: difficultyBucket({ difficultyBuckets: buckets }, p.difficulty),
            response,
            rm: rms[j]!,
            gold: task ? task.goldReward(p.prompt, response) : null,
            kl,
            length: response.length,
            tokens: gen.responses[j]!.length,
          });
        });
        ctx.heartbeat({ phase: 'evaluation', step: pi * prompts.length + i + part.length, total: policies.length * prompts.length } satisfies StepProgress);
      }
      const responsesKey = evalResponsesKey(plan, pol.arm);
      await putJsonl(store, responsesKey, rows);
      summaries.push({
        arm: pol.arm,
        rewardMode: pol.rewardMode,
        n: rows.length,
        rmMean: mean(rows.map((r) => r.rm)),
        goldMean: task ? mean(rows.map((r) => r.gold!)) : null,
        klMean: mean(rows.map((r) => r.kl)),
        lengthMean: mean(rows.map((r) => r.length)),
        responses: responsesKey,
      });
    } finally {
      if (pol.owned) policy.dispose();
    }
  }
  const out: GeneratedEval = { key, policies: summaries, buckets, backend };
  await putJson(store, generatedKey(plan), out);
  return out;
}

export async function readEvalResponses(store: ArtifactStore, key: string): Promise<EvalResponse[]> {
  const out: EvalResponse[] = [];
  for await (const r of readJsonl<EvalResponse>(store, key)) out.push(r);
  return out;
}

/** Default comparisons: every arm against SFT, and every contrastive arm against every raw arm. */
export function comparisons(plan: Plan): [candidate: string, baseline: string][] {
  if (plan.config.evaluation.compare) return plan.config.evaluation.compare;
  const out: [string, string][] = plan.arms.map((a) => [a.name, 'sft']);
  for (const c of plan.arms.filter((a) => a.rewardMode === 'contrastive')) {
    for (const r of plan.arms.filter((a) => a.rewardMode === 'raw')) out.push([c.name, r.name]);
  }
  return out;
}

export function goldMeanCI(values: number[], seed: number): { mean: number; lo: number; hi: number } {
  const rng = new Rng(seed).fork('gold-ci');
  const ci = bootstrapMeanCI(values, () => rng.next(), 2000, 0.05);
  return { mean: ci.mean, lo: ci.lo, hi: ci.hi };
}
