import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { DataError } from '../../../common/errors.js';
import {
  formatTldrPrompt,
  loadHhRlhf,
  loadTldrComparisons,
  loadTldrSft,
  splitHhDialogue,
} from '../../../tasks/loaders.js';

const fixture = (name: string) => fileURLToPath(new URL(`../../fixtures/${name}`, import.meta.url));

/** Stand-in for the storage layer's readLines(uri). */
function fileLines(path: string): AsyncIterable<string> {
  return createInterface({ input: createReadStream(path), crlfDelay: Infinity });
}

async function* memLines(lines: string[]): AsyncGenerator<string> {
  yield* lines;
}

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

/** Expects a DataError at source:line naming field, whose message matches re. */
async function rejectsAt(p: Promise<unknown>, source: string, line: number, field: string | undefined, re: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof DataError, `expected a DataError, got ${e}`);
    assert.equal(e.file, source);
    assert.equal(e.line, line);
    assert.equal(e.field, field);
    assert.ok(e.message.startsWith(`${source}:${line}: ${field !== undefined ? `field "${field}": ` : ''}`), e.message);
    assert.match(e.message, re);
    return true;
  });
}

const H = '\n\nHuman: ';
const A = '\n\nAssistant:';

describe('splitHhDialogue', () => {
  it('splits after the last assistant tag, keeping the response verbatim', () => {
    const text = `${H}Hi${A} Hello!${H}Joke?${A} No.`;
    assert.deepEqual(splitHhDialogue(text), { prompt: `${H}Hi${A} Hello!${H}Joke?${A}`, response: ' No.' });
    assert.equal(splitHhDialogue(`${H}Hi`), null);
  });
});

describe('loadHhRlhf', () => {
  it('reads the fixture: shared prompt, final assistant turns, line-numbered ids', async () => {
    const src = fixture('hh-rlhf.jsonl');
    const rows = await collect(loadHhRlhf(fileLines(src), src));
    assert.equal(rows.length, 3);
    assert.deepEqual(rows[0], {
      id: 'hh-rlhf.jsonl-L1',
      prompt: `${H}What is a good name for a cat?${A}`,
      chosen: ' Whiskers is a classic.',
      rejected: " I don't know.",
      source: src,
      line: 1,
    });
    // line 2 is blank: the second record is on line 3, and its prompt spans two turns
    assert.equal(rows[1]!.line, 3);
    assert.equal(rows[1]!.prompt, `${H}Hi${A} Hello! How can I help?${H}Tell me a joke.${A}`);
    assert.equal(rows[1]!.rejected, ' No.');
    // an empty final assistant turn is allowed
    assert.equal(rows[2]!.rejected, '');
    assert.equal(rows[2]!.id, 'hh-rlhf.jsonl-L4');
  });

  it('honours idPrefix and CRLF line endings', async () => {
    const rec = JSON.stringify({ chosen: `${H}a${A} b`, rejected: `${H}a${A} c` });
    const rows = await collect(loadHhRlhf(memLines([`${rec}\r`, '\r', `${rec}\r`]), 's3://bucket/hh/train.jsonl', { idPrefix: 'hh' }));
    assert.deepEqual(rows.map((r) => [r.id, r.chosen]), [['hh-L1', ' b'], ['hh-L3', ' b']]);
  });

  it('uses the base name of a URI for ids by default', async () => {
    const rec = JSON.stringify({ chosen: `${H}a${A} b`, rejected: `${H}a${A} c` });
    const [row] = await collect(loadHhRlhf(memLines([rec]), 's3://bucket/hh/train.jsonl'));
    assert.equal(row!.id, 'train.jsonl-L1');
  });

  it('reports a prompt mismatch at its line (fixture)', async () => {
    const src = fixture('hh-rlhf-prompt-mismatch.jsonl');
    // "Name a colour." vs "Name a color.": first difference after "\n\nHuman: Name a colo" = 9 + 11 = 20 characters
    await rejectsAt(collect(loadHhRlhf(fileLines(src), src)), src, 3, 'rejected', /prompt differs from the prompt of "chosen" \(first difference at character 20\)/);
  });

  const good = { chosen: `${H}a${A} b`, rejected: `${H}a${A} c` };
  const cases: [string, string, string | undefined, RegExp][] = [
    ['invalid JSON', '{"chosen": ', undefined, /invalid JSON/],
    ['a non-object', '[1, 2]', undefined, /expected a JSON object, got an array/],
    ['missing chosen', JSON.stringify({ rejected: good.rejected }), 'chosen', /missing: expected a string/],
    ['a non-string chosen', JSON.stringify({ ...good, chosen: 5 }), 'chosen', /expected a string, got number 5/],
    ['a null rejected', JSON.stringify({ ...good, rejected: null }), 'rejected', /expected a string, got null/],
    ['chosen without an assistant turn', JSON.stringify({ ...good, chosen: `${H}a` }), 'chosen', /expected a dialogue with an "\\n\\nAssistant:" turn/],
    ['rejected without an assistant turn', JSON.stringify({ ...good, rejected: 'plain text' }), 'rejected', /Assistant/],
  ];
  for (const [what, bad, field, re] of cases) {
    it(`rejects ${what} with source, line and field`, async () => {
      // the bad record sits on line 4, after a good record and two blank lines
      const lines = [JSON.stringify(good), '', '   ', bad];
      await rejectsAt(collect(loadHhRlhf(memLines(lines), 'data.jsonl')), 'data.jsonl', 4, field, re);
    });
  }

  it('streams: records before a bad line are delivered first', async () => {
    const seen: string[] = [];
    const lines = [JSON.stringify(good), 'not json'];
    await assert.rejects(async () => {
      for await (const r of loadHhRlhf(memLines(lines), 'd.jsonl')) seen.push(r.id);
    }, DataError);
    assert.deepEqual(seen, ['d.jsonl-L1']);
  });
});

describe('formatTldrPrompt', () => {
  it('uses the summarize-from-feedback layout, omitting absent parts', () => {
    assert.equal(formatTldrPrompt({ post: 'P', title: 'T', subreddit: 'S' }), 'SUBREDDIT: r/S\n\nTITLE: T\n\nPOST: P\n\nTL;DR:');
    assert.equal(formatTldrPrompt({ post: 'P' }), 'POST: P\n\nTL;DR:');
  });
});

describe('loadTldrSft', () => {
  it('reads post- and prompt-shaped records (fixture)', async () => {
    const src = fixture('tldr-sft.jsonl');
    const rows = await collect(loadTldrSft(fileLines(src), src));
    assert.deepEqual(
      rows.map(({ id, prompt, response, line }) => ({ id, prompt, response, line })),
      [
        {
          id: 'tldr-sft.jsonl-L1',
          prompt:
            "SUBREDDIT: r/relationships\n\nTITLE: Roommate food problem\n\nPOST: My roommate keeps eating my food and I don't know how to bring it up.\n\nTL;DR:",
          response: 'roommate eats my food, how do I talk about it?',
          line: 1,
        },
        { id: 'tldr-sft.jsonl-L2', prompt: 'SUBREDDIT: r/cooking\n\nPOST: Burned rice again.\n\nTL;DR:', response: 'rice burns, help', line: 2 },
        // subreddit null counts as absent
        { id: 'tldr-sft.jsonl-L3', prompt: 'POST: Started running, knees hurt.\n\nTL;DR:', response: 'new runner with sore knees', line: 3 },
      ],
    );
  });

  it('prefers "prompt" over "post" when both are present', async () => {
    const [row] = await collect(loadTldrSft(memLines([JSON.stringify({ prompt: 'X', post: 'Y', summary: 'Z' })]), 'x.jsonl'));
    assert.equal(row!.prompt, 'X');
  });

  it('reports a non-string summary at its line (fixture)', async () => {
    const src = fixture('tldr-sft-bad.jsonl');
    await rejectsAt(collect(loadTldrSft(fileLines(src), src)), src, 3, 'summary', /expected a string, got number 42/);
  });

  const cases: [string, unknown, string | undefined, RegExp][] = [
    ['neither prompt nor post', { summary: 's' }, 'prompt', /missing: expected "prompt" or "post"/],
    ['a non-string post', { post: ['p'], summary: 's' }, 'post', /expected a string, got an array/],
    ['a non-string prompt', { prompt: {}, summary: 's' }, 'prompt', /expected a string, got an object/],
    ['a missing summary', { post: 'p' }, 'summary', /missing: expected a string/],
    ['a non-string title', { post: 'p', title: 3, summary: 's' }, 'title', /expected a string, got number 3/],
    ['a non-string subreddit', { post: 'p', subreddit: true, summary: 's' }, 'subreddit', /got boolean true/],
  ];
  for (const [what, rec, field, re] of cases) {
    it(`rejects ${what}`, async () => {
      await rejectsAt(collect(loadTldrSft(memLines(['', JSON.stringify(rec)]), 'sft.jsonl')), 'sft.jsonl', 2, field, re);
    });
  }
});

describe('loadTldrComparisons', () => {
  it('reads info- and prompt-shaped comparisons, choice picking chosen (fixture)', async () => {
    const src = fixture('tldr-comparisons.jsonl');
    const rows = await collect(loadTldrComparisons(fileLines(src), src));
    assert.deepEqual(rows, [
      {
        id: 'tldr-comparisons.jsonl-L1',
        prompt: 'SUBREDDIT: r/dogs\n\nTITLE: Barking dog\n\nPOST: I adopted a dog that barks all night.\n\nTL;DR:',
        chosen: 'dog barks at night',
        rejected: 'I have a dog',
        source: src,
        line: 1,
      },
      {
        id: 'tldr-comparisons.jsonl-L2',
        prompt: 'POST: Lost my keys twice this week.\n\nTL;DR:',
        chosen: 'keep losing my keys',
        rejected: 'keys',
        source: src,
        line: 2,
      },
    ]);
  });

  it('reports choice 2 at its line (fixture)', async () => {
    const src = fixture('tldr-comparisons-bad.jsonl');
    await rejectsAt(collect(loadTldrComparisons(fileLines(src), src)), src, 2, 'choice', /expected 0 or 1, got number 2/);
  });

  const ok = { prompt: 'P', summaries: [{ text: 'a' }, { text: 'b' }], choice: 0 };
  const cases: [string, unknown, string | undefined, RegExp][] = [
    ['neither prompt nor info', { summaries: ok.summaries, choice: 0 }, 'prompt', /missing: expected "prompt" or "info"/],
    ['a non-object info', { ...ok, prompt: undefined, info: 'x' }, 'info', /expected an object, got string "x"/],
    ['info without a post', { summaries: ok.summaries, choice: 0, info: { title: 't' } }, 'info.post', /missing: expected a string/],
    ['info with a non-string title', { summaries: ok.summaries, choice: 0, info: { post: 'p', title: 1 } }, 'info.title', /got number 1/],
    ['summaries not an array', { ...ok, summaries: { text: 'a' } }, 'summaries', /expected an array of 2 summaries, got an object/],
    ['missing summaries', { prompt: 'P', choice: 0 }, 'summaries', /got nothing/],
    ['three summaries', { ...ok, summaries: [{ text: 'a' }, { text: 'b' }, { text: 'c' }] }, 'summaries', /exactly 2 summaries, got 3/],
    ['a summary that is not an object', { ...ok, summaries: [{ text: 'a' }, 'b'] }, 'summaries[1]', /expected an object with a "text" string/],
    ['a summary without text', { ...ok, summaries: [{ txt: 'a' }, { text: 'b' }] }, 'summaries[0].text', /missing: expected a string/],
    ['a string choice', { ...ok, choice: '1' }, 'choice', /expected 0 or 1, got string "1"/],
    ['a missing choice', { prompt: 'P', summaries: ok.summaries }, 'choice', /expected 0 or 1, got nothing/],
  ];
  for (const [what, rec, field, re] of cases) {
    it(`rejects ${what}`, async () => {
      const lines = [JSON.stringify(ok), JSON.stringify(ok), JSON.stringify(rec)];
      await rejectsAt(collect(loadTldrComparisons(memLines(lines), 'cmp.jsonl')), 'cmp.jsonl', 3, field, re);
    });
  }
});
