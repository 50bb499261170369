// Real servers for integration tests: each test file starts its own under a
// temporary state directory (ports chosen free, bound to 127.0.0.1) and stops
// them when done.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { s3Env, startS3Server, startTemporalServer, stopServer, type ServerRecord } from '../../infra/servers.js';

export interface TestServer {
  rec: ServerRecord;
  stateDir: string;
  stop(): Promise<void>;
}

export async function tempDir(prefix = 'crlhf-test-'): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

export async function startTestS3(): Promise<TestServer & { env: Record<string, string>; createBucket(name: string): Promise<void> }> {
  const stateDir = await tempDir('crlhf-s3-');
  const rec = await startS3Server({ stateDir });
  const env = s3Env(rec);
  const client = new S3Client({
    endpoint: env.AWS_ENDPOINT_URL_S3,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: env.AWS_ACCESS_KEY_ID!, secretAccessKey: env.AWS_SECRET_ACCESS_KEY! },
  });
  return {
    rec,
    stateDir,
    env,
    async createBucket(name: string) {
      await client.send(new CreateBucketCommand({ Bucket: name }));
    },
    async stop() {
      client.destroy();
      await stopServer(stateDir, 's3');
      await rm(stateDir, { recursive: true, force: true });
    },
  };
}

/** Points this process's AWS SDK environment at a test S3 server. */
export function useS3Env(env: Record<string, string>): void {
  Object.assign(process.env, env);
}

export async function startTestTemporal(opts: { stateDir?: string; port?: number } = {}): Promise<TestServer & { address: string }> {
  const stateDir = opts.stateDir ?? (await tempDir('crlhf-temporal-'));
  const rec = await startTemporalServer({ stateDir, port: opts.port, preferDefaultPorts: false, headless: true });
  return {
    rec,
    stateDir,
    address: `${rec.host}:${rec.port}`,
    async stop() {
      await stopServer(stateDir, 'temporal');
    },
  };
}
