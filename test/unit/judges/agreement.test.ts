import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { cohensKappa, fleissKappa, judgeAgreement, panelAgreement } from '../../../judges/metrics.js';
import type { Judgment, Verdict } from '../../../judges/types.js';
import { assertClose } from '../rlhf/close.js';

/** Labels from a confusion table: rows are rater 1's label, columns rater 2's. */
function fromTable<T>(labels: readonly T[], table: number[][]): [T[], T[]] {
  const a: T[] = [];
  const b: T[] = [];
  table.forEach((row, i) =>
    row.forEach((count, k) => {
      for (let c = 0; c < count; c++) {
        a.push(labels[i]!);
        b.push(labels[k]!);
      }
    }),
  );
  return [a, b];
}

describe("Cohen's kappa", () => {
  it('gives 0.4 on the textbook 2×2 example (20, 5 / 10, 15)', () => {
    const [a, b] = fromTable(['yes', 'no'], [
      [20, 5],
      [10, 15],
    ]);
    const r = cohensKappa(a, b);
    assert.equal(r.n, 50);
    assertClose(r.agreement!, 0.7, 1e-12);
    assertClose(r.kappa!, 0.4, 1e-12);
  });

  it('gives 289/509 on a hand-computed 3×3 table over A / tie / B', () => {
    // p_o = 29/40, p_e = (15·13 + 8·8 + 17·19)/1600 = 582/1600.
    const [a, b] = fromTable(['A', 'tie', 'B'], [
      [10, 2, 3],
      [1, 5, 2],
      [2, 1, 14],
    ]);
    const r = cohensKappa(a, b);
    assertClose(r.agreement!, 29 / 40, 1e-12);
    assertClose(r.kappa!, 289 / 509, 1e-12);
  });

  it('is undefined (null) when both raters use a single label, and for no items', () => {
    assert.deepEqual(cohensKappa(['A', 'A'], ['A', 'A']), { n: 2, agreement: 1, kappa: null });
    assert.deepEqual(cohensKappa([], []), { n: 0, agreement: null, kappa: null });
    assert.throws(() => cohensKappa(['A'], []), RangeError);
  });
});

describe("Fleiss' kappa", () => {
  it('gives 0.210 on the textbook example (10 subjects, 14 raters, 5 categories)', () => {
    const table = [
      [0, 0, 0, 0, 14],
      [0, 2, 6, 4, 2],
      [0, 0, 3, 5, 6],
      [0, 3, 9, 2, 0],
      [2, 2, 8, 1, 1],
      [7, 7, 0, 0, 0],
      [3, 2, 6, 3, 0],
      [2, 5, 3, 2, 2],
      [6, 5, 2, 1, 0],
      [0, 2, 2, 3, 7],
    ];
    assert.equal(Math.round(fleissKappa(table)! * 1000) / 1000, 0.21);
  });

  it('rejects subjects with different numbers of ratings', () => {
    assert.throws(() => fleissKappa([[2, 1], [1, 1]]), RangeError);
  });
});

const judgment = (pairId: string, judge: string, verdict: Verdict): Judgment => ({
  pairId,
  judge,
  armA: 'ppo-cr',
  armB: 'sft',
  verdict,
  detail: { kind: 'human', annotator: judge },
});
const panel = (judge: string, verdicts: Verdict[]) => verdicts.map((v, i) => judgment(`p${i + 1}`, judge, v));

describe('agreement between judges', () => {
  const r1 = panel('human:r1', ['A', 'A', 'B', 'tie', 'B']);
  const r2 = panel('human:r2', ['A', 'A', 'B', 'tie', 'A']);
  const r3 = panel('human:r3', ['A', 'B', 'B', 'A', 'error']);

  it('joins two judges on pairId and skips errors and pairs only one judged', () => {
    assert.deepEqual(judgeAgreement(r1.slice(0, 4), r3), { n: 4, agreement: 0.5, kappa: 0.2 });
    const r = judgeAgreement(r1, r2.slice(1));
    assert.equal(r.n, 4);
    assert.equal(r.agreement, 0.75);
  });

  it('reports pairwise Cohen means and Fleiss over the pairs every judge rated', () => {
    // Over p1..p4: r1 = r2 = (A, A, B, tie); r3 = (A, B, B, A). Fleiss = 5/11 by hand.
    const out = panelAgreement(
      new Map([
        ['r1', r1.slice(0, 4)],
        ['r2', r2.slice(0, 4)],
        ['r3', r3],
      ]),
    );
    assert.deepEqual(
      out.pairwise.map((p) => [p.a, p.b, p.n, p.agreement]),
      [
        ['r1', 'r2', 4, 1],
        ['r1', 'r3', 4, 0.5],
        ['r2', 'r3', 4, 0.5],
      ],
    );
    assertClose(out.pairwise[1]!.kappa!, 0.2, 1e-12);
    assertClose(out.meanAgreement!, 2 / 3, 1e-12);
    assertClose(out.meanKappa!, 1.4 / 3, 1e-12);
    assert.equal(out.fleiss.n, 4);
    assertClose(out.fleiss.kappa!, 5 / 11, 1e-12);
  });
});
