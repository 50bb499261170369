import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { distinct12, distinctN } from '../../../judges/metrics.js';

describe('distinct-n', () => {
  it('counts unique over total n-grams across responses, case-insensitively', () => {
    // unigrams: the cat sat the cat ran → 4 of 6; bigrams: the·cat, cat·sat, the·cat, cat·ran → 3 of 4.
    assert.deepEqual(distinct12(['The cat sat', 'the  CAT ran']), { distinct1: 4 / 6, distinct2: 3 / 4 });
  });

  it('does not form n-grams across two responses', () => {
    assert.equal(distinctN(['a b', 'c'], 2), 1);
    assert.equal(distinctN(['a b', 'a b'], 2), 0.5);
    assert.equal(distinctN(['a b c d'], 3), 1);
  });

  it('is 0 without n-grams and takes a custom tokenizer', () => {
    assert.equal(distinctN([], 1), 0);
    assert.equal(distinctN(['one'], 2), 0);
    assert.equal(distinctN(['abab'], 1, (t) => [...t]), 0.5);
    assert.throws(() => distinctN(['a'], 0), RangeError);
  });
});
