import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { callCacheKey, MemoryJudgmentCache, type CallKeyParts } from '../../../judges/cache.js';
import { Semaphore } from '../../../judges/semaphore.js';

const base: CallKeyParts = {
  model: 'gpt-4o-mini',
  promptVersion: 'pair-v1',
  promptSha256: 'abc',
  order: 'AB',
  prompt: 'q',
  responseA: 'a',
  responseB: 'b',
  temperature: 0,
  maxTokens: 1024,
  seed: null,
};

describe('callCacheKey', () => {
  it('is a sha256 hex digest, stable for equal parts', () => {
    const k = callCacheKey(base);
    assert.match(k, /^[0-9a-f]{64}$/);
    assert.equal(callCacheKey({ ...base }), k);
  });

  it('changes with every part', () => {
    const variants: Array<Partial<CallKeyParts>> = [
      { model: 'gpt-4o' },
      { promptVersion: 'pair-v2' },
      { promptSha256: 'abd' },
      { order: 'BA' },
      { prompt: 'q2' },
      { responseA: 'a2' },
      { responseB: 'b2' },
      { temperature: 0.7 },
      { maxTokens: 512 },
      { seed: 1 },
    ];
    const keys = new Set([callCacheKey(base), ...variants.map((v) => callCacheKey({ ...base, ...v }))]);
    assert.equal(keys.size, variants.length + 1);
  });

  it('does not collide when text moves across the boundary between fields', () => {
    assert.notEqual(callCacheKey({ ...base, responseA: 'ab', responseB: '' }), callCacheKey({ ...base, responseA: 'a', responseB: 'b' }));
  });
});

describe('MemoryJudgmentCache', () => {
  it('returns what was put, as a copy, and null for a missing key', async () => {
    const cache = new MemoryJudgmentCache();
    const value = { raw: 'x [[A]]', promptTokens: 1, completionTokens: 2 };
    await cache.put('k', value);
    value.raw = 'changed';
    const got = (await cache.get('k')) as { raw: string };
    assert.deepEqual(got, { raw: 'x [[A]]', promptTokens: 1, completionTokens: 2 });
    got.raw = 'changed again';
    assert.deepEqual(await cache.get('k'), { raw: 'x [[A]]', promptTokens: 1, completionTokens: 2 });
    assert.equal(await cache.get('other'), null);
    assert.equal(cache.size, 1);
  });
});

describe('Semaphore', () => {
  it('admits at most `limit` tasks at once, in arrival order', async () => {
    const sem = new Semaphore(2);
    let active = 0;
    let peak = 0;
    const started: number[] = [];
    await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        sem.run(async () => {
          started.push(i);
          active++;
          peak = Math.max(peak, active);
          await new Promise((r) => setTimeout(r, 5));
          active--;
        }),
      ),
    );
    assert.equal(peak, 2);
    assert.deepEqual(started, [0, 1, 2, 3, 4, 5]);
  });

  it('frees the slot when a task throws', async () => {
    const sem = new Semaphore(1);
    await assert.rejects(sem.run(async () => Promise.reject(new Error('boom'))), /boom/);
    assert.equal(await sem.run(async () => 7), 7);
  });

  it('rejects a limit that is not a positive integer', () => {
    for (const limit of [0, -1, 1.5, Number.NaN]) assert.throws(() => new Semaphore(limit), RangeError);
  });
});
