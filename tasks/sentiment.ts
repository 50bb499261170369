// Sentiment-steered continuation of short review openings, a char-level
// stand-in for the IMDB positive-continuation task of Ziegler et al. 2019
// (arXiv 1909.08593), with a gold reward from the AFINN lexicon (`sentiment`).
//
//   prompt:   "review: the plot was very dull and"
//   response: "the music was great"
//
// Why it is learnable by a tiny char model: 27 characters (a-z, space, ':'),
// a small grammar, responses ≤ 40 characters. Why RL has room: the SFT
// demonstrations are a mix of negative, neutral and positive continuations
// that lean towards the sentiment of the opening, so an SFT policy scores
// about 0 on average and worse on negative openings — hence "negative
// openings are harder".

import Sentiment from 'sentiment';
import { buildTaskData, type TaskRecipe } from './build.js';
import type { Rng } from './random.js';
import type { Task } from './types.js';

type Polarity = 'neg' | 'neu' | 'pos';

const SUBJECTS = [
  'plot', 'acting', 'music', 'ending', 'story', 'script', 'cast', 'pacing', 'dialogue', 'soundtrack', 'camera', 'lighting',
  'setting', 'finale', 'opening', 'sound', 'editing', 'costumes', 'scenery', 'score', 'characters', 'visuals', 'writing', 'direction',
] as const;

// AFINN-165 scores in brackets; the neutral words have none.
const ADJECTIVES: Record<Polarity, readonly string[]> = {
  // good 3, great 3, lovely 3, superb 5, wonderful 4, brilliant 4, amazing 4, charming 3
  pos: ['good', 'great', 'lovely', 'superb', 'wonderful', 'brilliant', 'amazing', 'charming'],
  neu: ['long', 'short', 'slow', 'quiet', 'simple', 'plain', 'modern', 'familiar'],
  // bad -3, awful -3, terrible -3, boring -3, dull -2, poor -2, weak -2, annoying -2
  neg: ['bad', 'awful', 'terrible', 'boring', 'dull', 'poor', 'weak', 'annoying'],
};

// loved 3, liked 2, enjoyed 2, adored 3 / hated -3, disliked -2
const VERBS: Record<Polarity, readonly string[]> = {
  pos: ['loved', 'liked', 'enjoyed', 'adored'],
  neu: ['watched', 'finished'],
  neg: ['hated', 'disliked'],
};

const INTENSIFIERS = ['', 'very ', 'really ', 'quite '] as const;

const OPENINGS = [
  (s: string, a: string) => `the ${s} was ${a}`,
  (s: string, a: string) => `the ${s} seemed ${a}`,
  (s: string, a: string) => `i found the ${s} ${a}`,
  (s: string, a: string) => `overall the ${s} was ${a}`,
  (s: string, a: string) => `to me the ${s} felt ${a}`,
  (s: string, a: string) => `the ${s} felt ${a}`,
] as const;

const ALL_ADJECTIVES = [...ADJECTIVES.neg, ...ADJECTIVES.neu, ...ADJECTIVES.pos];

const PROMPT_PREFIX = 'review: ';
const PROMPT_SUFFIX = ' and';

/** Words that are never "garbled": the grammar's own, plus a few function words (negators included). */
const VOCABULARY = new Set<string>([
  ...SUBJECTS,
  ...ALL_ADJECTIVES,
  ...Object.values(VERBS).flat(),
  ...INTENSIFIERS.map((i) => i.trim()).filter((i) => i !== ''),
  ...'review the was seemed i found overall to me felt and it too not but so a'.split(' '),
]);

export const SENTIMENT_MAX_RESPONSE_CHARS = 40;

/** How SFT demonstrations lean towards the opening's polarity: P(continuation polarity | opening polarity). */
const DEMO_POLARITY: Record<Polarity, Record<Polarity, number>> = {
  neg: { neg: 0.5, neu: 0.3, pos: 0.2 },
  neu: { neg: 0.3, neu: 0.4, pos: 0.3 },
  pos: { neg: 0.2, neu: 0.3, pos: 0.5 },
};
const POLARITIES: readonly Polarity[] = ['neg', 'neu', 'pos'];

/** Fraction of preference candidates that are degenerate (repetition, typo, overlong), so the RM sees them. */
const DEGENERATE_RATE = 0.1;

const analyzer = new Sentiment();

function afinnScore(text: string): number {
  return analyzer.analyze(text).score;
}

/** The opening of a prompt, without "review: " and the trailing " and". */
function opening(prompt: string): string {
  let s = prompt.trim();
  if (s.startsWith(PROMPT_PREFIX.trim())) s = s.slice(PROMPT_PREFIX.trim().length);
  s = s.trim();
  if (s.endsWith(PROMPT_SUFFIX)) s = s.slice(0, -PROMPT_SUFFIX.length);
  return s.trim();
}

/**
 * d = (1 − clip(s/5, −1, 1))/2, s = AFINN score of the opening. With this
 * grammar: positive openings 0–0.2, neutral 0.5, negative 0.7–0.8.
 */
function difficulty(prompt: string): number {
  const s = afinnScore(opening(prompt));
  return (1 - Math.max(-1, Math.min(1, s / 5))) / 2;
}

function polarityOf(prompt: string): Polarity {
  const s = afinnScore(opening(prompt));
  return s > 0 ? 'pos' : s < 0 ? 'neg' : 'neu';
}

/**
 * Gold reward in [−1, 1]:
 *   base    = clip(AFINN comparative, −1, 1)   (score / number of tokens, `sentiment`'s tokenizer)
 *   penalty = 0.5·(fraction of words that are unknown: not [a-z]+, or in neither the grammar's
 *                  vocabulary nor the AFINN lexicon)
 *           + 0.5·(fraction of words that repeat an earlier word)
 *           + 0.5 if the trimmed response is longer than 40 characters
 *   gold    = clip(base − penalty, −1, 1);  an empty (all-whitespace) response scores −1.
 * The prompt is not used: the task is "be positive", whatever the opening.
 */
function goldReward(_prompt: string, response: string): number {
  const text = response.trim();
  if (text === '') return -1;
  const analysis = analyzer.analyze(text);
  const base = Math.max(-1, Math.min(1, analysis.comparative));
  const lexicon = new Set(analysis.words);
  const words = text.split(/\s+/);
  const unknown = words.filter((w) => !/^[a-z]+$/.test(w) || !(VOCABULARY.has(w) || lexicon.has(w))).length;
  const repeated = words.length - new Set(words).size;
  const penalty =
    (0.5 * unknown) / words.length + (0.5 * repeated) / words.length + (text.length > SENTIMENT_MAX_RESPONSE_CHARS ? 0.5 : 0);
  return Math.max(-1, Math.min(1, base - penalty));
}

function drawPrompt(rng: Rng): string {
  const open = rng.pick(OPENINGS);
  return `${PROMPT_PREFIX}${open(rng.pick(SUBJECTS), rng.pick(INTENSIFIERS) + rng.pick(ALL_ADJECTIVES))}${PROMPT_SUFFIX}`;
}

function continuation(polarity: Polarity, rng: Rng): string {
  const adj = () => rng.pick(INTENSIFIERS) + rng.pick(ADJECTIVES[polarity]);
  switch (rng.int(4)) {
    case 0:
      return `the ${rng.pick(SUBJECTS)} was ${adj()}`;
    case 1:
      return `it was ${adj()}`;
    case 2:
      return `i ${rng.pick(VERBS[polarity])} it`;
    default:
      return `${adj()} overall`;
  }
}

function demonstrate(prompt: string, rng: Rng): string {
  const probs = DEMO_POLARITY[polarityOf(prompt)];
  return continuation(POLARITIES[rng.weighted(POLARITIES.map((p) => probs[p]))]!, rng);
}

function degenerate(rng: Rng): string {
  switch (rng.int(3)) {
    case 0: {
      const w = rng.pick(ALL_ADJECTIVES);
      return Array.from({ length: rng.intBetween(2, 4) }, () => w).join(' ');
    }
    case 1: {
      const s = continuation(rng.pick(POLARITIES), rng);
      const letters = [...s].map((c, i) => (c === ' ' ? -1 : i)).filter((i) => i >= 0);
      const at = rng.pick(letters);
      const alphabet = 'abcdefghijklmnopqrstuvwxyz'.replace(s[at]!, '');
      return s.slice(0, at) + rng.pick([...alphabet]) + s.slice(at + 1);
    }
    default:
      return `${continuation(rng.pick(POLARITIES), rng)} and ${continuation(rng.pick(POLARITIES), rng)}`;
  }
}

function candidate(_prompt: string, rng: Rng): string {
  return rng.bernoulli(DEGENERATE_RATE) ? degenerate(rng) : continuation(rng.pick(POLARITIES), rng);
}

const recipe: TaskRecipe = {
  name: 'sentiment',
  promptSpaceSize: OPENINGS.length * SUBJECTS.length * INTENSIFIERS.length * ALL_ADJECTIVES.length,
  drawPrompt,
  demonstrate,
  candidate,
  goldReward,
  difficulty,
};

export const sentimentTask: Task = {
  name: 'sentiment',
  description:
    'Continue a short review opening ("review: the plot was very dull and") with a few words; ' +
    'gold reward = AFINN sentiment of the continuation in [-1, 1], minus penalties for unknown, repeated or overlong output.',
  generate: (opts, seed) => buildTaskData(recipe, opts, seed),
  goldReward,
  difficulty,
  difficultyBuckets: [
    { name: 'positive opening', max: 0.35 },
    { name: 'neutral opening', max: 0.65 },
    { name: 'negative opening', max: 1 },
  ],
  maxResponseChars: SENTIMENT_MAX_RESPONSE_CHARS,
  charset: ' :abcdefghijklmnopqrstuvwxyz',
};
