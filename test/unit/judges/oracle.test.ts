import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError } from '../../../common/errors.js';
import { createOracleJudge } from '../../../judges/oracle.js';
import type { JudgePair } from '../../../judges/types.js';

const pair = (pairId: string, responseA: string, responseB: string): JudgePair => ({ pairId, prompt: 'count the x', responseA, responseB, armA: 'ppo-cr', armB: 'ppo' });
// Gold reward of the synthetic task: how many x's the response has.
const countX = (_prompt: string, response: string): number => [...response].filter((c) => c === 'x').length;

describe('oracle judge', () => {
  it('decides by gold reward, a tie within the tolerance (inclusive)', async () => {
    const judge = createOracleJudge({ goldReward: countX, tolerance: 1 });
    const out = await judge.judge([pair('p0', 'xxx', 'x'), pair('p1', 'x', 'xxxx'), pair('p2', 'xx', 'x'), pair('p3', 'xx', 'xx')]);
    assert.deepEqual(
      out.map((j) => [j.pairId, j.verdict]),
      [
        ['p0', 'A'],
        ['p1', 'B'],
        ['p2', 'tie'],
        ['p3', 'tie'],
      ],
    );
    assert.deepEqual(out[1], {
      pairId: 'p1',
      judge: 'oracle',
      armA: 'ppo-cr',
      armB: 'ppo',
      verdict: 'B',
      detail: { kind: 'oracle', goldA: 1, goldB: 4, tolerance: 1 },
    });
  });

  it('with tolerance 0 only equal rewards tie', async () => {
    const out = await createOracleJudge({ goldReward: countX, tolerance: 0 }).judge([pair('p0', 'xx', 'x'), pair('p1', 'x', 'x')]);
    assert.deepEqual(
      out.map((j) => j.verdict),
      ['A', 'tie'],
    );
  });

  it('accepts an async gold reward and names itself', async () => {
    const judge = createOracleJudge({ goldReward: async (p, r) => countX(p, r), tolerance: 0.5, name: 'count-x' });
    const [j] = await judge.judge([pair('p0', 'x', 'xx')]);
    assert.equal(judge.id, 'oracle:count-x');
    assert.equal(j!.judge, 'oracle:count-x');
    assert.equal(j!.verdict, 'B');
  });

  it('gives an error verdict, JSON-safe, when a gold reward is not finite', async () => {
    const judge = createOracleJudge({ goldReward: (_p, r) => (r === 'bad' ? Number.NaN : 1), tolerance: 0 });
    const [j] = await judge.judge([pair('p0', 'bad', 'ok')]);
    assert.equal(j!.verdict, 'error');
    assert.deepEqual(j!.detail, { kind: 'oracle', goldA: null, goldB: 1, tolerance: 0, error: 'gold reward is not a finite number (A: NaN, B: 1)' });
    assert.deepEqual(JSON.parse(JSON.stringify(j)), j);
  });

  it('rejects a negative or non-finite tolerance', () => {
    for (const tolerance of [-0.1, Number.NaN, Number.POSITIVE_INFINITY]) {
      assert.throws(() => createOracleJudge({ goldReward: countX, tolerance }), ConfigError);
    }
  });

  it('reports progress and stops when aborted', async () => {
    const progress: number[] = [];
    const judge = createOracleJudge({ goldReward: countX, tolerance: 0 });
    await judge.judge([pair('p0', 'x', ''), pair('p1', '', 'x')], { onProgress: (d, t) => progress.push(d * 10 + t) });
    assert.deepEqual(progress, [12, 22]);
    const controller = new AbortController();
    controller.abort(new Error('stop'));
    await assert.rejects(judge.judge([pair('p0', 'x', '')], { signal: controller.signal }), /stop/);
  });
});
