import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError } from '../../../common/errors.js';
import { parseConfig, setPath } from '../../../config/load.js';

function errorOf(yaml: string): string {
  try {
    parseConfig(yaml, 'x.yaml');
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    return err.message;
  }
  throw new Error('expected a ConfigError');
}

test('defaults fill every section and the name comes from the file', () => {
  const c = parseConfig('', 'runs/my-exp.yaml');
  assert.equal(c.name, 'my-exp');
  assert.equal(c.ppo.kl.coef, 0.05);
  assert.deepEqual(c.arms.map((a) => a.reward_mode), ['raw', 'contrastive']);
  assert.equal(c.reward.contrastive.aggregation, 'mean');
});

test('errors name the file, the line, the field, the value and what is allowed', () => {
  assert.equal(errorOf('seed: 1\nppo:\n  iterations: 0\n'), 'x.yaml:3: field "ppo.iterations" = 0: Too small: expected number to be >0');
  assert.equal(errorOf('ppo:\n  iterations: 2\n  bogus: 1\n'), 'x.yaml:3: unknown field "ppo.bogus"');
  assert.match(errorOf('model:\n  d_model: 30\n  n_heads: 4\n'), /^x\.yaml:3: field "model\.n_heads" = 4: d_model must be divisible by n_heads$/);
  assert.match(errorOf('arms:\n  - name: sft\n    reward_mode: raw\n'), /x\.yaml:2: field "arms\.0\.name" = "sft": "sft" is reserved/);
  assert.match(errorOf('reward:\n  contrastive:\n    aggregation: mode\n'), /x\.yaml:3: field "reward\.contrastive\.aggregation" = "mode"/);
  assert.match(errorOf('a: [1,\n'), /^x\.yaml:\d+: malformed YAML/);
  assert.match(errorOf('- 1\n- 2\n'), /must be a YAML mapping/);
  assert.match(errorOf('reward:\n  contrastive:\n    k: 8\n'), /cannot use 8 baselines: baselines\.k samples only 4/);
  assert.match(errorOf('ppo:\n  kl:\n    kind: adaptive\n'), /field "ppo\.kl\.target".*adaptive KL control needs a target/);
  assert.match(errorOf('evaluation:\n  judges: [llm]\n'), /the llm judge needs evaluation\.llm/);
});

test('overrides by dotted path apply before validation', () => {
  const c = parseConfig('ppo:\n  iterations: 5\n', 'x.yaml', { 'ppo.iterations': 7, 'reward.contrastive.k': 2 });
  assert.equal(c.ppo.iterations, 7);
  assert.equal(c.reward.contrastive.k, 2);
  assert.throws(() => parseConfig('', 'x.yaml', { 'ppo.nope': 1 }), /unknown field "ppo\.nope"/);
  const o: Record<string, unknown> = { a: 1 };
  assert.throws(() => setPath(o, ['a', 'b'], 2), /"a" is not a mapping/);
});
