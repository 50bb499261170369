import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { whiten } from '../../../rlhf/whiten.js';
import { assertAllClose } from './close.js';

// Tokens 1, 2, 3, 4 across ragged rows: μ = 2.5, deviations −1.5, −0.5, 0.5, 1.5,
// Σdev² = 5, biased σ² = 5/4 = 1.25, unbiased σ² = 5/3.
const rows = [[1, 2], [3], [4]];

describe('whiten', () => {
  it('uses one global mean and biased std over all tokens of all rows', () => {
    const s = 1 / Math.sqrt(1.25); // 0.894427191
    assertAllClose(whiten(rows, { eps: 0 }), [[-1.5 * s, -0.5 * s], [0.5 * s], [1.5 * s]]);
    // Default eps 1e-8 changes the scale by a relative ~4e-9 only.
    assertAllClose(whiten(rows), [[-1.5 * s, -0.5 * s], [0.5 * s], [1.5 * s]], 1e-8);
  });

  it('uses the unbiased variance when asked (TRL masked_whiten)', () => {
    const s = 1 / Math.sqrt(5 / 3); // 0.774596669
    assertAllClose(whiten(rows, { eps: 0, unbiased: true }), [[-1.5 * s, -0.5 * s], [0.5 * s], [1.5 * s]]);
  });

  it('adds the mean back with shiftMean=false', () => {
    const s = 1 / Math.sqrt(1.25);
    assertAllClose(whiten(rows, { eps: 0, shiftMean: false }), [[2.5 - 1.5 * s, 2.5 - 0.5 * s], [2.5 + 0.5 * s], [2.5 + 1.5 * s]]);
  });

  it('maps a constant batch to zeros (eps keeps it finite) and keeps empty rows', () => {
    // σ² = 0: (x − μ)/sqrt(0 + 1e-8) = 0/1e-4 = 0
    assert.deepEqual(whiten([[3, 3], [], [3]]), [[0, 0], [], [0]]);
    assert.deepEqual(whiten([[], []]), [[], []]);
    assert.throws(() => whiten([[1]], { unbiased: true }), /at least 2 tokens/);
  });
});
