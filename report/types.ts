// What a report shows, as plain JSON that the pipeline writes once a run has
// finished (report.json in the run's store). Every number is computed before
// it gets here — by rlhf/ and judges/ — so the renderer only lays it out and a
// report can be re-rendered, diffed or read by other tools without the models.
// The zod schema that validates it on load is in ./schema.ts; a compile-time
// check there keeps the two from drifting apart.

export const REPORT_SCHEMA = 'crlhf.report/v1' as const;

/** A point estimate with its confidence interval (the level is `ReportData.ci.level`). */
export interface Estimate {
  value: number;
  lo: number;
  hi: number;
}

/** 'sft' is the supervised policy every arm starts from; the others are PPO arms by their reward. */
export type RewardMode = 'sft' | 'raw' | 'contrastive';

export interface RunInfo {
  /** Run name (the experiment's `name`). */
  name: string;
  workflowId: string;
  /** ISO 8601 timestamps. `finishedAt` is null for a report of a run that has not finished. */
  startedAt: string;
  finishedAt: string | null;
  /** Synthetic task name ('sentiment', 'sort') or 'files'. */
  task: string;
  /** Whether the task has a gold reward (synthetic tasks): gold columns, oracle judge and offset spread exist only then. */
  hasGold: boolean;
  /** The experiment seed every random draw is derived from. */
  seed: number;
  /** Seeds derived per stage (sft, rewardModel, ppo:<arm>, bootstrap, ...), where the pipeline records them. */
  seeds?: Record<string, number>;
  /** The TensorFlow.js backend that ran the compute. */
  backend: { name: string; threads: number | null; detail: string };
  /** Package and tool versions: crlhf, node, tfjs, temporal, ... */
  versions: Record<string, string>;
  /** The resolved experiment config, as YAML (defaults filled in). */
  configYaml: string;
  storeUri: string;
  /** Artifacts by role (sftCheckpoint, rewardModel, baselines, judgments, ...) → URI. */
  artifactUris: Record<string, string>;
}

/** Evaluation of one policy on the held-out prompts. */
export interface ArmSummary {
  /** Mean gold reward with CI; only on tasks with a gold reward. */
  goldMean?: Estimate;
  /** Mean reward-model score. */
  rmScoreMean: number;
  /** Mean per-sequence KL(π ‖ π_ref) to the reference (SFT) policy; 0 for sft. */
  klToRef: number;
  /** Mean response length in tokens. */
  responseLength: number;
  /** Distinct-n: unique n-grams / total n-grams over all responses (Li et al. 2016). */
  distinct1: number;
  distinct2: number;
  /** Held-out prompts evaluated. */
  n: number;
}

export interface Arm {
  name: string;
  rewardMode: RewardMode;
  summary: ArmSummary;
}

/** Win/tie/loss of `candidate` against `baseline` by one judge; errors are counted, never in a rate. */
export interface Comparison {
  /** Judge id as in judges/types.ts: 'oracle', 'llm:<model>@<prompt version>', 'human' or 'human:<annotator>'. */
  judge: string;
  candidate: string;
  baseline: string;
  wins: number;
  ties: number;
  losses: number;
  errors: number;
  /** wins + ties + losses: the denominator of every rate. */
  n: number;
  /** W/n, L/n and (W + T/2)/n with bootstrap CIs; null when n = 0. */
  winRate: Estimate | null;
  lossRate: Estimate | null;
  adjustedWinRate: Estimate | null;
  /** Length-controlled win rate (judges/length-control.ts); null when it could not be fitted, absent when not computed. */
  lengthControlledWinRate?: number | null;
}

export interface DifficultyBucket {
  /** Bucket name as used in every by-difficulty row, e.g. 'hard', 'medium', 'easy'. Listed in display order. */
  name: string;
  /** Range of the difficulty measure covered by the bucket. */
  lo: number;
  hi: number;
  /** Held-out prompts in the bucket. */
  prompts: number;
}

export interface Difficulty {
  /** What the number means, e.g. "−(mean gold reward of k SFT samples); higher is harder". */
  measure: string;
  buckets: DifficultyBucket[];
}

export interface DifficultyComparison {
  judge: string;
  candidate: string;
  baseline: string;
  bucket: string;
  wins: number;
  ties: number;
  losses: number;
  n: number;
  adjustedWinRate: Estimate | null;
}

export interface GoldByDifficulty {
  arm: string;
  bucket: string;
  n: number;
  goldMean: number;
  /** Mean over the bucket's prompts of (gold of this arm − gold of sft), with CI. */
  gainOverSft: Estimate;
}

/** One PPO iteration of one arm (means over the rollout batch unless stated). */
export interface TrainingPoint {
  arm: string;
  iteration: number;
  /** Raw reward-model score of the rollouts: mean and std over the batch. */
  scoreMean: number;
  scoreStd: number;
  /** Contrastive reward r − A(baselines) of the same rollouts; present for contrastive arms, and for raw arms where the pipeline also computes it. */
  contrastiveMean?: number;
  contrastiveStd?: number;
  /** Per-sequence KL to the reference policy, and the KL coefficient β in force. */
  kl: number;
  klCoef: number;
  entropy: number;
  valueLoss: number;
  policyLoss: number;
  clipFrac: number;
  approxKl: number;
  explainedVariance: number;
  responseLength: number;
  /** Gold reward of the rollouts (synthetic tasks). */
  goldMean?: number;
  timings?: { rolloutMs: number; scoringMs: number; updateMs: number };
}

export interface PromptOffset {
  promptId: string;
  /** mean_y [r(x, y) − g(x, y)] over the responses scored for this prompt. */
  offset: number;
  difficulty: number;
  bucket?: string;
}

export interface RewardModelReport {
  /** Accuracy on held-out pairs labelled by the gold reward (or held-out human labels), with CI. */
  heldOutAccuracy: Estimate;
  heldOutPairs: number;
  /** Accuracy on its own (noisy) training pairs. */
  trainAccuracy?: number;
  /** ε, the configured probability that a training label was flipped. */
  labelNoise: number;
  /** Spread over prompts of the per-prompt offset mean_y[r − g]; absent or null when there is no gold reward. */
  offsetSpread?: {
    variance: number;
    std: number;
    meanOffset: number;
    perPrompt: PromptOffset[];
  } | null;
}

export interface BaselineReport {
  /** Offline SFT responses per prompt used in the contrastive reward. */
  k: number;
  /** A in r − A({r(x, y_j)}), e.g. 'mean', 'median', 'trimmed_mean(0.1)'. */
  aggregation: string;
  /** Mean over prompts of the std of the k baseline scores (how noisy one prompt's baseline is). */
  meanStd: number;
  /** Std over prompts of the aggregated baseline (how much the baseline moves between prompts). */
  spreadOfMeans?: number;
  /** RL prompts with baselines. */
  prompts?: number;
}

export interface SampleResponse {
  arm: string;
  text: string;
  rmScore: number;
  gold?: number;
}

export interface Sample {
  promptId: string;
  prompt: string;
  difficulty: number;
  bucket: string;
  /** A(baselines) for this prompt: what the contrastive arm subtracts. */
  baselineMean: number;
  responses: SampleResponse[];
}

export interface LlmJudgeReport {
  model: string;
  baseUrl?: string;
  promptVersion: string;
  promptSha256: string;
  usage: {
    requests: number;
    retries: number;
    promptTokens: number;
    completionTokens: number;
    /** null when the endpoint's price is unknown. */
    costUsd: number | null;
    cacheHits: number;
    cacheMisses: number;
    /** Calls whose output had no [[A]]/[[B]]/[[C]] verdict. */
    unparseable: number;
  };
  /** Share of pairs where both presentation orders agreed (position consistency). */
  positionConsistency?: number;
}

export interface Kappa {
  /** null when undefined (no items, or every rater used one label). */
  kappa: number | null;
  /** Items compared. */
  n: number;
  /** Raw share of identical labels. */
  agreement?: number | null;
  method: 'cohen' | 'fleiss';
}

export interface HumanJudgeReport {
  votes: number;
  annotators: string[];
  /** Between annotators: Cohen's kappa for two, Fleiss' for more. */
  agreement?: Kappa;
  /** Majority human label vs the LLM judge. */
  humanVsLlm?: Kappa;
}

export interface ReportData {
  schema: typeof REPORT_SCHEMA;
  /** When this data was assembled (ISO 8601). */
  generatedAt: string;
  run: RunInfo;
  /** Confidence intervals everywhere: level and how they were computed. */
  ci: { level: number; method: string; iterations: number };
  /** sft first, then the PPO arms in config order; plot colours follow this order. */
  arms: Arm[];
  /** The comparison shown in the headline box; default: the first contrastive-vs-raw comparison, oracle judge first. */
  headline?: { judge: string; candidate: string; baseline: string };
  comparisons: Comparison[];
  difficulty: Difficulty;
  byDifficulty: DifficultyComparison[];
  /** Empty when there is no gold reward. */
  goldByDifficulty: GoldByDifficulty[];
  training: TrainingPoint[];
  rewardModel: RewardModelReport;
  baselines: BaselineReport;
  samples: Sample[];
  judges: { llm?: LlmJudgeReport; human?: HumanJudgeReport };
}
