// file:// store: the embedded default. Atomic writes by write-to-temp then
// rename in the same directory; a crash leaves at most a `.tmp-*` file that
// list() ignores.
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, stat, unlink } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { NotFoundError, StorageError } from '../common/errors.js';
import { validateKey, validatePrefix } from './keys.js';
import type { ArtifactStore, Body, ObjectInfo, PutResult } from './types.js';

const TMP_MARK = '.tmp-';

export class FileStore implements ArtifactStore {
  readonly root: string;

  constructor(readonly dir: string) {
    this.root = pathToFileURL(dir).href;
  }

  uri(key: string): string {
    return `${this.root.replace(/\/$/, '')}/${validateKey(key)}`;
  }

  private path(key: string): string {
    return join(this.dir, ...validateKey(key).split('/'));
  }

  private wrap(err: unknown, key: string): never {
    const e = err as NodeJS.ErrnoException;
    if (e?.code === 'ENOENT') throw new NotFoundError(`no object at ${this.uri(key)}`, this.uri(key));
    if (e?.code === 'EACCES' || e?.code === 'EPERM' || e?.code === 'EROFS') {
      throw new StorageError(`access denied writing or reading ${this.uri(key)}: ${e.message}`, this.uri(key), true, { cause: err });
    }
    if (e?.code === 'ENOSPC') throw new StorageError(`no space left on device for ${this.uri(key)}`, this.uri(key), false, { cause: err });
    throw new StorageError(`file store error at ${this.uri(key)}: ${e?.message ?? String(err)}`, this.uri(key), false, { cause: err });
  }

  private tmpPath(path: string): string {
    return `${path}${TMP_MARK}${randomBytes(6).toString('hex')}`;
  }

  async put(key: string, body: Body): Promise<PutResult> {
    const path = this.path(key);
    const bytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
    const tmp = this.tmpPath(path);
    try {
      await mkdir(dirname(path), { recursive: true });
      const fh = await open(tmp, 'w');
      try {
        await fh.writeFile(bytes);
        await fh.sync();
      } finally {
        await fh.close();
      }
      await rename(tmp, path);
    } catch (err) {
      await unlink(tmp).catch(() => {});
      this.wrap(err, key);
    }
    return { key, uri: this.uri(key), size: bytes.byteLength, sha256: createHash('sha256').update(bytes).digest('hex') };
  }

  async putStream(key: string, body: Readable | AsyncIterable<Uint8Array>): Promise<PutResult> {
    const path = this.path(key);
    const tmp = this.tmpPath(path);
    const hash = createHash('sha256');
    let size = 0;
    try {
      await mkdir(dirname(path), { recursive: true });
      await pipeline(
        body,
        async function* (source: AsyncIterable<Uint8Array | string>) {
          for await (const chunk of source) {
            const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
            hash.update(buf);
            size += buf.byteLength;
            yield buf;
          }
        },
        createWriteStream(tmp),
      );
      const fh = await open(tmp, 'r+');
      await fh.sync().finally(() => fh.close());
      await rename(tmp, path);
    } catch (err) {
      await unlink(tmp).catch(() => {});
      this.wrap(err, key);
    }
    return { key, uri: this.uri(key), size, sha256: hash.digest('hex') };
  }

  async get(key: string): Promise<Uint8Array> {
    try {
      return new Uint8Array(await readFile(this.path(key)));
    } catch (err) {
      this.wrap(err, key);
    }
  }

  async getStream(key: string): Promise<Readable> {
    const path = this.path(key);
    try {
      await stat(path);
    } catch (err) {
      this.wrap(err, key);
    }
    return createReadStream(path);
  }

  async head(key: string): Promise<ObjectInfo | null> {
    try {
      const st = await stat(this.path(key));
      if (!st.isFile()) return null;
      return { key, uri: this.uri(key), size: st.size, lastModified: st.mtime };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return null;
      this.wrap(err, key);
    }
  }

  async exists(key: string): Promise<boolean> {
    return (await this.head(key)) !== null;
  }

  async list(prefix: string): Promise<ObjectInfo[]> {
    validatePrefix(prefix);
    // Walk only the deepest directory the prefix names, then filter by the string prefix.
    const dirPart = prefix.includes('/') ? prefix.slice(0, prefix.lastIndexOf('/')) : '';
    const start = dirPart ? join(this.dir, ...dirPart.split('/')) : this.dir;
    const out: ObjectInfo[] = [];
    const walk = async (dir: string): Promise<void> => {
      let entries;
      try {
        entries = await readdir(dir, { withFileTypes: true });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return;
        throw err;
      }
      for (const ent of entries) {
        const full = join(dir, ent.name);
        if (ent.isDirectory()) await walk(full);
        else if (ent.isFile() && !ent.name.includes(TMP_MARK)) {
          const key = relative(this.dir, full).split(sep).join('/');
          if (!key.startsWith(prefix)) continue;
          const st = await stat(full).catch(() => null);
          if (st) out.push({ key, uri: this.uri(key), size: st.size, lastModified: st.mtime });
        }
      }
    };
    await walk(start);
    return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  async delete(key: string): Promise<void> {
    await rm(this.path(key), { force: true });
  }

  async deletePrefix(prefix: string): Promise<number> {
    const objs = await this.list(prefix);
    for (const o of objs) await this.delete(o.key);
    return objs.length;
  }

  async check(): Promise<void> {
    try {
      await mkdir(this.dir, { recursive: true });
      const probe = join(this.dir, `.crlhf-check${TMP_MARK}${randomBytes(4).toString('hex')}`);
      await (await open(probe, 'w')).close();
      await unlink(probe);
    } catch (err) {
      throw new StorageError(`store ${this.root} is not writable: ${(err as Error).message}`, this.root, true, { cause: err });
    }
  }
}
