import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { gae } from '../../../rlhf/gae.js';
import { assertAllClose } from './close.js';

// Shared example: rewards [0, 0, 1] (score on the last token), values [0.5, 0.6, 0.7],
// value after the last token = 0.

describe('gae', () => {
  it('matches a hand computation with γ=1, λ=0.95', () => {
    // t=2: δ = 1 + 1·0 − 0.7 = 0.3;    A = 0.3;                   R = 0.3 + 0.7 = 1.0
    // t=1: δ = 0 + 1·0.7 − 0.6 = 0.1;  A = 0.1 + 0.95·0.3 = 0.385; R = 0.985
    // t=0: δ = 0 + 1·0.6 − 0.5 = 0.1;  A = 0.1 + 0.95·0.385 = 0.46575; R = 0.96575
    const { advantages, returns } = gae([[0, 0, 1]], [[0.5, 0.6, 0.7]], 1, 0.95);
    assertAllClose(advantages, [[0.46575, 0.385, 0.3]]);
    assertAllClose(returns, [[0.96575, 0.985, 1.0]]);
  });

  it('matches a hand computation with γ=0.9, λ=0.95', () => {
    // γλ = 0.855
    // t=2: δ = 1 − 0.7 = 0.3;               A = 0.3;                        R = 1.0
    // t=1: δ = 0.9·0.7 − 0.6 = 0.03;        A = 0.03 + 0.855·0.3 = 0.2865;  R = 0.8865
    // t=0: δ = 0.9·0.6 − 0.5 = 0.04;        A = 0.04 + 0.855·0.2865 = 0.2849575; R = 0.7849575
    const { advantages, returns } = gae([[0, 0, 1]], [[0.5, 0.6, 0.7]], 0.9, 0.95);
    assertAllClose(advantages, [[0.2849575, 0.2865, 0.3]]);
    assertAllClose(returns, [[0.7849575, 0.8865, 1.0]]);
  });

  it('treats ragged rows independently, each bootstrapping 0 after its own last token', () => {
    // row 1: one token, δ = 2 − 0.5 = 1.5 = A, R = 2
    // row 2: empty response → empty rows
    const { advantages, returns } = gae([[0, 0, 1], [2], []], [[0.5, 0.6, 0.7], [0.5], []], 1, 0.95);
    assertAllClose(advantages, [[0.46575, 0.385, 0.3], [1.5], []]);
    assertAllClose(returns, [[0.96575, 0.985, 1.0], [2], []]);
  });

  it('reduces to Monte-Carlo returns with λ=1 and to one-step TD with λ=0 (γ=1)', () => {
    // λ=1: R_t = Σ_{s≥t} r_s = [1, 1, 1]; A = R − V = [0.5, 0.4, 0.3]
    const mc = gae([[0, 0, 1]], [[0.5, 0.6, 0.7]], 1, 1);
    assertAllClose(mc.returns, [[1, 1, 1]]);
    assertAllClose(mc.advantages, [[0.5, 0.4, 0.3]]);
    // λ=0: A = δ = [0.1, 0.1, 0.3]; R = r + V_{t+1} = [0.6, 0.7, 1]
    const td = gae([[0, 0, 1]], [[0.5, 0.6, 0.7]], 1, 0);
    assertAllClose(td.advantages, [[0.1, 0.1, 0.3]]);
    assertAllClose(td.returns, [[0.6, 0.7, 1]]);
  });

  it('rejects mismatched shapes and out-of-range γ, λ', () => {
    assert.throws(() => gae([[1, 2]], [[1]], 1, 0.95), /row 0 has 2 rewards but 1 values/);
    assert.throws(() => gae([[1]], [], 1, 0.95), /1 reward rows but 0 value rows/);
    assert.throws(() => gae([[1]], [[1]], 1.5, 0.95), /gamma/);
    assert.throws(() => gae([[1]], [[1]], 1, -0.1), /lambda/);
  });
});
