// Step 8, the report: gathers what the earlier steps stored (run record,
// reward model, baselines, training metrics, evaluation) into the report's
// data, renders HTML, Markdown and SVG plots, and writes them to the store.
import { stringify } from 'yaml';
import { renderReport } from '../report/render.js';
import { PLOT_DIR } from '../report/render.js';
import { REPORT_SCHEMA, type ReportData, type Estimate, type TrainingPoint, type Sample, type Comparison } from '../report/types.js';
import { parseReportData } from '../report/schema.js';
import { panelAgreement, judgeAgreement } from '../judges/agreement.js';
import type { Judgment } from '../judges/types.js';
import { BaselineTable } from '../rlhf/contrastive.js';
import { Rng } from '../rlhf/rng.js';
import { bootstrapMeanCI, mean, std } from '../rlhf/stats.js';
import { openStore } from '../storage/index.js';
import { getJson, getJsonOrNull, putJson, readJsonl } from '../storage/json.js';
import { joinKey } from '../storage/keys.js';
import type { ArtifactStore } from '../storage/types.js';
import { getTask } from '../tasks/index.js';
import { BASELINE_SCORES, BASELINE_TABLE, OFFSETS, type BaselineScoresResult, type ScoredBaseline } from './baselines.js';
import { readEvalResponses, evalResponsesKey, generatedKey, type GeneratedEval } from './evaluate.js';
import { evaluationKey, readJudgments, type EvaluationResult } from './judging.js';
import { layout } from './layout.js';
import type { Plan } from './plan.js';
import type { BackendRef } from './models.js';
import type { IterationMetrics, PpoArmResult } from './ppo.js';
import type { RewardModelResult } from './reward-model.js';
import type { SftResult } from './sft.js';
import { readStepOutput } from './steps.js';

export interface ReportRef {
  html: string;
  markdown: string;
  data: string;
  plots: string[];
}

export interface HumanVotes {
  votes: Judgment[];
  annotators: string[];
}

function est(x: { mean: number; lo: number; hi: number }): Estimate {
  return { value: x.mean, lo: x.lo, hi: x.hi };
}

/** Wilson score interval for a proportion (accuracy over n pairs). */
function wilson(p: number, n: number): Estimate {
  if (!n || !Number.isFinite(p)) return { value: Number.isFinite(p) ? p : 0, lo: 0, hi: 1 };
  const z = 1.959964;
  const d = 1 + (z * z) / n;
  const c = (p + (z * z) / (2 * n)) / d;
  const h = (z * Math.sqrt((p * (1 - p)) / n + (z * z) / (4 * n * n))) / d;
  return { value: p, lo: Math.max(0, c - h), hi: Math.min(1, c + h) };
}

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

function aggregationName(plan: Plan): string {
  const a = plan.config.reward.contrastive.aggregation;
  if (typeof a === 'string') return a;
  return 'trimmed_mean' in a ? `trimmed_mean(${a.trimmed_mean})` : `quantile(${a.quantile})`;
}

export async function buildReportData(plan: Plan, extra: { workflowId: string; human?: HumanVotes; finished: boolean }): Promise<ReportData> {
  const store = openStore(plan.storeUri);
  const task = plan.config.task === 'files' ? null : getTask(plan.config.task);
  const record = await getJson<{ createdAt: string; versions: Record<string, string> }>(store, layout.runRecord(plan.runName));
  const sft = (await readStepOutput<SftResult>(store, plan.steps.sft))!;
  const rm = (await readStepOutput<RewardModelResult>(store, plan.steps.rewardModel))!;
  const baselines = (await readStepOutput<BaselineScoresResult>(store, plan.steps.baselineScores))!;
  const evaluation = await getJson<EvaluationResult>(store, evaluationKey(plan));
  const evalBackend = (await getJsonOrNull<GeneratedEval>(store, generatedKey(plan)))?.backend;
  const evaluationBackend = evalBackend ? backendLabel(evalBackend) : 'unknown';
  const table = BaselineTable.fromJSON(await getJson(store, joinKey(plan.steps.baselineScores.dir, BASELINE_TABLE)));
  const armResults: PpoArmResult[] = [];
  for (const a of plan.arms) armResults.push(await getJson<PpoArmResult>(store, layout.armOutput(plan.runName, a.name)));

  // Training curves; the contrastive reward is computed for every arm from its rollouts, so raw arms show it too.
  const training: TrainingPoint[] = [];
  for (const arm of armResults) {
    const history = await collect(readJsonl<IterationMetrics>(store, arm.metrics));
    for (const m of history) {
      const rollouts = await collect(
        readJsonl<{ promptId: string; score: number }>(store, joinKey(layout.armDir(plan.runName, arm.arm), 'rollouts', `iter-${String(m.iteration).padStart(6, '0')}.jsonl`)),
      ).catch(() => []);
      const cr = rollouts.filter((r) => table.has(r.promptId)).map((r) => r.score - table.get(r.promptId)!.mean);
      training.push({
        arm: arm.arm,
        iteration: m.iteration,
        scoreMean: m.scoreMean,
        scoreStd: m.scoreStd,
        ...(cr.length ? { contrastiveMean: mean(cr), contrastiveStd: std(cr) } : {}),
        kl: m.klMean,
        klCoef: m.klCoef,
        entropy: m.entropyMean,
        valueLoss: m.valueLoss,
        policyLoss: m.policyLoss,
        clipFrac: m.clipFrac,
        approxKl: m.approxKl,
        explainedVariance: Number.isFinite(m.explainedVariance) ? m.explainedVariance : 0,
        responseLength: m.responseLengthMean,
        ...(m.goldMean !== undefined ? { goldMean: m.goldMean } : {}),
        timings: { rolloutMs: m.rolloutMs, scoringMs: m.scoringMs + m.forwardMs, updateMs: m.updateMs },
      });
    }
  }

  const comparisons: Comparison[] = evaluation.comparisons.map((c) => ({
    judge: c.judge,
    candidate: c.candidate,
    baseline: c.baseline,
    wins: c.stats.wins,
    ties: c.stats.ties,
    losses: c.stats.losses,
    errors: c.stats.errors,
    n: c.stats.n,
    winRate: c.stats.winRate === null || !c.stats.ci.winRate ? null : { value: c.stats.winRate, lo: c.stats.ci.winRate[0], hi: c.stats.ci.winRate[1] },
    lossRate: c.stats.lossRate === null || !c.stats.ci.lossRate ? null : { value: c.stats.lossRate, lo: c.stats.ci.lossRate[0], hi: c.stats.ci.lossRate[1] },
    adjustedWinRate:
      c.stats.adjustedWinRate === null || !c.stats.ci.adjustedWinRate ? null : { value: c.stats.adjustedWinRate, lo: c.stats.ci.adjustedWinRate[0], hi: c.stats.ci.adjustedWinRate[1] },
    lengthControlledWinRate: c.lengthControlled.lcWinRate,
  }));

  // Difficulty buckets and the gain over SFT per bucket (paired by prompt, bootstrap CI).
  const evalRows = new Map<string, Awaited<ReturnType<typeof readEvalResponses>>>();
  for (const a of evaluation.arms) evalRows.set(a.arm, await readEvalResponses(store, evalResponsesKey(plan, a.arm)));
  const sftRows = evalRows.get('sft') ?? [];
  const bucketDefs = task?.difficultyBuckets ?? [{ name: 'all', max: 1 }];
  const buckets = bucketDefs.map((b, i) => ({
    name: b.name,
    lo: i === 0 ? 0 : bucketDefs[i - 1]!.max,
    hi: b.max,
    prompts: sftRows.filter((r) => r.bucket === b.name).length,
  }));
  const ciRng = new Rng(plan.config.seed).fork('report-ci');
  const goldByDifficulty = task
    ? evaluation.goldByDifficulty.map((g) => {
        const sftById = new Map(sftRows.map((r) => [r.promptId, r.gold!]));
        const diffs = (evalRows.get(g.arm) ?? []).filter((r) => r.bucket === g.bucket).map((r) => r.gold! - (sftById.get(r.promptId) ?? 0));
        const ci = diffs.length ? bootstrapMeanCI(diffs, () => ciRng.next(), plan.config.evaluation.bootstrap, 0.05) : { mean: 0, lo: 0, hi: 0 };
        return { arm: g.arm, bucket: g.bucket, n: g.n, goldMean: g.goldMean, gainOverSft: est(ci) };
      })
    : [];

  // Samples: RL prompts of the last PPO iteration (the same prompts for every arm), with an SFT baseline response.
  const scored = await collect(readJsonl<ScoredBaseline>(store, joinKey(plan.steps.baselineScores.dir, BASELINE_SCORES)));
  const firstSample = new Map(scored.filter((s) => s.sample === 0).map((s) => [s.promptId, s]));
  const lastIter = plan.config.ppo.iterations;
  const lastRollouts = new Map<string, Map<string, { response: string; score: number; prompt: string }>>();
  for (const a of plan.arms) {
    const rows = await collect(
      readJsonl<{ promptId: string; prompt: string; response: string; score: number }>(store, joinKey(layout.armDir(plan.runName, a.name), 'rollouts', `iter-${String(lastIter).padStart(6, '0')}.jsonl`)),
    ).catch(() => []);
    lastRollouts.set(a.name, new Map(rows.map((r) => [r.promptId, r])));
  }
  const difficultyOf = new Map<string, number>();
  for (const s of scored) if (task) difficultyOf.set(s.promptId, task.difficulty(s.prompt));
  const samplePrompts = [...(lastRollouts.get(plan.arms[0]!.name)?.keys() ?? [])].slice(0, 8);
  const samples: Sample[] = samplePrompts.map((id) => {
    const base = firstSample.get(id);
    const prompt = base?.prompt ?? lastRollouts.get(plan.arms[0]!.name)!.get(id)!.prompt;
    const d = difficultyOf.get(id) ?? 0.5;
    const bucket = bucketDefs.find((b) => d <= b.max)?.name ?? bucketDefs[bucketDefs.length - 1]!.name;
    return {
      promptId: id,
      prompt,
      difficulty: d,
      bucket,
      baselineMean: table.get(id)?.mean ?? NaN,
      responses: [
        ...(base ? [{ arm: 'sft', text: base.response, rmScore: base.rm, ...(base.gold !== null ? { gold: base.gold } : {}) }] : []),
        ...plan.arms.flatMap((a) => {
          const r = lastRollouts.get(a.name)?.get(id);
          return r ? [{ arm: a.name, text: r.response, rmScore: r.score, ...(task ? { gold: task.goldReward(prompt, r.response) } : {}) }] : [];
        }),
      ],
    };
  });

  const offsets = task ? await getJsonOrNull<{ promptId: string; offset: number; difficulty: number | null }[]>(store, joinKey(plan.steps.baselineScores.dir, OFFSETS)) : null;
  const judgments: Judgment[] = [];
  for (const key of Object.values(evaluation.judgments)) judgments.push(...(await readJudgments(store, key)));
  const llmJudgments = judgments.filter((j) => j.judge.startsWith('llm:'));
  const human = extra.human;
  const humanReport = human && human.votes.length
    ? (() => {
        const byJudge = new Map<string, Judgment[]>();
        for (const v of human.votes) byJudge.set(v.judge, [...(byJudge.get(v.judge) ?? []), v]);
        const panel = byJudge.size >= 2 ? panelAgreement(byJudge) : null;
        const vsLlm = llmJudgments.length ? judgeAgreement(human.votes.map((v) => ({ ...v, judge: 'human' })), llmJudgments) : null;
        return {
          votes: human.votes.length,
          annotators: human.annotators,
          ...(panel
            ? {
                agreement:
                  byJudge.size === 2
                    ? { kappa: panel.pairwise[0]?.kappa ?? null, n: panel.pairwise[0]?.n ?? 0, agreement: panel.pairwise[0]?.agreement ?? null, method: 'cohen' as const }
                    : { kappa: panel.fleiss.kappa, n: panel.fleiss.n, agreement: panel.meanAgreement, method: 'fleiss' as const },
              }
            : {}),
          ...(vsLlm ? { humanVsLlm: { kappa: vsLlm.kappa, n: vsLlm.n, agreement: vsLlm.agreement, method: 'cohen' as const } } : {}),
        };
      })()
    : undefined;
  if (human) comparisons.push(...humanComparisons(human.votes, plan));

  const headlineCmp = comparisons.find((c) => plan.arms.find((a) => a.name === c.candidate)?.rewardMode === 'contrastive' && plan.arms.find((a) => a.name === c.baseline)?.rewardMode === 'raw');
  const reportData: ReportData = {
    schema: REPORT_SCHEMA,
    generatedAt: new Date().toISOString(),
    run: {
      name: plan.runName,
      workflowId: extra.workflowId,
      startedAt: record.createdAt,
      finishedAt: extra.finished ? new Date().toISOString() : null,
      task: plan.config.task,
      hasGold: Boolean(task),
      seed: plan.config.seed,
      backend: {
        name: sft.result.backend.name,
        threads: sft.result.backend.threads,
        detail: `SFT on ${backendLabel(sft.result.backend)}, reward model on ${backendLabel(rm.result.backend)}, evaluation on ${evaluationBackend}`,
      },
      versions: record.versions,
      configYaml: stringify(plan.config),
      storeUri: plan.storeUri,
      artifactUris: {
        sftModel: sft.result.modelUri,
        rewardModel: rm.result.modelUri,
        baselineTable: baselines.result.tableUri,
        evaluation: store.uri(evaluationKey(plan)),
        ...Object.fromEntries(armResults.map((a) => [`${a.arm}Checkpoint`, a.checkpoint])),
      },
    },
    ci: { level: 0.95, method: 'percentile bootstrap over prompts', iterations: plan.config.evaluation.bootstrap },
    arms: evaluation.arms.map((a) => ({
      name: a.arm,
      rewardMode: a.rewardMode,
      summary: {
        ...(a.gold ? { goldMean: est(a.gold) } : {}),
        rmScoreMean: a.rmMean,
        klToRef: a.klMean,
        responseLength: a.lengthMean,
        distinct1: a.distinct1,
        distinct2: a.distinct2,
        n: a.n,
      },
    })),
    ...(headlineCmp ? { headline: { judge: headlineCmp.judge, candidate: headlineCmp.candidate, baseline: headlineCmp.baseline } } : {}),
    comparisons,
    difficulty: {
      measure: task ? `${task.name} task difficulty in [0, 1] (higher is harder)` : 'none (real data): one bucket',
      buckets,
    },
    byDifficulty: evaluation.byDifficulty.flatMap((d) =>
      d.buckets.map((b) => ({
        judge: d.judge,
        candidate: d.candidate,
        baseline: d.baseline,
        bucket: b.bucket,
        wins: b.stats.wins,
        ties: b.stats.ties,
        losses: b.stats.losses,
        n: b.stats.n,
        adjustedWinRate: b.stats.adjustedWinRate === null || !b.stats.ci.adjustedWinRate ? null : { value: b.stats.adjustedWinRate, lo: b.stats.ci.adjustedWinRate[0], hi: b.stats.ci.adjustedWinRate[1] },
      })),
    ),
    goldByDifficulty,
    training,
    rewardModel: {
      heldOutAccuracy: wilson(rm.result.heldOutAccuracy, rm.result.heldOutPairs),
      heldOutPairs: rm.result.heldOutPairs,
      trainAccuracy: rm.result.trainAccuracy,
      labelNoise: plan.config.data.label_noise,
      offsetSpread:
        task && baselines.result.offsetSpread && offsets
          ? {
              variance: baselines.result.offsetSpread.variance,
              std: baselines.result.offsetSpread.std,
              meanOffset: baselines.result.offsetSpread.meanOffset,
              perPrompt: offsets.map((o) => ({ promptId: o.promptId, offset: o.offset, difficulty: o.difficulty ?? 0.5 })),
            }
          : null,
    },
    baselines: {
      k: plan.config.reward.contrastive.k ?? plan.config.baselines.k,
      aggregation: aggregationName(plan),
      meanStd: baselines.result.meanWithinPromptStd,
      spreadOfMeans: baselines.result.stdOfPromptMeans,
      prompts: baselines.result.prompts,
    },
    samples,
    judges: {
      ...(evaluation.llm
        ? {
            llm: {
              model: evaluation.llm.model,
              ...(plan.config.evaluation.llm ? { baseUrl: plan.config.evaluation.llm.base_url } : {}),
              promptVersion: evaluation.llm.promptVersion,
              promptSha256: evaluation.llm.promptSha256,
              usage: llmUsage(evaluation.llm.usage),
            },
          }
        : {}),
      ...(humanReport ? { human: humanReport } : {}),
    },
  };
  return parseReportData(reportData, 'report data');
}

/** The usage counters the report shows (the judge keeps more, e.g. cache errors). */
function llmUsage(u: Record<string, number | null>) {
  const num = (k: string) => (typeof u[k] === 'number' ? (u[k] as number) : 0);
  return {
    requests: num('requests'),
    retries: num('retries'),
    promptTokens: num('promptTokens'),
    completionTokens: num('completionTokens'),
    costUsd: typeof u.costUsd === 'number' ? u.costUsd : null,
    cacheHits: num('cacheHits'),
    cacheMisses: num('cacheMisses'),
    unparseable: num('unparseable'),
  };
}

function humanComparisons(votes: Judgment[], plan: Plan): Comparison[] {
  const rng = new Rng(plan.config.seed).fork('human-ci');
  const groups = new Map<string, Judgment[]>();
  for (const v of votes) groups.set(`${v.armA}\u0000${v.armB}`, [...(groups.get(`${v.armA}\u0000${v.armB}`) ?? []), v]);
  return [...groups.values()].map((js) => {
    const w = js.filter((j) => j.verdict === 'A').length;
    const t = js.filter((j) => j.verdict === 'tie').length;
    const l = js.filter((j) => j.verdict === 'B').length;
    const n = w + t + l;
    const ci = (f: (j: Judgment) => number) => {
      const xs = js.filter((j) => j.verdict !== 'error').map(f);
      return xs.length ? est(bootstrapMeanCI(xs, () => rng.next(), plan.config.evaluation.bootstrap, 0.05)) : null;
    };
    return {
      judge: 'human',
      candidate: js[0]!.armA,
      baseline: js[0]!.armB,
      wins: w,
      ties: t,
      losses: l,
      errors: js.length - n,
      n,
      winRate: ci((j) => (j.verdict === 'A' ? 1 : 0)),
      lossRate: ci((j) => (j.verdict === 'B' ? 1 : 0)),
      adjustedWinRate: ci((j) => (j.verdict === 'A' ? 1 : j.verdict === 'tie' ? 0.5 : 0)),
    };
  });
}

/** Renders the report and writes report.html, report.md, report.json and plots/ under the run's report directory. */
export async function writeReport(plan: Plan, extra: { workflowId: string; human?: HumanVotes; finished?: boolean }): Promise<ReportRef> {
  const store = openStore(plan.storeUri);
  const data = await buildReportData(plan, { ...extra, finished: extra.finished ?? true });
  return writeRenderedReport(store, layout.reportDir(plan.runName), data);
}

export async function writeRenderedReport(store: ArtifactStore, dir: string, data: ReportData): Promise<ReportRef> {
  const rendered = await renderReport(data);
  const plots: string[] = [];
  for (const [name, svg] of Object.entries(rendered.svgs)) plots.push((await store.put(joinKey(dir, PLOT_DIR, `${name}.svg`), svg, { contentType: 'image/svg+xml' })).uri);
  const json = await putJson(store, joinKey(dir, 'report.json'), data);
  const md = await store.put(joinKey(dir, 'report.md'), rendered.markdown, { contentType: 'text/markdown' });
  const html = await store.put(joinKey(dir, 'report.html'), rendered.html, { contentType: 'text/html' });
  return { html: html.uri, markdown: md.uri, data: json.uri, plots };
}

function backendLabel(b: BackendRef): string {
  return b.gpu ? `${b.name} (GPU)` : b.name;
}
