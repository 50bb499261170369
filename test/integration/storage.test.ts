// The same suite against the file:// store and a real S3-compatible server
// (Versity S3 gateway started for this file).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer, type AddressInfo } from 'node:net';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { S3Client } from '@aws-sdk/client-s3';
import { ConfigError, NotFoundError, StorageError } from '../../common/errors.js';
import { REPO_ROOT } from '../../common/dirs.js';
import {
  commitCheckpoint,
  CorruptCheckpointError,
  FileStore,
  getJson,
  listCheckpoints,
  loadCheckpoint,
  loadLatestCheckpoint,
  openStore,
  pruneCheckpoints,
  putJson,
  putJsonl,
  readJsonl,
  S3Store,
  sha256Hex,
  type ArtifactStore,
} from '../../storage/index.js';
import { startS3Server } from '../../infra/servers.js';
import { startTestS3, tempDir, useS3Env } from '../helpers/servers.js';

type S3Server = Awaited<ReturnType<typeof startTestS3>>;
let s3: S3Server;
let fileDir: string;

before(async () => {
  s3 = await startTestS3();
  useS3Env(s3.env);
  await s3.createBucket('crlhf-test');
  fileDir = await tempDir('crlhf-store-');
});

after(async () => {
  await s3?.stop();
  if (fileDir) await rm(fileDir, { recursive: true, force: true });
});

function storeUris(): Record<string, () => string> {
  return {
    file: () => `file://${fileDir}/root`,
    s3: () => 's3://crlhf-test/some/prefix',
  };
}

async function killWriterBetweenObjects(uri: string, prefix: string, step: number, stopAfter: number): Promise<void> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'test/helpers/checkpoint-writer.ts'), uri, prefix, String(step), String(stopAfter)], {
    cwd: REPO_ROOT,
    env: process.env,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes(`WROTE ${stopAfter}`)) {
        child.kill('SIGKILL');
        resolve();
      }
      if (out.includes('COMMITTED')) reject(new Error('writer committed before being killed'));
    });
    child.on('error', reject);
  });
  await new Promise((r) => child.once('exit', r));
}

for (const [kind, uriOf] of Object.entries(storeUris())) {
  describe(`${kind} store`, () => {
    let store: ArtifactStore;
    before(() => {
      store = openStore(uriOf());
    });

    test('round-trips bytes, strings and JSON', async () => {
      const bytes = randomBytes(1000);
      const res = await store.put('a/b/bytes.bin', bytes);
      assert.equal(res.size, 1000);
      assert.equal(res.sha256, sha256Hex(bytes));
      assert.equal(res.uri, `${store.root}/a/b/bytes.bin`);
      assert.deepEqual(Buffer.from(await store.get('a/b/bytes.bin')), bytes);
      await store.put('a/text.txt', 'héllo');
      assert.equal(new TextDecoder().decode(await store.get('a/text.txt')), 'héllo');
      await putJson(store, 'a/obj.json', { x: 1, y: [1, 2] });
      assert.deepEqual(await getJson(store, 'a/obj.json'), { x: 1, y: [1, 2] });
    });

    test('overwrites atomically and reports head/exists', async () => {
      await store.put('h/obj', 'one');
      await store.put('h/obj', 'two!');
      assert.equal(new TextDecoder().decode(await store.get('h/obj')), 'two!');
      const head = await store.head('h/obj');
      assert.equal(head?.size, 4);
      assert.equal(await store.exists('h/obj'), true);
      assert.equal(await store.exists('h/missing'), false);
      assert.equal(await store.head('h/missing'), null);
    });

    test('streams JSONL in and out', async () => {
      const rows = Array.from({ length: 500 }, (_, i) => ({ i, text: `row ${i}` }));
      const res = await putJsonl(store, 'j/rows.jsonl', rows);
      assert.ok(res.size > 0);
      const back: unknown[] = [];
      for await (const r of readJsonl(store, 'j/rows.jsonl')) back.push(r);
      assert.deepEqual(back, rows);
      await store.put('j/bad.jsonl', '{"ok":1}\n\n{"broken": \n');
      await assert.rejects(
        async () => {
          for await (const _ of readJsonl(store, 'j/bad.jsonl')) void _;
        },
        (err: Error) => err.message.includes('bad.jsonl:3') && err.name === 'DataError',
      );
    });

    test('lists by prefix, sorted, and deletes', async () => {
      for (const k of ['l/x/1', 'l/x/2', 'l/xy/3', 'l/z/4']) await store.put(k, k);
      assert.deepEqual((await store.list('l/x/')).map((o) => o.key), ['l/x/1', 'l/x/2']);
      assert.deepEqual((await store.list('l/x')).map((o) => o.key), ['l/x/1', 'l/x/2', 'l/xy/3']);
      assert.deepEqual((await store.list('l/nothing/')).map((o) => o.key), []);
      await store.delete('l/x/1');
      assert.deepEqual((await store.list('l/x/')).map((o) => o.key), ['l/x/2']);
      assert.equal(await store.deletePrefix('l/'), 3);
      assert.deepEqual(await store.list('l/'), []);
    });

    test('a missing key is a NotFoundError naming the URI', async () => {
      await assert.rejects(store.get('nope/missing.bin'), (err: Error) => err instanceof NotFoundError && err.message.includes(`${store.root}/nope/missing.bin`));
    });

    test('rejects keys that could escape the store', async () => {
      for (const bad of ['../etc/passwd', 'a/../../b', '/abs', 'a//b', 'a/./b', 'sp ace']) {
        await assert.rejects(store.put(bad, 'x'), ConfigError, bad);
      }
    });

    test('uploads large objects in parts (>= 20 MB) and streams of unknown length', async () => {
      const big = randomBytes(21 * 1024 * 1024);
      const res = await store.put('big/buffer.bin', big);
      assert.equal(res.size, big.length);
      const back = await store.get('big/buffer.bin');
      assert.equal(sha256Hex(back), sha256Hex(big));
      const chunks = Array.from({ length: 22 }, (_, i) => randomBytes(1024 * 1024 + i));
      const streamed = await store.putStream('big/stream.bin', Readable.from(chunks));
      const expected = Buffer.concat(chunks);
      assert.equal(streamed.size, expected.length);
      assert.equal(streamed.sha256, sha256Hex(expected));
      assert.equal(sha256Hex(await store.get('big/stream.bin')), sha256Hex(expected));
      await store.deletePrefix('big/');
    });

    test('commits checkpoints atomically and loads the newest verified one', async () => {
      const files = { 'weights.bin': new Uint8Array([1, 2, 3, 4]), 'state.json': new TextEncoder().encode('{"step":1}') };
      const m1 = await commitCheckpoint(store, 'ckpt/run1', { step: 1, configHash: 'h1', files, meta: { arm: 'ppo' } });
      assert.equal(m1.files.length, 2);
      const loaded = await loadCheckpoint(store, m1.dir);
      assert.deepEqual([...loaded.files['weights.bin']!], [1, 2, 3, 4]);
      assert.equal(loaded.manifest.meta.arm, 'ppo');
      await commitCheckpoint(store, 'ckpt/run1', { step: 2, configHash: 'h1', files });
      assert.deepEqual((await listCheckpoints(store, 'ckpt/run1')).map((m) => m.step), [2, 1]);
      assert.equal((await loadLatestCheckpoint(store, 'ckpt/run1'))?.manifest.step, 2);
    });

    test('a writer killed between objects leaves no visible checkpoint', async () => {
      await commitCheckpoint(store, 'ckpt/kill', { step: 5, configHash: 'h', files: { 'a.bin': new Uint8Array([5]) } });
      await killWriterBetweenObjects(store.root, 'ckpt/kill', 6, 1);
      // Objects of step 6 were written, but without a manifest it is not a checkpoint.
      assert.ok((await store.list('ckpt/kill/step-00000006/')).length >= 2);
      assert.deepEqual((await listCheckpoints(store, 'ckpt/kill')).map((m) => m.step), [5]);
      assert.equal((await loadLatestCheckpoint(store, 'ckpt/kill'))?.manifest.step, 5);
    });

    test('a corrupted object is detected by its digest and skipped for the previous checkpoint', async () => {
      const files = { 'w.bin': new Uint8Array([9, 9, 9]) };
      await commitCheckpoint(store, 'ckpt/corrupt', { step: 1, configHash: 'h', files });
      const m2 = await commitCheckpoint(store, 'ckpt/corrupt', { step: 2, configHash: 'h', files });
      await store.put(m2.files[0]!.key, new Uint8Array([9, 9, 8]));
      await assert.rejects(loadCheckpoint(store, m2.dir), CorruptCheckpointError);
      const skipped: string[] = [];
      const latest = await loadLatestCheckpoint(store, 'ckpt/corrupt', (dir) => skipped.push(dir));
      assert.equal(latest?.manifest.step, 1);
      assert.deepEqual(skipped, [m2.dir]);
      await pruneCheckpoints(store, 'ckpt/corrupt', 1);
      assert.deepEqual((await listCheckpoints(store, 'ckpt/corrupt')).map((m) => m.step), [2]);
    });
  });
}

describe('clear errors', () => {
  test('malformed URIs name the URI and what was expected', () => {
    assert.throws(() => openStore('ftp://x/y'), (e: Error) => e instanceof ConfigError && /ftp:\/\/x\/y.*file:\/\/\/absolute\/dir or s3:\/\/bucket\/prefix/.test(e.message));
    assert.throws(() => openStore('s3://Bad_Bucket/x'), (e: Error) => e instanceof ConfigError && e.message.includes('Bad_Bucket'));
    assert.throws(() => openStore('s3://bucket/a/../b'), ConfigError);
    assert.throws(() => openStore('file://relative/dir'), ConfigError);
  });

  test('a missing bucket is a permanent StorageError naming it', async () => {
    const store = openStore('s3://no-such-bucket-here/x');
    await assert.rejects(store.put('k', 'v'), (e: Error) => e instanceof StorageError && e.permanent && e.message.includes('no-such-bucket-here') && e.message.includes('does not exist'));
    await assert.rejects(store.head('k'), (e: Error) => e instanceof StorageError && e.message.includes('does not exist'));
    await assert.rejects(store.check(), (e: Error) => e instanceof StorageError && e.message.includes('does not exist'));
  });

  test('wrong credentials are a permanent access-denied StorageError', async () => {
    const client = new S3Client({
      endpoint: s3.env.AWS_ENDPOINT_URL_S3,
      region: 'us-east-1',
      forcePathStyle: true,
      maxAttempts: 1,
      credentials: { accessKeyId: 'wrong', secretAccessKey: 'wrong-secret' },
    });
    const store = new S3Store('crlhf-test', 'p', client);
    await assert.rejects(store.put('k', 'v'), (e: Error) => e instanceof StorageError && e.permanent && /access denied/.test(e.message) && e.message.includes('s3://crlhf-test/p/k'));
    await assert.rejects(store.get('k'), (e: Error) => e instanceof StorageError && /access denied/.test(e.message));
    assert.ok(!String((await store.get('k').catch((e) => e)).message).includes('wrong-secret'));
    client.destroy();
  });

  test('an S3 server that cannot bind its port fails to start with its exit status and log', async () => {
    // A listener that never answers HTTP holds the port, so only the server's exit can end the wait.
    const holder = createServer(() => undefined);
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    const port = (holder.address() as AddressInfo).port;
    const stateDir = await tempDir('crlhf-s3-busy-');
    try {
      await assert.rejects(
        startS3Server({ stateDir, port }),
        (e: Error) => /the s3 server exited during start-up \(exit code 1\)/.test(e.message) && /address already in use/.test(e.message),
      );
    } finally {
      holder.close();
      await rm(stateDir, { recursive: true, force: true });
    }
  });

  test('an unwritable file store is a permanent StorageError', async () => {
    const dir = await tempDir();
    await writeFile(join(dir, 'file'), 'x');
    const store = new FileStore(join(dir, 'file', 'sub'));
    await assert.rejects(store.check(), (e: Error) => e instanceof StorageError && e.message.includes('not writable'));
    await rm(dir, { recursive: true, force: true });
  });
});
