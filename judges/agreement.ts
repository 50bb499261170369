// How far judges agree with each other (LLM vs. human, human vs. human), as
// MT-Bench's compute_agreement.py and the Secrets-of-RLHF papers report it:
// raw agreement plus chance-corrected kappa over the three outcomes A / tie / B.
// 'error' verdicts carry no opinion and are left out of every comparison.
import type { Judgment, Verdict } from './types.js';

export interface Agreement {
  /** Items both raters judged. */
  n: number;
  /** Share of items with the same label; null when n = 0. */
  agreement: number | null;
  /** Cohen's kappa; null when n = 0 or chance agreement is 1 (both raters used one label only). */
  kappa: number | null;
}

/** Cohen's kappa (Cohen 1960): (p_o − p_e)/(1 − p_e), p_e from each rater's own label frequencies. */
export function cohensKappa<T>(a: readonly T[], b: readonly T[]): Agreement {
  if (a.length !== b.length) throw new RangeError(`cohensKappa needs paired labels, got ${a.length} and ${b.length}`);
  const n = a.length;
  if (n === 0) return { n, agreement: null, kappa: null };
  const freqA = new Map<T, number>();
  const freqB = new Map<T, number>();
  let same = 0;
  a.forEach((la, i) => {
    const lb = b[i] as T;
    if (la === lb) same++;
    freqA.set(la, (freqA.get(la) ?? 0) + 1);
    freqB.set(lb, (freqB.get(lb) ?? 0) + 1);
  });
  const po = same / n;
  let pe = 0;
  for (const [label, ca] of freqA) pe += (ca / n) * ((freqB.get(label) ?? 0) / n);
  return { n, agreement: po, kappa: pe === 1 ? null : (po - pe) / (1 - pe) };
}

/**
 * Fleiss' kappa (Fleiss 1971) from a subjects × categories table of counts;
 * every subject must have the same number (≥ 2) of ratings. null when the
 * table is empty or chance agreement is 1.
 */
export function fleissKappa(counts: readonly (readonly number[])[]): number | null {
  const first = counts[0];
  if (!first) return null;
  const raters = first.reduce((s, c) => s + c, 0);
  if (raters < 2) throw new RangeError(`fleissKappa needs at least 2 ratings per subject, got ${raters}`);
  const categoryTotals = new Array<number>(first.length).fill(0);
  let meanP = 0;
  counts.forEach((row, i) => {
    const total = row.reduce((s, c) => s + c, 0);
    if (total !== raters || row.length !== first.length) {
      throw new RangeError(`fleissKappa: subject ${i} has ${total} ratings in ${row.length} categories, expected ${raters} in ${first.length}`);
    }
    row.forEach((c, j) => (categoryTotals[j] = (categoryTotals[j] ?? 0) + c));
    meanP += (row.reduce((s, c) => s + c * c, 0) - raters) / (raters * (raters - 1));
  });
  meanP /= counts.length;
  const pe = categoryTotals.reduce((s, t) => s + (t / (counts.length * raters)) ** 2, 0);
  return pe === 1 ? null : (meanP - pe) / (1 - pe);
}

type Opinion = Exclude<Verdict, 'error'>;
const OPINIONS: readonly Opinion[] = ['A', 'tie', 'B'];

function opinions(judgments: readonly Judgment[]): Map<string, Opinion> {
  const out = new Map<string, Opinion>();
  for (const j of judgments) if (j.verdict !== 'error') out.set(j.pairId, j.verdict);
  return out;
}

/** Agreement of two judges over the pairs both gave an opinion on (joined by pairId). */
export function judgeAgreement(x: readonly Judgment[], y: readonly Judgment[]): Agreement {
  const ox = opinions(x);
  const oy = opinions(y);
  const a: Opinion[] = [];
  const b: Opinion[] = [];
  for (const [pairId, v] of ox) {
    const w = oy.get(pairId);
    if (w !== undefined) {
      a.push(v);
      b.push(w);
    }
  }
  return cohensKappa(a, b);
}

export interface PanelAgreement {
  /** Every pair of judges, in the order given. */
  pairwise: Array<{ a: string; b: string } & Agreement>;
  /** Means over the pairwise rows that have a value; null when none has. */
  meanAgreement: number | null;
  meanKappa: number | null;
  /** Fleiss' kappa over the pairs that every judge gave an opinion on. */
  fleiss: { n: number; kappa: number | null };
}

/** Agreement within a panel (several annotators, or judges): pairwise Cohen and Fleiss. */
export function panelAgreement(byJudge: ReadonlyMap<string, readonly Judgment[]>): PanelAgreement {
  const names = [...byJudge.keys()];
  const pairwise: PanelAgreement['pairwise'] = [];
  names.forEach((a, i) => {
    for (const b of names.slice(i + 1)) pairwise.push({ a, b, ...judgeAgreement(byJudge.get(a) ?? [], byJudge.get(b) ?? []) });
  });
  const mean = (xs: Array<number | null>): number | null => {
    const ok = xs.filter((v): v is number => v !== null);
    return ok.length === 0 ? null : ok.reduce((s, v) => s + v, 0) / ok.length;
  };

  const all = names.map((name) => opinions(byJudge.get(name) ?? []));
  const table: number[][] = [];
  if (all.length >= 2) {
    for (const pairId of all[0]?.keys() ?? []) {
      const row = OPINIONS.map(() => 0);
      let complete = true;
      for (const o of all) {
        const v = o.get(pairId);
        if (v === undefined) {
          complete = false;
          break;
        }
        row[OPINIONS.indexOf(v)]! += 1;
      }
      if (complete) table.push(row);
    }
  }
  return {
    pairwise,
    meanAgreement: mean(pairwise.map((p) => p.agreement)),
    meanKappa: mean(pairwise.map((p) => p.kappa)),
    fleiss: { n: table.length, kappa: table.length === 0 ? null : fleissKappa(table) },
  };
}
