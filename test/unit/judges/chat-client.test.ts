import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { backoffDelayMs, chatCompletionsUrl, isRetryableStatus, retryAfterMs, safeEndpoint } from '../../../judges/chat-client.js';

describe('retryAfterMs', () => {
  const now = Date.parse('2025-01-01T00:00:00Z');
  const h = (init: Record<string, string>) => new Headers(init);

  it('reads Retry-After in seconds, fractional seconds included', () => {
    assert.equal(retryAfterMs(h({ 'retry-after': '3' }), now), 3000);
    assert.equal(retryAfterMs(h({ 'retry-after': '0.5' }), now), 500);
  });

  it('reads Retry-After as an HTTP date relative to now, never negative', () => {
    assert.equal(retryAfterMs(h({ 'retry-after': 'Wed, 01 Jan 2025 00:00:07 GMT' }), now), 7000);
    assert.equal(retryAfterMs(h({ 'retry-after': 'Tue, 31 Dec 2024 23:59:00 GMT' }), now), 0);
  });

  it('prefers retry-after-ms over Retry-After', () => {
    assert.equal(retryAfterMs(h({ 'retry-after-ms': '250', 'retry-after': '9' }), now), 250);
  });

  it('gives null when absent or unreadable', () => {
    assert.equal(retryAfterMs(h({}), now), null);
    assert.equal(retryAfterMs(h({ 'retry-after': 'soon' }), now), null);
    assert.equal(retryAfterMs(h({ 'retry-after': '-1' }), now), null);
    assert.equal(retryAfterMs(h({ 'retry-after-ms': 'x', 'retry-after': '2' }), now), 2000);
  });
});

describe('backoffDelayMs', () => {
  it('doubles per retry between half and all of the nominal delay, capped', () => {
    assert.equal(backoffDelayMs(0, 100, 10_000, () => 0), 50);
    assert.equal(backoffDelayMs(0, 100, 10_000, () => 0.5), 75);
    assert.equal(backoffDelayMs(3, 100, 10_000, () => 0), 400);
    assert.equal(backoffDelayMs(3, 100, 10_000, () => 0.75), 700);
    assert.equal(backoffDelayMs(20, 100, 10_000, () => 0), 5000);
  });
});

describe('isRetryableStatus', () => {
  it('retries 408, 409, 429 and 5xx only', () => {
    assert.deepEqual(
      [400, 401, 403, 404, 408, 409, 413, 422, 429, 500, 502, 503, 504].filter(isRetryableStatus),
      [408, 409, 429, 500, 502, 503, 504],
    );
  });
});

describe('safeEndpoint', () => {
  it('drops credentials and query from what is printed', () => {
    assert.equal(safeEndpoint('https://user:pw@api.example.com/v1/?key=abc'), 'https://api.example.com/v1/chat/completions');
    assert.equal(safeEndpoint('http://127.0.0.1:8000/v1'), 'http://127.0.0.1:8000/v1/chat/completions');
  });

  it('appends the path before the query of the base URL', () => {
    assert.equal(chatCompletionsUrl('https://x.example/openai/v1/?api-version=2024-10-21').toString(), 'https://x.example/openai/v1/chat/completions?api-version=2024-10-21');
  });
});
