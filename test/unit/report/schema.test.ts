import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DataError } from '../../../common/errors.js';
import { exampleReportData } from '../../../report/fixture.js';
import { parseReportData } from '../../../report/schema.js';
import type { ReportData } from '../../../report/types.js';

/** The fixture as it would come back from report.json. */
const json = (): Record<string, any> => JSON.parse(JSON.stringify(exampleReportData()));

function rejects(input: unknown, field: RegExp, message?: RegExp): DataError {
  let caught: unknown;
  try {
    parseReportData(input, 'runs/demo/report.json');
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof DataError, `expected a DataError, got ${String(caught)}`);
  assert.match(caught.field ?? '', field);
  assert.equal(caught.file, 'runs/demo/report.json');
  if (message) assert.match(caught.message, message);
  return caught;
}

describe('parseReportData', () => {
  it('accepts the example data after a JSON round trip, unchanged', () => {
    const data = json();
    assert.deepEqual(parseReportData(data), exampleReportData() satisfies ReportData);
  });

  it('names the field of a wrongly typed value, with its index', () => {
    const data = json();
    data.comparisons[2].wins = 'many';
    const err = rejects(data, /^comparisons\[2\]\.wins$/);
    assert.match(err.message, /comparisons\[2\]\.wins: .*number/i);
  });

  it('names a missing required field', () => {
    const data = json();
    delete data.run.seed;
    rejects(data, /^run\.seed$/);
  });

  it('rejects a misspelt key instead of dropping it', () => {
    const data = json();
    data.arms[1].summary.goldmean = data.arms[1].summary.goldMean;
    rejects(data, /^arms\[1\]\.summary$/, /goldmean/);
  });

  it('rejects another schema version with a message that says which', () => {
    const data = json();
    data.schema = 'crlhf.report/v2';
    rejects(data, /^schema$/, /crlhf\.report\/v2.*crlhf\.report\/v1/);
  });

  it('checks that n = wins + ties + losses', () => {
    const data = json();
    data.comparisons[0].n += 1;
    rejects(data, /^comparisons\[0\]\.n$/, /wins \+ ties \+ losses/);
  });

  it('checks that an interval contains its point estimate', () => {
    const data = json();
    data.comparisons[0].adjustedWinRate = { value: 0.9, lo: 0.2, hi: 0.5 };
    rejects(data, /^comparisons\[0\]\.adjustedWinRate$/, /lo ≤ value ≤ hi/);
  });

  it('rejects rows that name an arm or bucket the report does not have', () => {
    const data = json();
    data.training[5].arm = 'ppo-typo';
    rejects(data, /^training\[5\]\.arm$/, /unknown arm "ppo-typo"; arms: sft, ppo, ppo-cr/);
    const data2 = json();
    data2.goldByDifficulty[0].bucket = 'extreme';
    rejects(data2, /^goldByDifficulty\[0\]\.bucket$/, /unknown bucket "extreme"/);
  });

  it('rejects a headline that points at no comparison', () => {
    const data = json();
    data.headline = { judge: 'human', candidate: 'ppo-cr', baseline: 'ppo' };
    rejects(data, /^headline$/, /no comparison ppo-cr vs ppo by human/);
  });

  it('accepts data without gold, LLM judge or human votes', () => {
    const data = json();
    data.run.hasGold = false;
    for (const a of data.arms) delete a.summary.goldMean;
    data.goldByDifficulty = [];
    data.rewardModel.offsetSpread = null;
    data.judges = {};
    for (const t of data.training) delete t.goldMean;
    for (const s of data.samples) for (const r of s.responses) delete r.gold;
    const parsed = parseReportData(data);
    assert.equal(parsed.judges.llm, undefined);
    assert.equal(parsed.rewardModel.offsetSpread, null);
  });
});
