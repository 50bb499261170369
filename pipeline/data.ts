// Step 1, data: a synthetic task's seeded splits, or real HH-RLHF / TL;DR
// files, written as JSONL with a character tokenizer fitted to the corpus.
import { DataError } from '../common/errors.js';
import type { ExperimentConfig } from '../config/schema.js';
import { Tokenizer, type TokenizerJSON } from '../rlhf/tokenizer.js';
import { openObject } from '../storage/index.js';
import { getJson, putJson, putJsonl, readJsonl, readLines } from '../storage/json.js';
import { joinKey } from '../storage/keys.js';
import type { ArtifactStore } from '../storage/types.js';
import { sha256Hex } from '../storage/digest.js';
import { getTask } from '../tasks/index.js';
import { loadHhRlhf, loadTldrComparisons, loadTldrSft } from '../tasks/loaders.js';
import type { Example, PreferencePair, PreferenceRecord, PromptItem } from '../tasks/types.js';

export const DATA_FILES = {
  sft: 'sft.jsonl',
  rlPrompts: 'rl_prompts.jsonl',
  evalPrompts: 'eval_prompts.jsonl',
  preferences: 'preferences.jsonl',
  heldOut: 'held_out.jsonl',
  tokenizer: 'tokenizer.json',
} as const;

export interface DataResult {
  task: string;
  hasGold: boolean;
  counts: { sft: number; rlPrompts: number; evalPrompts: number; preferences: number; heldOut: number; flipped: number };
  vocabSize: number;
  difficultyBuckets: { name: string; max: number }[];
}

/** Loaded data: preferences carry gold rewards only for synthetic tasks. */
export interface ExperimentData {
  sft: Example[];
  rlPrompts: PromptItem[];
  evalPrompts: PromptItem[];
  preferences: (PreferenceRecord & Partial<PreferencePair>)[];
  heldOut: (PreferenceRecord & Partial<PreferencePair>)[];
  tokenizer: Tokenizer;
}

export async function prepareData(store: ArtifactStore, dir: string, config: ExperimentConfig): Promise<DataResult> {
  const d = config.data;
  let data: Omit<ExperimentData, 'tokenizer'>;
  let hasGold = false;
  let buckets = [{ name: 'all', max: 1 }];
  let extraChars = '';
  if (config.task === 'files') {
    data = await loadFiles(config);
  } else {
    const task = getTask(config.task);
    const generated = task.generate(
      {
        sftExamples: d.sft_examples,
        rlPrompts: d.rl_prompts,
        evalPrompts: d.eval_prompts,
        preferencePairs: d.preference_pairs,
        heldOutPairs: d.held_out_pairs,
        labelNoise: d.label_noise,
      },
      config.seed,
    );
    data = { ...generated, heldOut: generated.heldOutPreferences };
    hasGold = true;
    buckets = task.difficultyBuckets;
    extraChars = task.charset;
  }
  const tokenizer = Tokenizer.fit(corpus(data), { extraChars });
  await putJsonl(store, joinKey(dir, DATA_FILES.sft), data.sft);
  await putJsonl(store, joinKey(dir, DATA_FILES.rlPrompts), data.rlPrompts);
  await putJsonl(store, joinKey(dir, DATA_FILES.evalPrompts), data.evalPrompts);
  await putJsonl(store, joinKey(dir, DATA_FILES.preferences), data.preferences);
  await putJsonl(store, joinKey(dir, DATA_FILES.heldOut), data.heldOut);
  await putJson(store, joinKey(dir, DATA_FILES.tokenizer), tokenizer.toJSON());
  return {
    task: config.task,
    hasGold,
    counts: {
      sft: data.sft.length,
      rlPrompts: data.rlPrompts.length,
      evalPrompts: data.evalPrompts.length,
      preferences: data.preferences.length,
      heldOut: data.heldOut.length,
      flipped: data.preferences.filter((p) => p.flipped).length,
    },
    vocabSize: tokenizer.vocabSize,
    difficultyBuckets: buckets,
  };
}

function* corpus(data: Omit<ExperimentData, 'tokenizer'>): Generator<string> {
  for (const e of data.sft) yield e.prompt + e.response;
  for (const p of data.rlPrompts) yield p.prompt;
  for (const p of data.evalPrompts) yield p.prompt;
  for (const p of data.preferences) yield p.prompt + p.chosen + p.rejected;
}

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

/** Real data: prompts are split into RL and evaluation sets by a hash of their text, so the split is stable. */
async function loadFiles(config: ExperimentConfig): Promise<Omit<ExperimentData, 'tokenizer'>> {
  const f = config.data.files!;
  const d = config.data;
  const open = (uri: string) => {
    const { store, key } = openObject(uri);
    return readLines(store, key);
  };
  const prefs =
    f.format === 'hh-rlhf'
      ? await collect(loadHhRlhf(open(f.preferences), f.preferences))
      : await collect(loadTldrComparisons(open(f.preferences), f.preferences));
  if (prefs.length < 2) throw new DataError(`${f.preferences}: needs at least 2 preference pairs, found ${prefs.length}`, f.preferences);
  const sft: Example[] = f.sft
    ? (await collect(loadTldrSft(open(f.sft), f.sft))).map((e) => ({ id: e.id, prompt: e.prompt, response: e.response }))
    : prefs.map((p) => ({ id: `${p.id}-sft`, prompt: p.prompt, response: p.chosen }));
  const isEval = (prompt: string) => parseInt(sha256Hex(prompt).slice(0, 8), 16) / 0xffffffff < f.eval_fraction;
  const prompts = [...new Map(prefs.map((p) => [p.prompt, p])).values()];
  const toItem = (p: PreferenceRecord): PromptItem => ({ id: `prompt-${sha256Hex(p.prompt).slice(0, 12)}`, prompt: p.prompt, difficulty: 0.5 });
  const evalPrompts = prompts.filter((p) => isEval(p.prompt)).slice(0, d.eval_prompts).map(toItem);
  const rlPrompts = prompts.filter((p) => !isEval(p.prompt)).slice(0, d.rl_prompts).map(toItem);
  const trainPrefs = prefs.filter((p) => !isEval(p.prompt));
  const heldOut = prefs.filter((p) => isEval(p.prompt)).slice(0, d.held_out_pairs);
  const strip = (p: PreferenceRecord): PreferenceRecord => ({ id: p.id, prompt: p.prompt, chosen: p.chosen, rejected: p.rejected });
  return {
    sft: sft.filter((e) => !isEval(e.prompt)).slice(0, d.sft_examples),
    rlPrompts,
    evalPrompts,
    preferences: trainPrefs.slice(0, d.preference_pairs).map(strip),
    heldOut: heldOut.map(strip),
  };
}

export async function loadData(store: ArtifactStore, dir: string): Promise<ExperimentData> {
  const read = async <T>(name: string) => collect(readJsonl<T>(store, joinKey(dir, name)));
  return {
    sft: await read<Example>(DATA_FILES.sft),
    rlPrompts: await read<PromptItem>(DATA_FILES.rlPrompts),
    evalPrompts: await read<PromptItem>(DATA_FILES.evalPrompts),
    preferences: await read(DATA_FILES.preferences),
    heldOut: await read(DATA_FILES.heldOut),
    tokenizer: Tokenizer.fromJSON(await getJson<TokenizerJSON>(store, joinKey(dir, DATA_FILES.tokenizer))),
  };
}
