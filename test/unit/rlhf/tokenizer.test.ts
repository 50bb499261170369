import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Tokenizer, PAD, BOS, EOS, SEP, UNK } from '../../../rlhf/tokenizer.js';

test('ids: specials first (PAD=0), then the corpus characters sorted by code point', () => {
  assert.deepEqual([PAD, BOS, EOS, SEP, UNK], [0, 1, 2, 3, 4]);
  const tok = Tokenizer.fit(['banana', 'cab!']);
  assert.deepEqual(tok.toJSON().chars, ['!', 'a', 'b', 'c', 'n']);
  assert.equal(tok.vocabSize, 10);
  assert.deepEqual(tok.encode('cab'), [8, 6, 7]);
  // Order of the corpus does not matter.
  assert.deepEqual(Tokenizer.fit(['cab!', 'banana']).toJSON(), tok.toJSON());
});

test('encode/decode round trip, with BOS/EOS, unknown characters and non-BMP characters', () => {
  const corpus = ['hello world', 'naïve café 🙂'];
  const tok = Tokenizer.fit(corpus);
  for (const text of corpus) assert.equal(tok.decode(tok.encode(text)), text);
  const ids = tok.encode('hi🙂', { bos: true, eos: true });
  assert.equal(ids[0], BOS);
  assert.equal(ids.at(-1), EOS);
  assert.equal(ids.length, 5); // the emoji is one token
  assert.equal(ids[2], UNK); // 'i' is not in the corpus
  assert.equal(tok.decode(ids), 'h🙂');
  assert.equal(tok.decode(ids, { skipSpecial: false }), '<bos>h<unk>🙂<eos>');
  assert.equal(tok.decode([PAD, SEP, PAD], { skipSpecial: false }), '<pad><sep><pad>');
  assert.throws(() => tok.decode([tok.vocabSize]), RangeError);
});

test('toJSON / fromJSON give an identical tokenizer', () => {
  const tok = Tokenizer.fit(['abc', 'xyz'], { extraChars: ['0123'] });
  const back = Tokenizer.fromJSON(JSON.parse(JSON.stringify(tok)));
  assert.equal(back.vocabSize, tok.vocabSize);
  assert.deepEqual(back.encode('a0z?'), tok.encode('a0z?'));
  assert.deepEqual(back.toJSON(), tok.toJSON());
  assert.throws(() => Tokenizer.fromJSON({ ...tok.toJSON(), specials: ['<pad>'] }));
});

test('minFreq maps rare characters to UNK', () => {
  const tok = Tokenizer.fit(['aab'], { minFreq: 2 });
  assert.deepEqual(tok.toJSON().chars, ['a']);
  assert.deepEqual(tok.encode('ab'), [5, UNK]);
});
