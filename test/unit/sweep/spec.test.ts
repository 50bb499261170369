import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ConfigError } from '../../../common/errors.js';
import { knobPathError, parseSweep, SweepSpecSchema, sweepSpecReference } from '../../../config/sweep.js';
import { ExperimentSchema } from '../../../config/schema.js';
import { setPath } from '../../../config/load.js';
import { parse as parseYaml } from 'yaml';
import { readFileSync } from 'node:fs';
import { sweepNameFromWorkflowId, trialConfig } from '../../../sweep/trials.js';

const TINY = fileURLToPath(new URL('../../fixtures/configs/tiny.yaml', import.meta.url));
const FILE = '/specs/sweep.yaml';

function sweep(text: string, opts: Parameters<typeof parseSweep>[2] = {}) {
  return parseSweep(text, FILE, opts);
}

function configError(text: string): string {
  try {
    sweep(text);
  } catch (err) {
    assert.ok(err instanceof ConfigError, `a ConfigError, got ${String(err)}`);
    return err.message;
  }
  assert.fail('expected a ConfigError');
}

describe('sweep spec expansion', () => {
  it('expands a grid in written order (last knob fastest), seeds inner, with stable trial IDs', () => {
    const s = sweep(`
base: ${TINY}
grid:
  reward.contrastive.k: [1, 2]
  ppo.kl.coef: [0.02, 0.05, 0.1]
seeds: [7, 8]
`);
    assert.deepEqual(s.knobs, ['reward.contrastive.k', 'ppo.kl.coef']);
    assert.equal(s.settings.length, 6);
    assert.equal(s.trials.length, 12);
    assert.deepEqual(s.settings.map((x) => x.params), [
      { 'reward.contrastive.k': 1, 'ppo.kl.coef': 0.02 },
      { 'reward.contrastive.k': 1, 'ppo.kl.coef': 0.05 },
      { 'reward.contrastive.k': 1, 'ppo.kl.coef': 0.1 },
      { 'reward.contrastive.k': 2, 'ppo.kl.coef': 0.02 },
      { 'reward.contrastive.k': 2, 'ppo.kl.coef': 0.05 },
      { 'reward.contrastive.k': 2, 'ppo.kl.coef': 0.1 },
    ]);
    assert.deepEqual(s.trials.slice(0, 3).map((t) => [t.id, t.setting, t.seed]), [['t000', 0, 7], ['t001', 0, 8], ['t002', 1, 7]]);
    assert.equal(s.trials[11]!.id, 't011');
    assert.equal(s.name, 'sweep', 'default name: the file name');
    assert.equal(s.maxConcurrent, 4);
  });

  it('gives the same trials and hash for the same spec, and another hash for another spec', () => {
    const text = `base: ${TINY}\ngrid:\n  ppo.lr: [1.0e-4, 3.0e-4]\n`;
    assert.equal(sweep(text).specHash, sweep(text).specHash);
    assert.notEqual(sweep(text).specHash, sweep(`${text}seeds: [1, 2]\n`).specHash);
  });

  it('draws random search from a seeded generator: same seed, same settings; values within bounds', () => {
    const text = (seed: number) => `
base: ${TINY}
random:
  samples: 6
  seed: ${seed}
  parameters:
    ppo.lr: { distribution: log_uniform, min: 1.0e-5, max: 1.0e-3 }
    ppo.clip_range: { min: 0.1, max: 0.3 }
    ppo.epochs: { distribution: int_uniform, min: 1, max: 4 }
    data.label_noise: { values: [0, 0.2, 0.4] }
`;
    const a = sweep(text(0));
    assert.deepEqual(a.settings.map((s) => s.params), sweep(text(0)).settings.map((s) => s.params));
    assert.notDeepEqual(a.settings.map((s) => s.params), sweep(text(1)).settings.map((s) => s.params));
    assert.equal(a.settings.length + a.duplicates, 6);
    for (const s of a.settings) {
      const p = s.params as Record<string, number>;
      assert.ok(p['ppo.lr']! >= 1e-5 && p['ppo.lr']! <= 1e-3);
      assert.ok(p['ppo.clip_range']! >= 0.1 && p['ppo.clip_range']! <= 0.3);
      assert.ok(Number.isInteger(p['ppo.epochs']) && p['ppo.epochs']! >= 1 && p['ppo.epochs']! <= 4);
      assert.ok([0, 0.2, 0.4].includes(p['data.label_noise']!));
    }
  });

  it('combines every grid point with every random sample', () => {
    const s = sweep(`
base: ${TINY}
grid: { ppo.kl.coef: [0.02, 0.1] }
random: { samples: 3, parameters: { ppo.lr: { min: 1.0e-4, max: 2.0e-4 } } }
`);
    assert.equal(s.settings.length, 6);
    const lrs = s.settings.slice(0, 3).map((x) => x.params['ppo.lr']);
    assert.deepEqual(s.settings.slice(3).map((x) => x.params['ppo.lr']), lrs, 'the same samples at each grid point');
  });

  it('drops settings drawn twice and caps trials at run_cap', () => {
    const dup = sweep(`base: ${TINY}\nrandom: { samples: 10, parameters: { ppo.epochs: { values: [1, 2] } } }\n`);
    assert.equal(dup.settings.length, 2);
    assert.equal(dup.duplicates, 8);
    const capped = sweep(`base: ${TINY}\ngrid: { ppo.kl.coef: [0.01, 0.02, 0.03] }\nseeds: [1, 2]\nrun_cap: 4\n`);
    assert.equal(capped.total, 6);
    assert.deepEqual(capped.trials.map((t) => t.id), ['t000', 't001', 't002', 't003']);
  });

  it('refuses more trials than a workflow input can carry', () => {
    assert.match(configError(`base: ${TINY}\ngrid:\n  ppo.lr: [${Array.from({ length: 100 }, (_, i) => (i + 1) * 1e-5).join(', ')}]\n  ppo.kl.coef: [${Array.from({ length: 60 }, (_, i) => i / 100).join(', ')}]\n`), /expands to 6000 trials; at most 5000 per sweep: set run_cap/);
    assert.equal(sweep(`base: ${TINY}\ngrid:\n  ppo.lr: [${Array.from({ length: 100 }, (_, i) => (i + 1) * 1e-5).join(', ')}]\n  ppo.kl.coef: [${Array.from({ length: 60 }, (_, i) => i / 100).join(', ')}]\nrun_cap: 10\n`).trials.length, 10);
  });

  it('runs the base config once per seed when nothing is swept', () => {
    const s = sweep(`base: ${TINY}\nseeds: [1, 2, 3]\n`);
    assert.deepEqual(s.knobs, []);
    assert.deepEqual(s.trials.map((t) => t.seed), [1, 2, 3]);
    assert.deepEqual(sweep(`base: ${TINY}\n`).trials.map((t) => t.seed), [3], 'default: the base seed');
  });

  it('takes the base config inline and applies overrides (and --set) to every trial', () => {
    const s = sweep(
      `
name: inline
experiment:
  task: sort
  ppo: { iterations: 5 }
overrides:
  ppo.batch_prompts: 16
grid:
  ppo.kl.coef: [0.02, 0.1]
`,
      { set: { 'sft.steps': 12 } },
    );
    assert.equal(s.name, 'inline');
    for (const t of s.trials) {
      const c = trialConfig(s, t, s.name);
      assert.equal(c.task, 'sort');
      assert.equal(c.ppo.iterations, 5);
      assert.equal(c.ppo.batch_prompts, 16);
      assert.equal(c.sft.steps, 12);
    }
  });
});

describe('trial configs', () => {
  it('equal the experiment schema applied to base + knobs + seed, defaults included', () => {
    const text = `
base: ${TINY}
overrides:
  ppo.iterations: 2
grid:
  reward.contrastive.aggregation: [mean, { trimmed_mean: 0.25 }]
  reward.contrastive.k: [1, 2]
  reward.clip: [1.5]
seeds: [4, 5]
`;
    const s = sweep(text);
    const baseRaw = parseYaml(readFileSync(TINY, 'utf8')) as Record<string, unknown>;
    for (const t of s.trials) {
      const raw = structuredClone(baseRaw);
      setPath(raw, ['ppo', 'iterations'], 2);
      for (const [k, v] of Object.entries(s.settings[t.setting]!.params)) setPath(raw, k.split('.'), structuredClone(v));
      raw.seed = t.seed;
      raw.name = `sweep.${t.id}`;
      assert.deepEqual(trialConfig(s, t, 'sweep'), ExperimentSchema.parse(raw), `trial ${t.id}`);
    }
  });

  it('names each trial <sweep>.<trial> in its config', () => {
    const s = sweep(`base: ${TINY}\nseeds: [1, 2]\n`);
    assert.equal(trialConfig(s, s.trials[1]!, 'nightly-2025-05-14T030000Z').name, 'nightly-2025-05-14T030000Z.t001');
  });
});

describe('shared-step groups', () => {
  it('puts trials that differ only in PPO knobs in one group per seed', () => {
    const s = sweep(`base: ${TINY}\ngrid:\n  ppo.kl.coef: [0.02, 0.1]\n  reward.contrastive.k: [1, 2]\nseeds: [1, 2]\n`);
    assert.equal(s.trials.length, 8);
    assert.equal(s.groups.length, 2);
    for (const t of s.trials) assert.equal(t.group, t.seed === 1 ? 0 : 1);
  });

  it('separates trials whose data or reward model differ', () => {
    const s = sweep(`base: ${TINY}\ngrid:\n  data.label_noise: [0, 0.4]\n  ppo.kl.coef: [0.02, 0.1]\n`);
    assert.equal(s.groups.length, 2);
    assert.notEqual(s.groups[0]!.rewardModel, s.groups[1]!.rewardModel, 'label noise changes the reward model');
    assert.equal(s.groups[0]!.sft, s.groups[1]!.sft, 'but not SFT: the noise only flips preference labels');
    const rm = sweep(`base: ${TINY}\ngrid:\n  reward_model.lr: [1.0e-3, 2.0e-3]\n`);
    assert.equal(rm.groups.length, 2);
    assert.equal(rm.groups[0]!.sft, rm.groups[1]!.sft, 'one SFT model for both reward models');
  });
});

describe('sweep spec errors name the file, the line and the field', () => {
  it('an unknown knob path names the missing field and the fields that exist there', () => {
    const msg = configError(`base: ${TINY}\ngrid:\n  reward.contrastiv.k: [1, 2]\n`);
    assert.match(msg, /^\/specs\/sweep\.yaml:3: grid\."reward\.contrastiv\.k": unknown field "reward\.contrastiv"; fields of reward: contrastive, clip, normalize/);
    assert.match(configError(`base: ${TINY}\ngrid:\n  ppo.kl.coef.x: [1]\n`), /:3: .*"ppo\.kl\.coef" is a value, not a mapping/);
    assert.match(configError(`base: ${TINY}\noverrides:\n  ppoo.lr: 1\n`), /:3: overrides\."ppoo\.lr": unknown field "ppoo"; top-level fields: .*ppo/);
    assert.match(configError(`base: ${TINY}\nrandom:\n  samples: 2\n  parameters:\n    ppo.lrr: { min: 1, max: 2 }\n`), /:5: random\.parameters\."ppo\.lrr": unknown field "ppo\.lrr"/);
  });

  it('knob paths into a union of mappings are fields too', () => {
    assert.equal(knobPathError('reward.contrastive.aggregation'), null);
    assert.equal(knobPathError('reward.contrastive.aggregation.trimmed_mean'), null);
    assert.equal(knobPathError('evaluation.llm.model'), null);
  });

  it('refuses the seed, name and store as knobs, and a field set in two places', () => {
    assert.match(configError(`base: ${TINY}\ngrid:\n  seed: [1, 2]\n`), /:3: grid\."seed": "seed" cannot be swept: list seeds under "seeds"/);
    assert.match(configError(`base: ${TINY}\ngrid:\n  store: [a]\n`), /"store" cannot be swept/);
    assert.match(configError(`base: ${TINY}\noverrides:\n  ppo.kl: { coef: 1 }\ngrid:\n  ppo.kl.coef: [1]\n`), /:5: grid\."ppo\.kl\.coef": overlaps overrides\."ppo\.kl"/);
  });

  it('an invalid value points at that value in the list', () => {
    const msg = configError(`base: ${TINY}\ngrid:\n  ppo.kl.coef:\n    - 0.02\n    - -1\n`);
    assert.match(msg, /^\/specs\/sweep\.yaml:5: grid\."ppo\.kl\.coef" = -1: .*>=0/);
  });

  it('a rule across fields is reported at the knob it names', () => {
    const msg = configError(`base: ${TINY}\ngrid:\n  reward.contrastive.k: [1, 8]\n  ppo.batch_prompts: [16, 15]\n`);
    const lines = msg.split('\n');
    assert.ok(lines.includes('/specs/sweep.yaml:3: grid."reward.contrastive.k" = 8: cannot use 8 baselines: baselines.k samples only 2 per prompt'), msg);
    assert.ok(lines.includes('/specs/sweep.yaml:4: grid."ppo.batch_prompts" = 15: field "ppo.minibatches": must divide ppo.batch_prompts (15)'), msg);
    assert.equal(lines.length, 2, 'one line per cause, not one per setting');
  });

  it('checks the spec itself: unknown keys, types and distributions', () => {
    assert.match(configError(`base: ${TINY}\nmax_concurent: 3\n`), /:2: unknown field "max_concurent"/);
    assert.match(configError(`base: ${TINY}\nmax_concurrent: 0\n`), /:2: field "max_concurrent" = 0/);
    assert.match(configError(`base: ${TINY}\ngrid:\n  ppo.lr: 0.1\n`), /:3: field "grid\.ppo\.lr" = 0\.1: .*expected array/);
    assert.match(configError(`base: ${TINY}\nrandom: { samples: 2, parameters: { ppo.lr: { min: 2, max: 1 } } }\n`), /:2: field "random\.parameters\.ppo\.lr\.max" = 1: max \(1\) must not be below min \(2\)/);
    assert.match(configError(`base: ${TINY}\nrandom: { samples: 2, parameters: { ppo.lr: { distribution: log_uniform, min: 0, max: 1 } } }\n`), /log_uniform needs min > 0/);
    assert.match(configError(`grid: {}\n`), /either as base: <file> or inline as experiment/);
  });

  it('a missing base file is reported at the base line; a bad base config in its own file', () => {
    assert.match(configError(`name: x\nbase: nope.yaml\n`), /^\/specs\/sweep\.yaml:2: field "base" = "nope\.yaml": no such config file \(\/specs\/nope\.yaml\)/);
    try {
      sweep(`base: base.yaml\n`, { readFile: () => 'ppo:\n  lr: -1\n' });
      assert.fail('expected an error');
    } catch (err) {
      assert.match((err as Error).message, /^\/specs\/base\.yaml:2: field "ppo\.lr" = -1/);
    }
    assert.match(configError(`experiment:\n  ppo:\n    lr: -1\n`), /^\/specs\/sweep\.yaml:3: field "experiment\.ppo\.lr" = -1/);
  });

  it('a sweep name must be usable in workflow IDs and store keys', () => {
    assert.throws(() => sweep(`base: ${TINY}\n`, { name: 'a/b' }), /sweep name "a\/b" \(--name\)/);
    assert.match(configError(`name: "x y"\nbase: ${TINY}\n`), /:1: field "name"/);
  });

  it('the metric defaults to the contrastive arm against SFT by the oracle, and must name an arm', () => {
    assert.deepEqual(sweep(`base: ${TINY}\n`).metric, { name: 'adjusted_win_rate', arm: 'ppo-cr', vs: 'sft', judge: 'oracle', goal: 'maximize' });
    assert.deepEqual(sweep(`base: ${TINY}\nmetric: { name: gold, arm: ppo, goal: minimize }\n`).metric, { name: 'gold', arm: 'ppo', judge: 'oracle', goal: 'minimize' });
    assert.match(configError(`base: ${TINY}\nmetric:\n  arm: nope\n`), /:3: field "metric\.arm" = "nope": unknown arm; arms: sft, ppo, ppo-cr/);
    assert.match(configError(`base: ${TINY}\nmetric: { name: best }\n`), /field "metric\.name"/);
  });
});

describe('scheduled sweep names', () => {
  it('drop the colons of the scheduled time, so trial run names are valid store keys', () => {
    assert.equal(sweepNameFromWorkflowId('nightly-2025-05-14T03:00:00Z'), 'nightly-2025-05-14T030000Z');
    assert.equal(sweepNameFromWorkflowId('plain'), 'plain');
  });
});

describe('the sweep spec reference', () => {
  it('lists every field of the schema with its default and meaning', () => {
    const ref = sweepSpecReference();
    for (const k of Object.keys(SweepSpecSchema.shape)) assert.match(ref, new RegExp(`^\\| \`${k}\` \\|`, 'm'), k);
    assert.match(ref, /\| `max_concurrent` \| integer \(> 0, ≤ 500\) \| `4` \| experiments \(trials and shared-step runs\) running at once \|/);
    assert.match(ref, /\| `grid` \| knob → list of any \|/);
  });
});
