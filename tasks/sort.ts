// Sorting short digit lists: a structured task with a graded gold reward.
//
//   prompt:   "sort: 7 3 9 1"
//   response: "1 3 7 9"
//
// Lists of 3–8 digits (0–9, repeats allowed); 16 characters in all. Longer
// lists are harder. SFT demonstrations carry one adjacent swap with a
// probability that grows with the length (10% for 3 values, 50% for 8), so the
// SFT policy is good but not perfect, and worse on harder prompts.

import { buildTaskData, type TaskRecipe } from './build.js';
import type { Rng } from './random.js';
import type { Task } from './types.js';

export const SORT_MIN_LEN = 3;
export const SORT_MAX_LEN = 8;
const PREFIX = 'sort:';
/** P(an SFT demonstration carries one adjacent swap) = 0.1 + 0.4·difficulty. */
const DEMO_SWAP_MIN = 0.1;
const DEMO_SWAP_SPAN = 0.4;

/** The list in a prompt; throws a RangeError for a prompt that is not "sort: <integers>". */
export function parseSortPrompt(prompt: string): number[] {
  const s = prompt.trim();
  if (!s.startsWith(PREFIX)) throw new RangeError(`sort task: prompt must start with "${PREFIX}", got ${JSON.stringify(prompt)}`);
  const body = s.slice(PREFIX.length).trim();
  const tokens = body === '' ? [] : body.split(/\s+/);
  if (tokens.length === 0 || tokens.some((t) => !/^\d+$/.test(t))) {
    throw new RangeError(`sort task: prompt must list non-negative integers after "${PREFIX}", got ${JSON.stringify(prompt)}`);
  }
  return tokens.map(Number);
}

/**
 * Gold reward in [0, 1]: the fraction of positions holding the right value,
 *   #{i : tokens[i] = sorted[i]} / max(n, m),
 * where sorted is the prompt's list sorted ascending (n values) and tokens are
 * the m whitespace-separated tokens of the trimmed response, compared as
 * strings to the decimal form of the value ("07" ≠ "7"). Missing positions
 * and malformed tokens count as wrong; dividing by max(n, m) makes extra
 * tokens cost as much as missing ones. An empty response scores 0.
 */
function goldReward(prompt: string, response: string): number {
  const target = [...parseSortPrompt(prompt)].sort((a, b) => a - b).map(String);
  const text = response.trim();
  const tokens = text === '' ? [] : text.split(/\s+/);
  let correct = 0;
  target.forEach((v, i) => {
    if (tokens[i] === v) correct++;
  });
  return correct / Math.max(target.length, tokens.length);
}

/** d = (n − 3)/(8 − 3); lengths outside 3..8 (user prompts) clip to [0, 1]. */
function difficulty(prompt: string): number {
  const n = parseSortPrompt(prompt).length;
  return Math.max(0, Math.min(1, (n - SORT_MIN_LEN) / (SORT_MAX_LEN - SORT_MIN_LEN)));
}

function drawPrompt(rng: Rng): string {
  const n = rng.intBetween(SORT_MIN_LEN, SORT_MAX_LEN);
  return `${PREFIX} ${Array.from({ length: n }, () => rng.int(10)).join(' ')}`;
}

function sorted(prompt: string): number[] {
  return [...parseSortPrompt(prompt)].sort((a, b) => a - b);
}

/** Swap one random adjacent pair of unequal values (no-op if all values are equal). */
function adjacentSwap(xs: number[], rng: Rng): number[] {
  const spots = xs.slice(0, -1).map((x, i) => (x !== xs[i + 1] ? i : -1)).filter((i) => i >= 0);
  if (spots.length === 0) return xs;
  const i = rng.pick(spots);
  const out = [...xs];
  [out[i], out[i + 1]] = [out[i + 1]!, out[i]!];
  return out;
}

function randomSwap(xs: number[], rng: Rng): number[] {
  const out = [...xs];
  const i = rng.int(out.length);
  const j = rng.int(out.length);
  [out[i], out[j]] = [out[j]!, out[i]!];
  return out;
}

function demonstrate(prompt: string, rng: Rng): string {
  const s = sorted(prompt);
  const pSwap = DEMO_SWAP_MIN + DEMO_SWAP_SPAN * difficulty(prompt);
  return (rng.bernoulli(pSwap) ? adjacentSwap(s, rng) : s).join(' ');
}

/** Preference candidates: 30% correct, 30% one adjacent swap, 20% two random swaps, 10% truncated, 10% the input order. */
function candidate(prompt: string, rng: Rng): string {
  const s = sorted(prompt);
  switch (rng.weighted([0.3, 0.3, 0.2, 0.1, 0.1])) {
    case 0:
      return s.join(' ');
    case 1:
      return adjacentSwap(s, rng).join(' ');
    case 2:
      return randomSwap(randomSwap(s, rng), rng).join(' ');
    case 3:
      return s.slice(0, s.length - rng.intBetween(1, 2)).join(' ');
    default:
      return parseSortPrompt(prompt).join(' ');
  }
}

let space = 0;
for (let n = SORT_MIN_LEN; n <= SORT_MAX_LEN; n++) space += 10 ** n;

const recipe: TaskRecipe = { name: 'sort', promptSpaceSize: space, drawPrompt, demonstrate, candidate, goldReward, difficulty };

export const sortTask: Task = {
  name: 'sort',
  description:
    'Sort a list of 3-8 digits ("sort: 7 3 9 1" → "1 3 7 9"); gold reward = fraction of positions correct in [0, 1], ' +
    'out of max(list length, response tokens).',
  generate: (opts, seed) => buildTaskData(recipe, opts, seed),
  goldReward,
  difficulty,
  difficultyBuckets: [
    { name: 'short (3-4)', max: 0.2 },
    { name: 'medium (5-6)', max: 0.6 },
    { name: 'long (7-8)', max: 1 },
  ],
  maxResponseChars: 2 * SORT_MAX_LEN + 4,
  charset: ' 0123456789:orst',
};
