// s3:// store over any S3-compatible server. Endpoint, region and credentials
// come from the AWS SDK's standard chain (AWS_ENDPOINT_URL_S3,
// AWS_ACCESS_KEY_ID, ~/.aws/config, ...), never from workflow inputs.
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import {
  DeleteObjectsCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { NotFoundError, StorageError } from '../common/errors.js';
import { joinKey, validateKey, validatePrefix } from './keys.js';
import type { ArtifactStore, Body, ObjectInfo, PutResult } from './types.js';

// The SDK version is pinned; its notice about future versions needing Node 22 is noise for users.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

/** Objects above this size go up as multipart uploads. */
export const MULTIPART_THRESHOLD = 8 * 1024 * 1024;
const PART_SIZE = 8 * 1024 * 1024;

const clients = new Map<string, S3Client>();

/** One client per process (connection reuse); configuration from the environment. */
export function s3Client(): S3Client {
  const endpoint = process.env.AWS_ENDPOINT_URL_S3 ?? process.env.AWS_ENDPOINT_URL;
  const pathStyleEnv = process.env.CRLHF_S3_FORCE_PATH_STYLE;
  // Most S3-compatible servers need path-style addressing; AWS itself prefers virtual-hosted.
  const forcePathStyle = pathStyleEnv !== undefined ? pathStyleEnv !== '0' && pathStyleEnv !== 'false' : Boolean(endpoint);
  const cacheKey = `${endpoint}|${forcePathStyle}|${process.env.AWS_ACCESS_KEY_ID ?? ''}`;
  let client = clients.get(cacheKey);
  if (!client) {
    const cfg: S3ClientConfig = {
      forcePathStyle,
      region: process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? 'us-east-1',
      maxAttempts: Number(process.env.AWS_MAX_ATTEMPTS ?? 5),
      // Our own SHA-256 digests protect content; SDK-default CRC checksums are
      // not supported by every S3-compatible server and break unknown-length streams.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    };
    if (endpoint) cfg.endpoint = endpoint;
    client = new S3Client(cfg);
    clients.set(cacheKey, client);
  }
  return client;
}

interface AwsError {
  name?: string;
  code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
}

export class S3Store implements ArtifactStore {
  readonly root: string;
  private readonly client: S3Client;

  constructor(
    readonly bucket: string,
    readonly prefix: string,
    client?: S3Client,
  ) {
    this.root = `s3://${bucket}${prefix ? `/${prefix}` : ''}`;
    this.client = client ?? s3Client();
  }

  uri(key: string): string {
    return `${this.root}/${validateKey(key)}`;
  }

  private objectKey(key: string): string {
    return joinKey(this.prefix, validateKey(key));
  }

  private fail(err: unknown, target: string): never {
    const e = err as AwsError;
    const status = e.$metadata?.httpStatusCode;
    const name = e.name ?? e.code ?? '';
    if (name === 'NoSuchBucket') {
      throw new StorageError(`bucket "${this.bucket}" does not exist (${target})`, target, true, { cause: err });
    }
    if (name === 'NoSuchKey' || (name === 'NotFound' && status === 404)) throw new NotFoundError(`no object at ${target}`, target);
    // XAdminUserNotFound: the Versity gateway's answer (HTTP 404) to an unknown access key.
    if (['AccessDenied', 'InvalidAccessKeyId', 'SignatureDoesNotMatch', 'Forbidden', 'InvalidToken', 'ExpiredToken', 'XAdminUserNotFound'].includes(name) || status === 403) {
      throw new StorageError(
        `access denied to ${target} (${name || status}): check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or the bucket policy`,
        target,
        true,
        { cause: err },
      );
    }
    if (status === 404) {
      throw new StorageError(`bucket "${this.bucket}" does not exist (${target})`, target, true, { cause: err });
    }
    throw new StorageError(`S3 error at ${target}: ${name ? `${name}: ` : ''}${e.message ?? String(err)}`, target, false, { cause: err });
  }

  async put(key: string, body: Body, opts?: { contentType?: string }): Promise<PutResult> {
    const bytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    if (bytes.byteLength > MULTIPART_THRESHOLD) {
      await this.upload(key, Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), opts?.contentType, sha256);
    } else {
      try {
        await this.client.send(
          new PutObjectCommand({
            Bucket: this.bucket,
            Key: this.objectKey(key),
            Body: bytes,
            ContentLength: bytes.byteLength,
            ContentType: opts?.contentType,
            Metadata: { sha256 },
          }),
        );
      } catch (err) {
        this.fail(err, this.uri(key));
      }
    }
    return { key, uri: this.uri(key), size: bytes.byteLength, sha256 };
  }

  private async upload(key: string, body: Buffer | Readable, contentType?: string, sha256?: string): Promise<void> {
    try {
      const up = new Upload({
        client: this.client,
        params: {
          Bucket: this.bucket,
          Key: this.objectKey(key),
          Body: body,
          ContentType: contentType,
          ...(sha256 ? { Metadata: { sha256 } } : {}),
        },
        partSize: PART_SIZE,
        queueSize: 2,
        leavePartsOnError: false,
      });
      await up.done();
    } catch (err) {
      this.fail(err, this.uri(key));
    }
  }

  async putStream(key: string, body: Readable | AsyncIterable<Uint8Array>, opts?: { contentType?: string }): Promise<PutResult> {
    const hash = createHash('sha256');
    let size = 0;
    const counted = Readable.from(
      (async function* () {
        for await (const chunk of body as AsyncIterable<Uint8Array | string>) {
          const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
          hash.update(buf);
          size += buf.byteLength;
          yield buf;
        }
      })(),
    );
    await this.upload(key, counted, opts?.contentType);
    return { key, uri: this.uri(key), size, sha256: hash.digest('hex') };
  }

  async get(key: string): Promise<Uint8Array> {
    try {
      const res = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key) }));
      return await res.Body!.transformToByteArray();
    } catch (err) {
      this.fail(err, this.uri(key));
    }
  }

  async getStream(key: string): Promise<Readable> {
    try {
      const res = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key) }));
      return res.Body as Readable;
    } catch (err) {
      this.fail(err, this.uri(key));
    }
  }

  async head(key: string): Promise<ObjectInfo | null> {
    try {
      const res = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key) }));
      return { key, uri: this.uri(key), size: res.ContentLength ?? 0, lastModified: res.LastModified };
    } catch (err) {
      const e = err as AwsError;
      if ((e.name === 'NotFound' || e.name === 'NoSuchKey') && e.$metadata?.httpStatusCode === 404) {
        // HEAD has no body, so a missing bucket also reads as 404 NotFound: tell them apart.
        await this.check();
        return null;
      }
      this.fail(err, this.uri(key));
    }
  }

  async exists(key: string): Promise<boolean> {
    return (await this.head(key)) !== null;
  }

  async list(prefix: string): Promise<ObjectInfo[]> {
    validatePrefix(prefix);
    const full = this.prefix ? `${this.prefix}/${prefix}` : prefix;
    const strip = this.prefix ? this.prefix.length + 1 : 0;
    const out: ObjectInfo[] = [];
    let token: string | undefined;
    try {
      do {
        const res = await this.client.send(
          new ListObjectsV2Command({ Bucket: this.bucket, Prefix: full, ContinuationToken: token }),
        );
        for (const o of res.Contents ?? []) {
          const key = o.Key!.slice(strip);
          out.push({ key, uri: this.uri(key), size: o.Size ?? 0, lastModified: o.LastModified });
        }
        token = res.IsTruncated ? res.NextContinuationToken : undefined;
      } while (token);
    } catch (err) {
      this.fail(err, `${this.root}/${prefix}`);
    }
    return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  async delete(key: string): Promise<void> {
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key) }));
    } catch (err) {
      this.fail(err, this.uri(key));
    }
  }

  async deletePrefix(prefix: string): Promise<number> {
    const objs = await this.list(prefix);
    for (let i = 0; i < objs.length; i += 1000) {
      const batch = objs.slice(i, i + 1000);
      try {
        await this.client.send(
          new DeleteObjectsCommand({
            Bucket: this.bucket,
            Delete: { Objects: batch.map((o) => ({ Key: this.objectKey(o.key) })), Quiet: true },
          }),
        );
      } catch (err) {
        this.fail(err, `${this.root}/${prefix}`);
      }
    }
    return objs.length;
  }

  async check(): Promise<void> {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.bucket }));
    } catch (err) {
      // HEAD responses have no body, so a missing bucket arrives as a bare 404 "NotFound".
      if ((err as AwsError).$metadata?.httpStatusCode === 404 && (err as AwsError).name === 'NotFound') {
        throw new StorageError(`bucket "${this.bucket}" does not exist (${this.root})`, this.root, true, { cause: err });
      }
      this.fail(err, this.root);
    }
  }
}
