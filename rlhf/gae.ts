// Generalised Advantage Estimation — Schulman et al. 2015, arXiv 1506.02438, eq. 16:
//   δ_t = r_t + γ·V(s_{t+1}) − V(s_t),   A_t = Σ_l (γλ)^l δ_{t+l},
// computed backwards as A_t = δ_t + γλ·A_{t+1}. Returns R_t = A_t + V(s_t) are
// the critic's regression targets (the λ-return), as in OpenRLHF/TRL.
//
// One row per response (ragged, no padding): a response ends with EOS or a
// length cut, and both are treated as terminal, so the value after the last
// token is 0 — the sequence score already sits on the last token's reward.

export interface GaeResult {
  advantages: number[][];
  returns: number[][];
}

export function gae(rewards: number[][], values: number[][], gamma: number, lambda: number): GaeResult {
  if (rewards.length !== values.length) {
    throw new RangeError(`gae: ${rewards.length} reward rows but ${values.length} value rows`);
  }
  if (!(gamma >= 0 && gamma <= 1)) throw new RangeError(`gae: gamma must be in [0, 1], got ${gamma}`);
  if (!(lambda >= 0 && lambda <= 1)) throw new RangeError(`gae: lambda must be in [0, 1], got ${lambda}`);

  const advantages: number[][] = [];
  const returns: number[][] = [];
  rewards.forEach((r, i) => {
    const v = values[i]!;
    if (r.length !== v.length) {
      throw new RangeError(`gae: row ${i} has ${r.length} rewards but ${v.length} values`);
    }
    const T = r.length;
    const adv = new Array<number>(T);
    const ret = new Array<number>(T);
    let next = 0; // A_{t+1}; 0 past the end
    for (let t = T - 1; t >= 0; t--) {
      const nextValue = t + 1 < T ? v[t + 1]! : 0;
      const delta = r[t]! + gamma * nextValue - v[t]!;
      next = delta + gamma * lambda * next;
      adv[t] = next;
      ret[t] = next + v[t]!;
    }
    advantages.push(adv);
    returns.push(ret);
  });
  return { advantages, returns };
}
