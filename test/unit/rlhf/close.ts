// Float comparison for hand-computed expectations (not a test file itself).
import assert from 'node:assert/strict';

export function assertClose(actual: number, expected: number, tol = 1e-12, msg?: string): void {
  if (!(Math.abs(actual - expected) <= tol)) {
    assert.fail(`${msg ? msg + ': ' : ''}expected ${expected}, got ${actual} (|diff| ${Math.abs(actual - expected)} > ${tol})`);
  }
}

export function assertAllClose(actual: readonly unknown[], expected: readonly unknown[], tol = 1e-12, path = ''): void {
  assert.equal(actual.length, expected.length, `${path} length`);
  expected.forEach((e, i) => {
    const a = actual[i];
    if (Array.isArray(e)) {
      assert.ok(Array.isArray(a), `${path}[${i}] should be an array`);
      assertAllClose(a as unknown[], e, tol, `${path}[${i}]`);
    } else {
      assertClose(a as number, e as number, tol, `${path}[${i}]`);
    }
  });
}
