// The data-generation recipe shared by the synthetic tasks. A task supplies
// how to draw a prompt, an (imperfect) demonstration and a preference
// candidate; this file turns that into disjoint splits, pairs and noise.
//
// Splits are drawn in a fixed order — eval, heldOut, rl, preferences, sft —
// each from its own RNG stream, rejecting prompts already used by an earlier
// split. So every prompt belongs to exactly one split, and the eval set
// depends only on (seed, evalPrompts): growing the SFT set never changes it.
//
// Preference pairs: two candidates for the pair's prompt; if their gold
// rewards tie (|Δ| ≤ 1e-9) the second is redrawn, up to 100 times, after
// which the first candidate is chosen. chosen = higher gold. Label noise
// draws one uniform u per pair from a separate stream and flips iff u < ε, so
// the texts do not depend on ε and the flipped sets are nested as ε grows.

import { ConfigError } from '../common/errors.js';
import { createRng, type Rng } from './random.js';
import type { Example, PreferencePair, PromptItem, TaskData, TaskDataOptions } from './types.js';

export interface TaskRecipe {
  name: string;
  /** Number of distinct prompts drawPrompt can produce, for a clear error when the splits ask for more. */
  promptSpaceSize: number;
  drawPrompt(rng: Rng): string;
  demonstrate(prompt: string, rng: Rng): string;
  candidate(prompt: string, rng: Rng): string;
  goldReward(prompt: string, response: string): number;
  difficulty(prompt: string): number;
}

const TIE_EPS = 1e-9;
const TIE_REDRAWS = 100;
/** Rejection sampling of distinct prompts slows down as the space fills; stop well before. */
const MAX_FILL = 0.9;

export function validateTaskDataOptions(opts: TaskDataOptions): void {
  for (const field of ['sftExamples', 'rlPrompts', 'evalPrompts', 'preferencePairs', 'heldOutPairs'] as const) {
    const v = opts[field];
    if (!Number.isInteger(v) || v < 0) throw new ConfigError(`${field} must be a non-negative integer, got ${v}`, undefined, field);
  }
  if (!(opts.labelNoise >= 0 && opts.labelNoise <= 1)) {
    throw new ConfigError(`labelNoise must be a probability in [0, 1], got ${opts.labelNoise}`, undefined, 'labelNoise');
  }
}

export function buildTaskData(recipe: TaskRecipe, opts: TaskDataOptions, seed: number): TaskData {
  validateTaskDataOptions(opts);
  const total = opts.evalPrompts + opts.heldOutPairs + opts.rlPrompts + opts.preferencePairs + opts.sftExamples;
  if (total > MAX_FILL * recipe.promptSpaceSize) {
    throw new ConfigError(
      `task "${recipe.name}" has ${recipe.promptSpaceSize} distinct prompts; the splits ask for ${total} ` +
        `(every SFT example, RL/eval prompt and preference pair has its own prompt; at most ${Math.floor(MAX_FILL * recipe.promptSpaceSize)})`,
    );
  }
  const used = new Set<string>();
  const drawSplit = (split: string, n: number): string[] => {
    const rng = createRng(seed, `${recipe.name}/prompts/${split}`);
    const out: string[] = [];
    let attempts = 0;
    const maxAttempts = 1000 + 200 * n;
    while (out.length < n) {
      if (++attempts > maxAttempts) {
        throw new ConfigError(`task "${recipe.name}": could not draw ${n} distinct ${split} prompts (got ${out.length}); ask for fewer`);
      }
      const p = recipe.drawPrompt(rng);
      if (used.has(p)) continue;
      used.add(p);
      out.push(p);
    }
    return out;
  };

  const evalP = drawSplit('eval', opts.evalPrompts);
  const heldOutP = drawSplit('heldout', opts.heldOutPairs);
  const rlP = drawSplit('rl', opts.rlPrompts);
  const prefP = drawSplit('preferences', opts.preferencePairs);
  const sftP = drawSplit('sft', opts.sftExamples);

  const items = (split: string, prompts: string[]): PromptItem[] =>
    prompts.map((prompt, i) => ({ id: `${recipe.name}-${split}-${i}`, prompt, difficulty: recipe.difficulty(prompt) }));

  const sftRng = createRng(seed, `${recipe.name}/sft`);
  const sft: Example[] = sftP.map((prompt, i) => ({
    id: `${recipe.name}-sft-${i}`,
    prompt,
    response: recipe.demonstrate(prompt, sftRng),
  }));

  return {
    sft,
    rlPrompts: items('rl', rlP),
    evalPrompts: items('eval', evalP),
    preferences: pairs(recipe, 'pref', prefP, seed, opts.labelNoise),
    heldOutPreferences: pairs(recipe, 'heldout', heldOutP, seed, 0),
  };
}

function pairs(recipe: TaskRecipe, split: string, prompts: string[], seed: number, labelNoise: number): PreferencePair[] {
  const rng = createRng(seed, `${recipe.name}/pairs/${split}`);
  const noise = createRng(seed, `${recipe.name}/noise/${split}`);
  return prompts.map((prompt, i) => {
    const a = recipe.candidate(prompt, rng);
    const ga = recipe.goldReward(prompt, a);
    let b = recipe.candidate(prompt, rng);
    let gb = recipe.goldReward(prompt, b);
    for (let t = 0; t < TIE_REDRAWS && Math.abs(ga - gb) <= TIE_EPS; t++) {
      b = recipe.candidate(prompt, rng);
      gb = recipe.goldReward(prompt, b);
    }
    const aWins = ga >= gb;
    let chosen = aWins ? a : b;
    let rejected = aWins ? b : a;
    let goldChosen = aWins ? ga : gb;
    let goldRejected = aWins ? gb : ga;
    const flipped = noise.next() < labelNoise;
    if (flipped) {
      [chosen, rejected] = [rejected, chosen];
      [goldChosen, goldRejected] = [goldRejected, goldChosen];
    }
    return { id: `${recipe.name}-${split}-${i}`, prompt, chosen, rejected, goldChosen, goldRejected, flipped };
  });
}
