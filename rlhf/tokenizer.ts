// Character-level tokenizer: the synthetic tasks and small models of this
// project do not need BPE, and a char vocabulary fitted to the corpus keeps
// the embedding tiny. Ids are deterministic (special tokens, then the corpus's
// characters sorted by code point), and the JSON form travels with every
// checkpoint so a checkpoint is self-describing.

export const PAD = 0;
export const BOS = 1;
export const EOS = 2;
export const SEP = 3;
export const UNK = 4;
export const SPECIAL_TOKENS = ['<pad>', '<bos>', '<eos>', '<sep>', '<unk>'] as const;
const N_SPECIAL = SPECIAL_TOKENS.length;

export interface TokenizerJSON {
  type: 'char';
  version: 1;
  specials: string[];
  /** Characters in id order; character i has id specials.length + i. */
  chars: string[];
}

export interface FitOptions {
  /** Characters seen fewer times map to UNK (default 1: keep all). */
  minFreq?: number;
  /** Characters to include even if the corpus lacks them (e.g. an alphabet the task may emit). */
  extraChars?: Iterable<string>;
}

export class Tokenizer {
  readonly pad = PAD;
  readonly bos = BOS;
  readonly eos = EOS;
  readonly sep = SEP;
  readonly unk = UNK;
  private readonly chars: string[];
  private readonly ids: Map<string, number>;

  private constructor(chars: string[]) {
    this.chars = chars;
    this.ids = new Map(chars.map((c, i) => [c, i + N_SPECIAL]));
  }

  static fit(texts: Iterable<string>, opts: FitOptions = {}): Tokenizer {
    const minFreq = opts.minFreq ?? 1;
    const counts = new Map<string, number>();
    for (const text of texts) for (const ch of text) counts.set(ch, (counts.get(ch) ?? 0) + 1);
    const keep = new Set<string>();
    for (const [ch, n] of counts) if (n >= minFreq) keep.add(ch);
    for (const ch of opts.extraChars ?? []) for (const c of ch) keep.add(c);
    return new Tokenizer([...keep].sort(byCodePoint));
  }

  static fromJSON(json: TokenizerJSON): Tokenizer {
    if (json.type !== 'char' || json.version !== 1) throw new Error(`unsupported tokenizer ${json.type} v${json.version}`);
    if (json.specials.join() !== SPECIAL_TOKENS.join()) throw new Error(`tokenizer specials ${json.specials.join(' ')} differ from this library's`);
    return new Tokenizer([...json.chars]);
  }

  toJSON(): TokenizerJSON {
    return { type: 'char', version: 1, specials: [...SPECIAL_TOKENS], chars: [...this.chars] };
  }

  get vocabSize(): number {
    return N_SPECIAL + this.chars.length;
  }

  encode(text: string, opts: { bos?: boolean; eos?: boolean } = {}): number[] {
    const out: number[] = [];
    if (opts.bos) out.push(BOS);
    for (const ch of text) out.push(this.ids.get(ch) ?? UNK);
    if (opts.eos) out.push(EOS);
    return out;
  }

  /** `skipSpecial` (default true) drops PAD/BOS/EOS/SEP and UNK; otherwise they render as `<name>`. */
  decode(ids: Iterable<number>, opts: { skipSpecial?: boolean } = {}): string {
    const skip = opts.skipSpecial ?? true;
    let out = '';
    for (const id of ids) {
      if (id < N_SPECIAL) {
        if (!skip) out += SPECIAL_TOKENS[id] ?? '';
        continue;
      }
      const ch = this.chars[id - N_SPECIAL];
      if (ch === undefined) throw new RangeError(`token id ${id} outside vocabulary of ${this.vocabSize}`);
      out += ch;
    }
    return out;
  }

  isSpecial(id: number): boolean {
    return id < N_SPECIAL;
  }
}

function byCodePoint(a: string, b: string): number {
  return (a.codePointAt(0) ?? 0) - (b.codePointAt(0) ?? 0);
}
