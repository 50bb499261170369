import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { duration, escapeHtml, escapeMarkdown, int, markdownFence, sig, withCi } from '../../../report/format.js';

describe('sig', () => {
  it('rounds to 3 significant digits without trailing zeros or exponents', () => {
    assert.equal(sig(0.65104), '0.651');
    assert.equal(sig(0.75), '0.75');
    assert.equal(sig(1.1771), '1.18');
    assert.equal(sig(-0.125), '-0.125');
    assert.equal(sig(0.093812), '0.0938');
    assert.equal(sig(1234.5), '1230');
    assert.equal(sig(3.41), '3.41');
    assert.equal(sig(0), '0');
    assert.equal(sig(-0.0000001 + 0.0000001), '0');
  });

  it('uses an exponent only for very small or very large magnitudes', () => {
    assert.equal(sig(0.0000123), '1.23e-5');
    assert.equal(sig(2.5e12), '2.50e+12');
  });

  it('shows a dash for missing values', () => {
    assert.equal(sig(null), '—');
    assert.equal(sig(undefined), '—');
    assert.equal(sig(Number.NaN), '—');
  });
});

describe('int and withCi', () => {
  it('groups thousands', () => assert.equal(int(237312), '237,312'));
  it('writes value [lo, hi]', () => assert.equal(withCi({ value: 0.6510, lo: 0.57291, hi: 0.73444 }), '0.651 [0.573, 0.734]'));
});

describe('duration', () => {
  it('reads two ISO timestamps', () => {
    assert.equal(duration('2025-05-14T09:58:03Z', '2025-05-14T10:41:55Z'), '43 min 52 s');
    assert.equal(duration('2025-05-14T09:00:00Z', '2025-05-14T11:05:00Z'), '2 h 5 min');
    assert.equal(duration('2025-05-14T09:00:00Z', null), '—');
    assert.equal(duration('yesterday', '2025-05-14T11:05:00Z'), '—');
  });
});

describe('escaping', () => {
  it('escapes HTML metacharacters, quotes included', () => {
    assert.equal(escapeHtml(`<img src=x onerror="alert('1')">&`), '&lt;img src=x onerror=&quot;alert(&#39;1&#39;)&quot;&gt;&amp;');
  });

  it('keeps Markdown text inert: no raw HTML, no cell borders, no links or emphasis', () => {
    const out = escapeMarkdown('<script>x</script> a | b [link](javascript:1) *em* `code`\nnext');
    assert.ok(!out.includes('<script'));
    assert.ok(out.includes('&lt;script&gt;'));
    assert.ok(!/(^|[^\\])\|/.test(out), 'every | is escaped');
    assert.ok(out.includes('[link\\](javascript:1)'), out);
    assert.ok(!/(^|[^\\])\]\(/.test(escapeMarkdown('![img](http://x/t.png) [a][b] [c]: d')), 'no ]( left to make a link');
    assert.equal(escapeMarkdown('0.651 [0.573, 0.734]'), '0.651 [0.573, 0.734]');
    assert.ok(out.includes('\\*em\\*'));
    assert.ok(out.includes('\\`code\\`'));
    assert.ok(out.endsWith('<br>next'));
  });

  it('fences code with more backticks than it contains', () => {
    const fenced = markdownFence('a: 1\nb: "```"\n', 'yaml');
    assert.ok(fenced.startsWith('````yaml\n'));
    assert.ok(fenced.endsWith('\n````'));
  });
});
