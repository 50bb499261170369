// distinct-n (Li et al. 2016, arXiv 1510.03055): distinct n-grams over all
// n-grams in a set of responses. PPO that collapses onto a few phrasings shows
// up here before it shows up in a win rate.

/** Lower-cased, split on whitespace: the usual choice for distinct-n; pass a model's tokenizer to count tokens instead. */
export function whitespaceTokens(text: string): string[] {
  return text.toLowerCase().split(/\s+/).filter((t) => t.length > 0);
}

/** Unique n-grams / total n-grams across all texts (n-grams never span two texts); 0 when there are none. */
export function distinctN(texts: readonly string[], n: number, tokenize: (text: string) => string[] = whitespaceTokens): number {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`distinct-n needs a positive integer n, got ${n}`);
  const seen = new Set<string>();
  let total = 0;
  for (const text of texts) {
    const tokens = tokenize(text);
    for (let i = 0; i + n <= tokens.length; i++) {
      // JSON keeps token boundaries, so no two n-grams share a key whatever the tokens hold.
      seen.add(JSON.stringify(tokens.slice(i, i + n)));
      total++;
    }
  }
  return total === 0 ? 0 : seen.size / total;
}

export function distinct12(texts: readonly string[], tokenize?: (text: string) => string[]): { distinct1: number; distinct2: number } {
  return { distinct1: distinctN(texts, 1, tokenize), distinct2: distinctN(texts, 2, tokenize) };
}
