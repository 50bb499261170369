import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { sentimentTask } from '../../../tasks/sentiment.js';
import { difficultyBucket } from '../../../tasks/types.js';

const P = 'review: the plot was very dull and';

describe('sentiment gold reward', () => {
  // base = clip(AFINN score / tokens, −1, 1); penalties 0.5·unknown fraction, 0.5·repeated fraction, 0.5 if > 40 chars.
  // AFINN: loved 3, great 3, dull −2, good 3, wonderful 4, awful −3.
  const cases: [string, number, string][] = [
    ['i loved it', 1, '3/3 = 1'],
    ['  i loved it ', 1, 'trimmed'],
    ['the music was great', 0.75, '3/4'],
    ['the plot was dull', -0.5, '−2/4'],
    ['it was quite long', 0, 'no AFINN word'],
    ['it was not good', -0.75, '"not" negates good: −3/4'],
    ['great overall', 1, '3/2 = 1.5, clipped to 1'],
    ['great great great', 1 - 0.5 * (2 / 3), '9/3 → 1; 2 of 3 words repeat → −1/3'],
    ['the msuic was great', 0.75 - 0.5 * 0.25, '3/4; 1 of 4 words unknown → −0.125'],
    ['Great!', 0.5, 'AFINN sees "great" (3/1 → 1); the word "Great!" is not [a-z]+ → −0.5'],
    ['the soundtrack was really wonderful and i loved it', 7 / 9 - 0.5, '50 chars: (4 + 3)/9 − 0.5 = 5/18'],
    ['awful awful', -1, '−6/2 → −1; 1 of 2 repeats → −1.25, clipped to −1'],
    ['', -1, 'empty'],
    ['   ', -1, 'whitespace only'],
  ];
  for (const [response, expected, why] of cases) {
    it(`${JSON.stringify(response)} = ${expected} (${why})`, () => {
      assert.ok(Math.abs(sentimentTask.goldReward(P, response) - expected) < 1e-12, `${sentimentTask.goldReward(P, response)}`);
    });
  }

  it('does not depend on the prompt', () => {
    assert.equal(sentimentTask.goldReward('review: the cast was superb and', 'the plot was dull'), -0.5);
  });
});

describe('sentiment difficulty', () => {
  it("is (1 − clip(s/5, −1, 1))/2 with s the opening's AFINN score", () => {
    assert.equal(sentimentTask.difficulty('review: the plot was superb and'), 0); // s = 5
    assert.ok(Math.abs(sentimentTask.difficulty('review: i found the music good and') - 0.2) < 1e-12); // s = 3 → 0.4/2
    assert.equal(sentimentTask.difficulty('review: the plot was long and'), 0.5); // s = 0
    assert.ok(Math.abs(sentimentTask.difficulty(P) - 0.7) < 1e-12); // s = −2 → 1.4/2
    assert.ok(Math.abs(sentimentTask.difficulty('review: the acting seemed terrible and') - 0.8) < 1e-12); // s = −3
  });

  it('puts positive, neutral and negative openings in their buckets', () => {
    assert.equal(difficultyBucket(sentimentTask, sentimentTask.difficulty('review: the plot was superb and')), 'positive opening');
    assert.equal(difficultyBucket(sentimentTask, sentimentTask.difficulty('review: the plot was long and')), 'neutral opening');
    assert.equal(difficultyBucket(sentimentTask, sentimentTask.difficulty(P)), 'negative opening');
  });
});

describe('sentiment data', () => {
  const data = sentimentTask.generate({ sftExamples: 3000, rlPrompts: 300, evalPrompts: 100, preferencePairs: 1000, labelNoise: 0, heldOutPairs: 100 }, 11);

  it('keeps texts short and within the charset', () => {
    for (const e of data.sft) {
      for (const c of e.prompt + e.response) assert.ok(sentimentTask.charset.includes(c), `char ${JSON.stringify(c)}`);
      assert.ok(e.response.length <= sentimentTask.maxResponseChars, e.response);
      assert.match(e.prompt, /^review: [a-z ]+ and$/);
    }
  });

  it('has imperfect SFT demonstrations whose gold falls with the difficulty bucket', () => {
    // P(continuation polarity | opening): neg (.5 neg, .3 neu, .2 pos), neu (.3/.4/.3), pos (.2/.3/.5)
    const gold: Record<string, number[]> = {};
    for (const e of data.sft) {
      const b = difficultyBucket(sentimentTask, sentimentTask.difficulty(e.prompt));
      (gold[b] ??= []).push(sentimentTask.goldReward(e.prompt, e.response));
    }
    const m = (b: string) => gold[b]!.reduce((s, x) => s + x, 0) / gold[b]!.length;
    assert.ok(m('positive opening') > m('neutral opening'), JSON.stringify([m('positive opening'), m('neutral opening')]));
    assert.ok(m('neutral opening') > m('negative opening'), JSON.stringify([m('neutral opening'), m('negative opening')]));
    const all = Object.values(gold).flat();
    assert.ok(all.some((g) => g < 0) && all.some((g) => g === 1), 'a mix of negative and positive demonstrations');
  });

  it('RL prompts cover every difficulty bucket', () => {
    const buckets = new Set(data.rlPrompts.map((p) => difficultyBucket(sentimentTask, p.difficulty)));
    assert.deepEqual([...buckets].sort(), ['negative opening', 'neutral opening', 'positive opening']);
  });
});
