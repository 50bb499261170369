import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { combineOrders, labelToArm } from '../../../judges/combine.js';

describe('labelToArm', () => {
  it('reads labels as positions: in order BA the response shown as A is arm B', () => {
    assert.equal(labelToArm('A', 'AB'), 'A');
    assert.equal(labelToArm('B', 'AB'), 'B');
    assert.equal(labelToArm('C', 'AB'), 'tie');
    assert.equal(labelToArm('A', 'BA'), 'B');
    assert.equal(labelToArm('B', 'BA'), 'A');
    assert.equal(labelToArm('C', 'BA'), 'tie');
  });
});

describe('combineOrders (MT-Bench rule: first-order tie or disagreement is a tie)', () => {
  const table = [
    ['A', 'A', 'A'],
    ['A', 'B', 'tie'],
    ['A', 'tie', 'tie'],
    ['B', 'A', 'tie'],
    ['B', 'B', 'B'],
    ['B', 'tie', 'tie'],
    ['tie', 'A', 'tie'],
    ['tie', 'B', 'tie'],
    ['tie', 'tie', 'tie'],
  ] as const;
  for (const [g1, g2, expected] of table) {
    it(`g1=${g1}, g2=${g2} -> ${expected}`, () => assert.equal(combineOrders(g1, g2), expected));
  }

  it('is an error when either call was unparseable', () => {
    assert.equal(combineOrders(null, 'A'), 'error');
    assert.equal(combineOrders('B', null), 'error');
    assert.equal(combineOrders('tie', null), 'error');
    assert.equal(combineOrders(null, null), 'error');
  });
});
