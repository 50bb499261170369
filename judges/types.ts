// The contract every judge (LLM, oracle, human) keeps, so that the activities
// that run judges and the metrics that read their verdicts need not know which
// kind of judge produced them. Everything here is plain JSON: judgments are
// stored as artifacts and may pass through Temporal payloads in small batches.

/** One comparison. A and B are the *arms* in canonical order (A = candidate, B = baseline). */
export interface JudgePair {
  pairId: string;
  prompt: string;
  responseA: string;
  responseB: string;
  armA: string;
  armB: string;
  /** Free-form context kept with the pair (difficulty bucket, prompt source, ...). Never shown to an LLM judge. */
  meta?: Record<string, unknown>;
}

/** Which arm won. 'error' means the judge could not give a verdict; it is counted, never dropped. */
export type Verdict = 'A' | 'B' | 'tie' | 'error';

/** The two presentation orders of a pair: 'AB' shows arm A first, 'BA' shows arm B first. */
export type Order = 'AB' | 'BA';

/** A verdict label as an LLM judge writes it, by position: [[A]], [[B]], [[C]] (tie). */
export type PositionLabel = 'A' | 'B' | 'C';

/** One ordered call of an LLM judge, kept so a verdict can be audited from its raw text. */
export interface LlmCallRecord {
  order: Order;
  /** The judge's whole output. */
  raw: string;
  /** The last [[A]]/[[B]]/[[C]] in `raw`, or null when there is none. */
  label: PositionLabel | null;
  /** `label` mapped back to arms; null when unparseable. */
  verdict: Exclude<Verdict, 'error'> | null;
  cached: boolean;
  /** The model the server says answered (often a dated snapshot of the configured one), or null. */
  servedModel: string | null;
  promptTokens: number;
  completionTokens: number;
}

export interface LlmJudgmentDetail {
  kind: 'llm';
  model: string;
  promptVersion: string;
  promptSha256: string;
  /** Always two: order 'AB' first, then 'BA'. */
  calls: [LlmCallRecord, LlmCallRecord];
  /** Whether both orders named the same arm (or both a tie); null when a call was unparseable. */
  consistent: boolean | null;
}

export interface OracleJudgmentDetail {
  kind: 'oracle';
  /** null when the gold reward was not a finite number (the verdict is then 'error'). */
  goldA: number | null;
  goldB: number | null;
  tolerance: number;
  error?: string;
}

/** Written by the human judging service; its fields beyond these belong to that service. */
export interface HumanJudgmentDetail {
  kind: 'human';
  annotator: string;
  /** The order the pair was shown in, so position effects among annotators can be measured. */
  shownOrder?: Order;
  [field: string]: unknown;
}

export type JudgmentDetail = LlmJudgmentDetail | OracleJudgmentDetail | HumanJudgmentDetail;

export interface Judgment {
  pairId: string;
  /** Who judged: 'llm:<model>@<prompt version>', 'oracle', 'oracle:<name>', 'human:<annotator>'. */
  judge: string;
  /** Copied from the pair so metrics can group by arms without the pairs at hand. */
  armA: string;
  armB: string;
  verdict: Verdict;
  detail: JudgmentDetail;
}

export interface JudgeOptions {
  signal?: AbortSignal;
  /** Called after each pair is judged, e.g. to heartbeat an activity. */
  onProgress?: (done: number, total: number) => void;
}

export interface Judge {
  /** The `judge` field of every judgment this judge returns. */
  readonly id: string;
  /** Judgments in the order of `pairs`. */
  judge(pairs: readonly JudgePair[], opts?: JudgeOptions): Promise<Judgment[]>;
}
