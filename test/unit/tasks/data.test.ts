// Properties every synthetic task's generate() must have, checked for each registered task.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from '../../../common/errors.js';
import { TASKS } from '../../../tasks/index.js';
import type { TaskDataOptions } from '../../../tasks/types.js';

const opts: TaskDataOptions = { sftExamples: 400, rlPrompts: 120, evalPrompts: 60, preferencePairs: 300, labelNoise: 0.1, heldOutPairs: 50 };

for (const task of Object.values(TASKS)) {
  describe(`${task.name} data`, () => {
    const data = task.generate(opts, 42);

    it('has the requested split sizes', () => {
      assert.equal(data.sft.length, 400);
      assert.equal(data.rlPrompts.length, 120);
      assert.equal(data.evalPrompts.length, 60);
      assert.equal(data.preferences.length, 300);
      assert.equal(data.heldOutPreferences.length, 50);
    });

    it('is identical for the same seed and options, different for another seed', () => {
      assert.deepEqual(task.generate(opts, 42), data);
      assert.notDeepEqual(task.generate(opts, 43).rlPrompts, data.rlPrompts);
    });

    it('keeps the eval and RL prompts when only the SFT and preference sizes change', () => {
      const other = task.generate({ ...opts, sftExamples: 50, preferencePairs: 20 }, 42);
      assert.deepEqual(other.evalPrompts, data.evalPrompts);
      assert.deepEqual(other.rlPrompts, data.rlPrompts);
    });

    it('never shares a prompt between sft, rl, eval, preference and held-out splits', () => {
      const splits: Record<string, string[]> = {
        sft: data.sft.map((e) => e.prompt),
        rl: data.rlPrompts.map((p) => p.prompt),
        eval: data.evalPrompts.map((p) => p.prompt),
        preferences: data.preferences.map((p) => p.prompt),
        heldOut: data.heldOutPreferences.map((p) => p.prompt),
      };
      const owner = new Map<string, string>();
      for (const [split, prompts] of Object.entries(splits)) {
        for (const p of prompts) {
          assert.equal(owner.get(p), undefined, `prompt ${JSON.stringify(p)} in both ${owner.get(p)} and ${split}`);
          owner.set(p, split);
        }
      }
    });

    it('gives every record a unique, stable id', () => {
      const ids = [...data.sft, ...data.rlPrompts, ...data.evalPrompts, ...data.preferences, ...data.heldOutPreferences].map((r) => r.id);
      assert.equal(new Set(ids).size, ids.length);
      assert.equal(data.rlPrompts[0]!.id, `${task.name}-rl-0`);
      assert.equal(data.sft[399]!.id, `${task.name}-sft-399`);
    });

    it('records the difficulty of every prompt item, in [0, 1]', () => {
      for (const p of [...data.rlPrompts, ...data.evalPrompts]) {
        assert.equal(p.difficulty, task.difficulty(p.prompt));
        assert.ok(p.difficulty >= 0 && p.difficulty <= 1);
      }
      assert.equal(task.difficultyBuckets.at(-1)!.max, 1);
    });

    it('labels pairs by gold: chosen is better unless flipped, and gold follows the text', () => {
      for (const p of [...data.preferences, ...data.heldOutPreferences]) {
        assert.equal(p.goldChosen, task.goldReward(p.prompt, p.chosen));
        assert.equal(p.goldRejected, task.goldReward(p.prompt, p.rejected));
        if (p.flipped) assert.ok(p.goldChosen < p.goldRejected, p.id);
        else assert.ok(p.goldChosen > p.goldRejected, `${p.id}: ties are redrawn`);
      }
      assert.ok(data.heldOutPreferences.every((p) => !p.flipped));
    });

    it('flips labels at rate ≈ ε (binomial tolerance), nested as ε grows, same texts', () => {
      const big = { ...opts, sftExamples: 0, rlPrompts: 0, evalPrompts: 0, heldOutPairs: 10, preferencePairs: 4000 };
      const lo = task.generate({ ...big, labelNoise: 0.1 }, 5);
      const hi = task.generate({ ...big, labelNoise: 0.25 }, 5);
      const none = task.generate({ ...big, labelNoise: 0 }, 5);
      const all = task.generate({ ...big, labelNoise: 1 }, 5);
      const count = (d: typeof lo) => d.preferences.filter((p) => p.flipped).length;
      // Bin(4000, 0.25): mean 1000, sd sqrt(4000·0.25·0.75) = 27.4 → allow 4 sd = 110
      assert.ok(Math.abs(count(hi) - 1000) < 110, `flips at ε=0.25: ${count(hi)}`);
      // Bin(4000, 0.1): mean 400, sd 19 → allow 76
      assert.ok(Math.abs(count(lo) - 400) < 76, `flips at ε=0.1: ${count(lo)}`);
      assert.equal(count(none), 0);
      assert.equal(count(all), 4000);
      assert.ok(all.heldOutPreferences.every((p) => !p.flipped), 'held-out pairs are never flipped');
      lo.preferences.forEach((p, i) => {
        const q = hi.preferences[i]!;
        assert.equal(p.prompt, q.prompt);
        assert.deepEqual(new Set([p.chosen, p.rejected]), new Set([q.chosen, q.rejected]));
        if (p.flipped) assert.ok(q.flipped, `${p.id} flipped at ε=0.1 but not at 0.25`);
      });
    });

    it('rejects invalid options with a ConfigError naming the field', () => {
      assert.throws(() => task.generate({ ...opts, labelNoise: 1.5 }, 1), (e: unknown) => e instanceof ConfigError && e.field === 'labelNoise');
      assert.throws(() => task.generate({ ...opts, rlPrompts: -1 }, 1), (e: unknown) => e instanceof ConfigError && e.field === 'rlPrompts');
      assert.throws(() => task.generate({ ...opts, sftExamples: 2.5 }, 1), (e: unknown) => e instanceof ConfigError && e.field === 'sftExamples');
    });
  });
}

describe('prompt space limits', () => {
  it('explains when the splits ask for more distinct prompts than a task has', () => {
    // sentiment: 6 openings × 24 subjects × 4 intensifiers × 24 adjectives = 13824 prompts; 90% = 12441
    // asked: 20000 + 120 + 60 + 300 + 50 = 20530
    assert.throws(
      () => TASKS.sentiment.generate({ ...opts, sftExamples: 20000 }, 1),
      (e: unknown) => e instanceof ConfigError && /has 13824 distinct prompts; the splits ask for 20530/.test(e.message),
    );
  });
});
