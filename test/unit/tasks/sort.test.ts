import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseSortPrompt, sortTask } from '../../../tasks/sort.js';

const P = 'sort: 7 3 9 1'; // sorted: 1 3 7 9, n = 4

describe('sort gold reward: correct positions / max(n, response tokens)', () => {
  const cases: [string, string, number, string][] = [
    [P, '1 3 7 9', 1, '4/4'],
    [P, '  1   3 7 9 ', 1, 'whitespace is free'],
    [P, '1 7 3 9', 0.5, 'positions 0 and 3 right: 2/4'],
    [P, '1 3 7', 0.75, 'missing last: 3/4'],
    [P, '1 3 7 9 9', 0.8, 'one extra token: 4/5'],
    [P, '1 3 x 9', 0.75, 'malformed token is wrong: 3/4'],
    [P, '01 3 7 9', 0.75, '"01" ≠ "1": 3/4'],
    [P, '3 7 9', 0, 'shifted: no position right, 0/4'],
    [P, '1,3,7,9', 0, 'one token "1,3,7,9" ≠ "1": 0/4'],
    [P, '', 0, 'empty'],
    ['sort: 5 2 5', '2 5 5', 1, 'duplicates'],
    ['sort: 5 2 5', '2 5', 2 / 3, '2/3'],
    ['sort: 12 3 100', '3 12 100', 1, 'multi-digit user prompt sorts numerically'],
  ];
  for (const [prompt, response, expected, why] of cases) {
    it(`${JSON.stringify(prompt)} → ${JSON.stringify(response)} = ${expected} (${why})`, () => {
      assert.equal(sortTask.goldReward(prompt, response), expected);
    });
  }

  it('rejects prompts that are not "sort: <integers>"', () => {
    assert.throws(() => sortTask.goldReward('order: 1 2', '1 2'), /must start with "sort:"/);
    assert.throws(() => sortTask.goldReward('sort:', ''), /non-negative integers/);
    assert.throws(() => parseSortPrompt('sort: 1 b 2'), /non-negative integers/);
  });
});

describe('sort difficulty', () => {
  it('is (n − 3)/5, increasing with the list length', () => {
    assert.equal(sortTask.difficulty('sort: 1 2 3'), 0);
    assert.equal(sortTask.difficulty('sort: 1 2 3 4 5'), 0.4);
    assert.equal(sortTask.difficulty('sort: 1 2 3 4 5 6 7 8'), 1);
    assert.equal(sortTask.difficulty('sort: 1'), 0, 'clipped below');
    assert.equal(sortTask.difficulty('sort: 1 2 3 4 5 6 7 8 9 0'), 1, 'clipped above');
  });
});

describe('sort data', () => {
  const data = sortTask.generate({ sftExamples: 3000, rlPrompts: 200, evalPrompts: 100, preferencePairs: 500, labelNoise: 0, heldOutPairs: 100 }, 3);

  it('uses lists of 3–8 digits, within the charset and response limit', () => {
    for (const e of data.sft) {
      const n = parseSortPrompt(e.prompt).length;
      assert.ok(n >= 3 && n <= 8);
      for (const c of e.prompt + e.response) assert.ok(sortTask.charset.includes(c), `char ${JSON.stringify(c)}`);
      assert.ok(e.response.length <= sortTask.maxResponseChars);
    }
  });

  it('SFT demonstrations are imperfect, more so for longer lists', () => {
    // P(swap) = 0.1 + 0.4·d: n=3 → 0.1, n=8 → 0.5. A swapped demo of n values scores (n − 2)/n.
    // Expected gold: n=3: 0.9 + 0.1·1/3 = 0.933; n=8: 0.5 + 0.5·0.75 = 0.875.
    const byLen = new Map<number, number[]>();
    for (const e of data.sft) {
      const n = parseSortPrompt(e.prompt).length;
      byLen.set(n, [...(byLen.get(n) ?? []), sortTask.goldReward(e.prompt, e.response)]);
    }
    const rate = (n: number) => byLen.get(n)!.filter((g) => g < 1).length / byLen.get(n)!.length;
    // ~500 demos per length: sd of the rate ≤ sqrt(0.25/500) = 0.022; allow ~4.5 sd
    assert.ok(Math.abs(rate(3) - 0.1) < 0.1, `n=3 imperfect rate ${rate(3)}`);
    assert.ok(Math.abs(rate(8) - 0.5) < 0.1, `n=8 imperfect rate ${rate(8)}`);
    for (const [n, golds] of byLen) for (const g of golds) assert.ok(g === 1 || Math.abs(g - (n - 2) / n) < 1e-12, `n=${n} gold ${g}`);
  });
});
