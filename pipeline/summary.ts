// The small result of a finished experiment: what `crlhf run --json` prints
// and the workflow returns. Large things stay in the store, by URI.
import { openStore } from '../storage/index.js';
import { putJson } from '../storage/json.js';
import { layout } from './layout.js';
import type { EvaluationResult } from './judging.js';
import type { Plan } from './plan.js';
import type { PpoArmResult } from './ppo.js';
import type { ReportRef } from './report.js';

export interface ExperimentSummary {
  run: string;
  task: string;
  seed: number;
  arms: {
    name: string;
    rewardMode: 'sft' | 'raw' | 'contrastive';
    goldMean: number | null;
    rmScoreMean: number;
    klToRef: number;
    responseLength: number;
    training?: PpoArmResult['final'];
  }[];
  winRates: {
    judge: string;
    candidate: string;
    baseline: string;
    wins: number;
    ties: number;
    losses: number;
    winRate: number | null;
    adjustedWinRate: number | null;
    adjustedWinRateCI: [number, number] | null;
    lengthControlledWinRate: number | null;
  }[];
  artifacts: { report: string; reportMarkdown: string; reportData: string; store: string; [k: string]: string };
}

export async function summarize(input: { plan: Plan; arms: PpoArmResult[]; evaluation: EvaluationResult; report: ReportRef }): Promise<ExperimentSummary> {
  const { plan, evaluation } = input;
  const trained = new Map(input.arms.map((a) => [a.arm, a]));
  const summary: ExperimentSummary = {
    run: plan.runName,
    task: plan.config.task,
    seed: plan.config.seed,
    arms: evaluation.arms.map((a) => ({
      name: a.arm,
      rewardMode: a.rewardMode,
      goldMean: a.gold?.mean ?? null,
      rmScoreMean: a.rmMean,
      klToRef: a.klMean,
      responseLength: a.lengthMean,
      ...(trained.get(a.arm) ? { training: trained.get(a.arm)!.final } : {}),
    })),
    winRates: evaluation.comparisons.map((c) => ({
      judge: c.judge,
      candidate: c.candidate,
      baseline: c.baseline,
      wins: c.stats.wins,
      ties: c.stats.ties,
      losses: c.stats.losses,
      winRate: c.stats.winRate,
      adjustedWinRate: c.stats.adjustedWinRate,
      adjustedWinRateCI: c.stats.ci.adjustedWinRate,
      lengthControlledWinRate: c.lengthControlled.lcWinRate,
    })),
    artifacts: {
      report: input.report.html,
      reportMarkdown: input.report.markdown,
      reportData: input.report.data,
      store: plan.storeUri,
      ...Object.fromEntries(input.arms.map((a) => [`${a.arm}Checkpoint`, a.checkpoint])),
    },
  };
  await putJson(openStore(plan.storeUri), layout.summary(plan.runName), summary);
  return summary;
}
