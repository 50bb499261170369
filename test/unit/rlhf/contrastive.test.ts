import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DataError } from '../../../common/errors.js';
import {
  BASELINE_TABLE_SCHEMA,
  BaselineTable,
  aggregateBaseline,
  baselineStats,
  contrastiveReward,
  offsetSpread,
  type BaselineAggregation,
} from '../../../rlhf/contrastive.js';
import { assertClose } from './close.js';

// Stored baseline rewards, in sampling order:
const rewards = [0.5, 2, -1, 4, 0, 7, 1, 3];
// sorted: [−1, 0, 0.5, 1, 2, 3, 4, 7], Σ = 16.5, n = 8
// first k=4: [0.5, 2, −1, 4] → sorted [−1, 0.5, 2, 4], Σ = 5.5

describe('aggregateBaseline over all stored rewards', () => {
  const cases: [BaselineAggregation, number, string][] = [
    [{ kind: 'mean' }, 2.0625, '16.5/8'],
    [{ kind: 'median' }, 1.5, 'h = 3.5 → (1 + 2)/2'],
    [{ kind: 'min' }, -1, ''],
    [{ kind: 'max' }, 7, ''],
    [{ kind: 'trimmed_mean', trim: 0 }, 2.0625, 'no cut'],
    [{ kind: 'trimmed_mean', trim: 0.125 }, 1.75, 'cut ⌊1⌋ each end → [0,0.5,1,2,3,4] = 10.5/6'],
    [{ kind: 'trimmed_mean', trim: 0.2 }, 1.75, 'cut ⌊1.6⌋ = 1 each end'],
    [{ kind: 'trimmed_mean', trim: 0.25 }, 1.625, 'cut 2 each end → [0.5,1,2,3] = 6.5/4'],
    [{ kind: 'quantile', q: 0 }, -1, ''],
    [{ kind: 'quantile', q: 0.25 }, 0.375, 'h = 1.75 → 0 + 0.75·0.5'],
    [{ kind: 'quantile', q: 0.9 }, 4.9, 'h = 6.3 → 4 + 0.3·3'],
    [{ kind: 'quantile', q: 1 }, 7, ''],
  ];
  for (const [agg, expected, why] of cases) {
    it(`${JSON.stringify(agg)} = ${expected} ${why}`, () => {
      assertClose(aggregateBaseline(rewards, agg), expected);
    });
  }
});

describe('aggregateBaseline over the first k < stored rewards', () => {
  const cases: [BaselineAggregation, number, string][] = [
    [{ kind: 'mean' }, 1.375, '5.5/4'],
    [{ kind: 'median' }, 1.25, 'h = 1.5 → 0.5 + 0.5·1.5'],
    [{ kind: 'min' }, -1, ''],
    [{ kind: 'max' }, 4, ''],
    [{ kind: 'trimmed_mean', trim: 0.25 }, 1.25, 'cut 1 each end → [0.5, 2]'],
    [{ kind: 'quantile', q: 0.9 }, 3.4, 'h = 2.7 → 2 + 0.7·2'],
  ];
  for (const [agg, expected, why] of cases) {
    it(`${JSON.stringify(agg)} with k=4 = ${expected} ${why}`, () => {
      assertClose(aggregateBaseline(rewards, agg, 4), expected);
    });
  }

  it('k = 1 uses the first sample only, k = stored uses all', () => {
    assert.equal(aggregateBaseline(rewards, { kind: 'mean' }, 1), 0.5);
    assert.equal(aggregateBaseline(rewards, { kind: 'mean' }, 8), 2.0625);
  });
});

describe('aggregateBaseline errors', () => {
  it('k larger than stored', () => {
    assert.throws(() => aggregateBaseline(rewards, { kind: 'mean' }, 9), /k=9 but only 8 baseline rewards are stored/);
  });
  it('k not a positive integer', () => {
    assert.throws(() => aggregateBaseline(rewards, { kind: 'mean' }, 0), /positive integer/);
    assert.throws(() => aggregateBaseline(rewards, { kind: 'mean' }, 2.5), /positive integer/);
  });
  it('no stored rewards', () => {
    assert.throws(() => aggregateBaseline([], { kind: 'mean' }), /no baseline rewards/);
  });
  it('trim outside [0, 0.5) and q outside [0, 1]', () => {
    assert.throws(() => aggregateBaseline(rewards, { kind: 'trimmed_mean', trim: 0.5 }), /trim must be in \[0, 0\.5\)/);
    assert.throws(() => aggregateBaseline(rewards, { kind: 'trimmed_mean', trim: -0.1 }), /trim/);
    assert.throws(() => aggregateBaseline(rewards, { kind: 'quantile', q: 1.1 }), /q must be in \[0, 1\]/);
    assert.throws(() => aggregateBaseline(rewards, { kind: 'bogus' } as unknown as BaselineAggregation), /unknown aggregation/);
  });
  it('a trim that rounds up to half of a tiny sample removes everything', () => {
    // k=2, trim = 0.4999999999 → ⌊0.9999999998 + 1e-9⌋ = 1 from each end → nothing left
    assert.throws(() => aggregateBaseline([1, 2], { kind: 'trimmed_mean', trim: 0.4999999999 }), /removes all 2 values/);
  });
});

describe('baselineStats and contrastiveReward', () => {
  it('stores a copy of the rewards with population moments', () => {
    const src = [...rewards];
    const s = baselineStats('p1', src);
    src[0] = 100;
    // E[x²] = (0.25+4+1+16+0+49+1+9)/8 = 80.25/8 = 10.03125; σ² = 10.03125 − 2.0625² = 5.77734375
    assert.deepEqual(s, { promptId: 'p1', rewards, mean: 2.0625, std: Math.sqrt(5.77734375), count: 8 });
    assert.throws(() => baselineStats('p2', []), /"p2" has no baseline rewards/);
    assert.throws(() => baselineStats('p3', [1, Number.NaN]), /"p3" baseline reward 1 is not finite/);
  });

  it('is score minus the aggregate, and names the prompt in errors', () => {
    const s = baselineStats('p1', rewards);
    assert.equal(contrastiveReward(5, s, { kind: 'mean' }), 2.9375); // 5 − 2.0625
    assert.equal(contrastiveReward(5, s, { kind: 'median' }, 4), 3.75); // 5 − 1.25
    assert.throws(() => contrastiveReward(5, s, { kind: 'mean' }, 16), /prompt "p1": .*k=16/);
  });

  it('cancels a per-prompt reward-model offset exactly', () => {
    // r = g + o(x): with the mean baseline, r_cr = g − mean(g_baseline), whatever o(x) is.
    const gold = [0.25, 0.5, 0.75];
    const goldScore = 1;
    for (const offset of [-3, 0, 10]) {
      const s = baselineStats('p', gold.map((g) => g + offset));
      assertClose(contrastiveReward(goldScore + offset, s, { kind: 'mean' }), 0.5); // 1 − 0.5
    }
  });
});

describe('BaselineTable', () => {
  function table(): BaselineTable {
    const t = new BaselineTable({ rewardModel: 's3://b/rm/abc', k: 4 });
    t.add('zeta', [1, 2, 3]);
    t.add('alpha', [0.5, 2, -1, 4]);
    return t;
  }

  it('serialises with a schema field, prompts sorted by id, and reloads identically', () => {
    const t = table();
    const json = t.toJSON();
    assert.equal(json.schema, BASELINE_TABLE_SCHEMA);
    assert.deepEqual(json.prompts.map((p) => p.promptId), ['alpha', 'zeta']);
    assert.deepEqual(json.meta, { rewardModel: 's3://b/rm/abc', k: 4 });
    const text = JSON.stringify(t);
    const back = BaselineTable.fromJSON(JSON.parse(text));
    assert.equal(JSON.stringify(back), text);
    assert.equal(back.size, 2);
    // alpha, first 2 = [0.5, 2] → mean 1.25; 3 − 1.25 = 1.75
    assert.equal(back.contrastiveReward('alpha', 3, { kind: 'mean' }, 2), 1.75);
  });

  it('require() of an unknown prompt is a DataError', () => {
    assert.throws(() => table().require('nope'), (e: unknown) => e instanceof DataError && /"nope"/.test(e.message));
    assert.equal(table().get('nope'), undefined);
  });

  it('fromJSON rejects a wrong schema, tampered statistics and duplicates, naming the field', () => {
    const good = table().toJSON();
    assert.throws(
      () => BaselineTable.fromJSON({ ...good, schema: 'crlhf.baseline-table/v0' }, 'run/baselines.json'),
      (e: unknown) => e instanceof DataError && e.field === 'schema' && e.file === 'run/baselines.json' && /^run\/baselines\.json: /.test(e.message),
    );
    const tampered = JSON.parse(JSON.stringify(good));
    tampered.prompts[0].mean = 99;
    assert.throws(
      () => BaselineTable.fromJSON(tampered),
      (e: unknown) => e instanceof DataError && e.field === 'prompts.0.mean' && /does not match its rewards/.test(e.message),
    );
    const dup = { ...good, prompts: [good.prompts[0], good.prompts[0]] };
    assert.throws(() => BaselineTable.fromJSON(dup), (e: unknown) => e instanceof DataError && e.field === 'prompts.1.promptId');
    const badType = JSON.parse(JSON.stringify(good));
    badType.prompts[1].rewards = ['1'];
    assert.throws(() => BaselineTable.fromJSON(badType), (e: unknown) => e instanceof DataError && e.field === 'prompts.1.rewards.0');
  });
});

describe('offsetSpread', () => {
  // p1: r = [1, 3], g = [0, 1]       → r − g = [1, 2]      → o = 1.5
  // p2: r = [0, 2], g = [0.5, 1.5]   → r − g = [−0.5, 0.5] → o = 0
  // p3: r = [5],    g = [0.5]        →                        o = 4.5
  const prompts = [
    { promptId: 'p1', rewardScores: [1, 3], goldRewards: [0, 1] },
    { promptId: 'p2', rewardScores: [0, 2], goldRewards: [0.5, 1.5] },
    { promptId: 'p3', rewardScores: [5], goldRewards: [0.5] },
  ];

  it('is the population variance over prompts of mean_y(r − g)', () => {
    // mean o = 2; Var = (0.5² + 2² + 2.5²)/3 = 10.5/3 = 3.5
    // all r = [1, 3, 0, 2, 5]: mean 2.2, E[r²] = 39/5 = 7.8 → Var = 7.8 − 4.84 = 2.96
    const s = offsetSpread(prompts);
    assert.deepEqual(s.offsets, [
      { promptId: 'p1', offset: 1.5, count: 2 },
      { promptId: 'p2', offset: 0, count: 2 },
      { promptId: 'p3', offset: 4.5, count: 1 },
    ]);
    assert.equal(s.meanOffset, 2);
    assertClose(s.variance, 3.5);
    assertClose(s.std, Math.sqrt(3.5));
    assert.equal(s.scale, 1);
    assertClose(s.scoreVariance, 2.96);
  });

  it("with scale 'within-prompt' fits the pooled within-prompt slope first", () => {
    // p1: ḡ = 0.5, r̄ = 2: Σ(g−ḡ)(r−r̄) = (−0.5)(−1) + (0.5)(1) = 1, Σ(g−ḡ)² = 0.5
    // p2: ḡ = 1,   r̄ = 1: same, 1 and 0.5;  p3: one response, 0 and 0
    // a = 2/1 = 2; o = r̄ − 2ḡ = [2 − 1, 1 − 2, 5 − 1] = [1, −1, 4]
    // mean 4/3; Var = (1 + 1 + 16)/3 − 16/9 = 38/9
    const s = offsetSpread(prompts, { scale: 'within-prompt' });
    assert.equal(s.scale, 2);
    assert.deepEqual(s.offsets.map((o) => o.offset), [1, -1, 4]);
    assertClose(s.variance, 38 / 9);
  });

  it('recovers planted offsets when r = g + o(x)', () => {
    const planted = [-1, 0.5, 2];
    const ps = planted.map((o, i) => ({ promptId: `p${i}`, goldRewards: [0, 0.5, 1], rewardScores: [0, 0.5, 1].map((g) => g + o) }));
    const s = offsetSpread(ps);
    assert.deepEqual(s.offsets.map((o) => o.offset), planted);
    // Var of [−1, 0.5, 2]: mean 0.5, devs ∓1.5, 0 → 4.5/3 = 1.5
    assertClose(s.variance, 1.5);
  });

  it('rejects empty input and mismatched lengths', () => {
    assert.throws(() => offsetSpread([]), /no prompts/);
    assert.throws(() => offsetSpread([{ promptId: 'x', rewardScores: [1], goldRewards: [] }]), /"x" has 1 reward scores but 0 gold/);
    assert.throws(() => offsetSpread([{ promptId: 'x', rewardScores: [], goldRewards: [] }]), /no responses/);
    assert.throws(() => offsetSpread([{ promptId: 'x', rewardScores: [1], goldRewards: [1] }], { scale: 'within-prompt' }), /do not vary/);
  });
});
