// Shared shapes for prompt sets and preference data: synthetic tasks with a
// gold reward (tasks/sentiment.ts, tasks/sort.ts) and real data loaded from
// JSONL (tasks/loaders.ts).
//
// Text conventions: prompts and responses carry no leading or trailing
// whitespace. How a model joins them (a separator token, a newline) is the
// tokenizer's choice; gold rewards trim the response before scoring.

export interface TaskDataOptions {
  sftExamples: number;
  rlPrompts: number;
  evalPrompts: number;
  preferencePairs: number;
  /** ε: probability that a training preference label is flipped. */
  labelNoise: number;
  heldOutPairs: number;
}

export interface Example {
  id: string;
  prompt: string;
  response: string;
}

export interface PromptItem {
  id: string;
  prompt: string;
  /** Task.difficulty(prompt), in [0, 1]. */
  difficulty: number;
}

/** What reward-model training needs; synthetic and loaded pairs both have it. */
export interface PreferenceRecord {
  id: string;
  prompt: string;
  chosen: string;
  rejected: string;
}

export interface PreferencePair extends PreferenceRecord {
  /** Gold reward of the text now in `chosen` (after any flip: gold follows the text). */
  goldChosen: number;
  goldRejected: number;
  /** The label was flipped by noise: goldChosen < goldRejected. */
  flipped: boolean;
}

export interface TaskData {
  sft: Example[];
  rlPrompts: PromptItem[];
  evalPrompts: PromptItem[];
  preferences: PreferencePair[];
  /** Labelled by gold, never flipped: for reward-model accuracy. */
  heldOutPreferences: PreferencePair[];
}

export interface DifficultyBucket {
  name: string;
  /** Upper bound (inclusive) of the bucket; buckets are ordered by max, the last has max 1. */
  max: number;
}

export interface Task {
  name: string;
  description: string;
  /** Everything seeded: same options + seed => identical data. */
  generate(opts: TaskDataOptions, seed: number): TaskData;
  /** Higher is better; each task documents its range. */
  goldReward(prompt: string, response: string): number;
  /** Per-prompt difficulty in [0, 1]. */
  difficulty(prompt: string): number;
  difficultyBuckets: DifficultyBucket[];
  maxResponseChars: number;
  /** Every character that generated prompts and responses use (sorted), for a char-level tokenizer. */
  charset: string;
}

/** Name of the bucket a difficulty falls in: the first whose max is ≥ d. */
export function difficultyBucket(task: Pick<Task, 'difficultyBuckets'>, d: number): string {
  const b = task.difficultyBuckets.find((x) => d <= x.max) ?? task.difficultyBuckets[task.difficultyBuckets.length - 1];
  if (!b) throw new RangeError('difficultyBucket: task has no buckets');
  return b.name;
}
