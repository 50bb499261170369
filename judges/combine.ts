// Position-swap debiasing as MT-Bench does it (fastchat/llm_judge common.py
// `play_a_match_pair`, show_result.py `display_result_pairwise`): every pair
// is judged in both orders, each verdict is mapped back to the arms, and only
// two agreeing non-tie verdicts make a win; disagreement is a tie.
import type { Order, PositionLabel, Verdict } from './types.js';

type ArmVerdict = Exclude<Verdict, 'error'>;

/** Map a positional label to arms: in order 'BA' the response shown as A is arm B's. */
export function labelToArm(label: PositionLabel, order: Order): ArmVerdict {
  if (label === 'C') return 'tie';
  if (order === 'AB') return label;
  return label === 'A' ? 'B' : 'A';
}

/**
 * g1 from order 'AB', g2 from order 'BA', both already in arm terms; null for
 * an unparseable call. A first-order tie or any disagreement is a tie, so
 * g1 === g2 is the only way to a win or a loss.
 */
export function combineOrders(g1: ArmVerdict | null, g2: ArmVerdict | null): Verdict {
  if (g1 === null || g2 === null) return 'error';
  return g1 === g2 ? g1 : 'tie';
}
