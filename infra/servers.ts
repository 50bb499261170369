// Starts, finds and stops the two local servers the tool can run by itself:
// the Temporal dev server (Temporal CLI) and the Versity S3 gateway. The
// binaries are built by infra/temporal.sh and infra/s3.sh; this module is the
// one place that knows how to run them, shared by the CLI, the shell scripts
// and the tests.
import { spawn, execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, openSync, closeSync, readFileSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { cacheDir, REPO_ROOT } from '../common/dirs.js';

export const TEMPORAL_CLI_VERSION = 'v1.5.1';
export const VERSITYGW_VERSION = 'v1.7.0';

/** Search attributes that make runs findable in `crlhf list` and the Web UI. */
export const SEARCH_ATTRIBUTES = {
  CrlhfExperiment: 'Keyword',
  CrlhfTask: 'Keyword',
  CrlhfArm: 'Keyword',
  CrlhfSweep: 'Keyword',
  CrlhfKind: 'Keyword',
} as const;

export type ServerKind = 'temporal' | 's3';

export interface ServerRecord {
  kind: ServerKind;
  pid: number;
  host: string;
  port: number;
  /** Temporal only. */
  uiPort?: number;
  dbFile?: string;
  /** S3 only: generated per start, kept in a 0600 file under the state directory. */
  dataDir?: string;
  accessKeyId?: string;
  secretAccessKey?: string;
  binary: string;
  version: string;
  logFile: string;
  startedAt: string;
}

export function binaryPath(kind: ServerKind): string {
  return kind === 'temporal'
    ? join(cacheDir(), 'bin', `temporal-${TEMPORAL_CLI_VERSION}`)
    : join(cacheDir(), 'bin', `versitygw-${VERSITYGW_VERSION}`);
}

/** Builds the server binary with its infra script when it is not in the cache yet. */
export async function ensureBinary(kind: ServerKind, say: (msg: string) => void = () => {}): Promise<string> {
  const bin = binaryPath(kind);
  if (existsSync(bin)) return bin;
  say(
    kind === 'temporal'
      ? `The Temporal server is not built yet: building it from the Go module proxy (once, about 6 minutes on 2 cores)...`
      : `The S3 server is not built yet: building it from the Go module proxy (once, about 4 minutes on 2 cores)...`,
  );
  const script = join(REPO_ROOT, 'infra', kind === 'temporal' ? 'temporal.sh' : 's3.sh');
  await new Promise<void>((resolve, reject) => {
    const child = spawn('bash', [script, 'install'], { stdio: ['ignore', 'inherit', 'inherit'] });
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${script} install exited with ${code}`))));
  });
  if (!existsSync(bin)) throw new Error(`${script} install finished but ${bin} is missing`);
  return bin;
}

export async function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, host, () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

async function portAnswers(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect({ host, port });
    sock.setTimeout(1000);
    sock.once('connect', () => {
      sock.destroy();
      resolve(true);
    });
    sock.once('timeout', () => {
      sock.destroy();
      resolve(false);
    });
    sock.once('error', () => resolve(false));
  });
}

async function portFree(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, host, () => srv.close(() => resolve(true)));
  });
}

function recordFile(stateDir: string, kind: ServerKind): string {
  return join(stateDir, kind, 'server.json');
}

/** True when `pid` is alive and is running `binary` (guards against pid reuse). */
function processRuns(pid: number, binary: string): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const argv0 = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0];
    // Empty while the process is inside execve (a server just spawned): the
    // signal check stands. Taking that for an exit once failed a test with a
    // live server left behind.
    return argv0 === '' || argv0 === binary;
  } catch {
    return true; // no /proc (macOS): trust the signal check
  }
}

async function readRecord(stateDir: string, kind: ServerKind): Promise<ServerRecord | null> {
  try {
    return JSON.parse(await readFile(recordFile(stateDir, kind), 'utf8')) as ServerRecord;
  } catch {
    return null;
  }
}

async function writeRecord(stateDir: string, rec: ServerRecord): Promise<void> {
  const file = recordFile(stateDir, rec.kind);
  await writeFile(`${file}.tmp`, JSON.stringify(rec, null, 2), { mode: 0o600 });
  await rename(`${file}.tmp`, file);
}

/** The running server recorded under `stateDir`, or null when none answers. */
export async function serverStatus(stateDir: string, kind: ServerKind): Promise<ServerRecord | null> {
  const rec = await readRecord(stateDir, kind);
  if (!rec) return null;
  if (!processRuns(rec.pid, rec.binary)) return null;
  if (!(await portAnswers(rec.host, rec.port))) return null;
  return rec;
}

function tail(file: string, lines = 15): string {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

interface SpawnSpec {
  kind: ServerKind;
  binary: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
  logFile: string;
}

/** How a server that exited during start-up ended, by pid (seen while this process still watched it). */
const exits = new Map<number, string>();

/** Starts a server detached from this process so it outlives the CLI command that started it. */
function spawnDetached(spec: SpawnSpec): number {
  const fd = openSync(spec.logFile, 'a');
  try {
    const child = spawn(spec.binary, spec.args, {
      detached: true,
      stdio: ['ignore', fd, fd],
      env: { ...process.env, ...spec.env },
    });
    child.unref();
    if (!child.pid) throw new Error(`could not start ${spec.binary}`);
    const pid = child.pid;
    // Unreferenced: the listener keeps nothing alive, it only tells waitReady why a server died.
    child.once('exit', (code, signal) => exits.set(pid, signal ? `signal ${signal}` : `exit code ${code}`));
    return pid;
  } finally {
    closeSync(fd);
  }
}

async function waitReady(
  kind: ServerKind,
  pid: number,
  binary: string,
  logFile: string,
  ready: () => Promise<boolean>,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (exits.has(pid) || !processRuns(pid, binary)) {
      const how = exits.get(pid);
      throw new Error(`the ${kind} server exited during start-up${how ? ` (${how})` : ''}; last lines of ${logFile}:\n${tail(logFile)}`);
    }
    if (await ready()) return;
    await sleep(200);
  }
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    /* already gone */
  }
  throw new Error(`the ${kind} server did not answer within ${timeoutMs / 1000}s; last lines of ${logFile}:\n${tail(logFile)}`);
}

export interface TemporalStartOptions {
  stateDir: string;
  port?: number;
  uiPort?: number;
  /** Default: 7233 and 8233 when free, other free ports otherwise. */
  preferDefaultPorts?: boolean;
  headless?: boolean;
  say?: (msg: string) => void;
}

/** Returns the running Temporal server under `stateDir`, starting one if needed. */
export async function ensureTemporalServer(opts: TemporalStartOptions): Promise<ServerRecord> {
  const running = await serverStatus(opts.stateDir, 'temporal');
  if (running) return running;
  return startTemporalServer(opts);
}

export async function startTemporalServer(opts: TemporalStartOptions): Promise<ServerRecord> {
  const running = await serverStatus(opts.stateDir, 'temporal');
  if (running) throw new Error(`a Temporal server already runs for ${opts.stateDir} (pid ${running.pid}, 127.0.0.1:${running.port})`);
  const binary = await ensureBinary('temporal', opts.say);
  const dir = join(opts.stateDir, 'temporal');
  await mkdir(dir, { recursive: true });
  const host = '127.0.0.1';
  const preferDefaults = opts.preferDefaultPorts ?? true;
  const port = opts.port ?? (preferDefaults && (await portFree(host, 7233)) ? 7233 : await freePort(host));
  const uiPort = opts.uiPort ?? (preferDefaults && (await portFree(host, 8233)) ? 8233 : await freePort(host));
  const dbFile = join(dir, 'temporal.db');
  const logFile = join(dir, 'server.log');
  const args = [
    'server', 'start-dev',
    '--db-filename', dbFile,
    '--ip', host,
    '--port', String(port),
    '--ui-port', String(uiPort),
    '--log-level', 'warn',
    '--log-format', 'json',
    ...(opts.headless ? ['--headless'] : []),
    ...Object.entries(SEARCH_ATTRIBUTES).flatMap(([k, t]) => ['--search-attribute', `${k}=${t}`]),
    // Activities heartbeat with progress; keep the server's per-call limits generous for large metric blobs.
    '--dynamic-config-value', 'limit.blobSize.warn=524288',
  ];
  const pid = spawnDetached({ kind: 'temporal', binary, args, logFile });
  const rec: ServerRecord = {
    kind: 'temporal', pid, host, port, uiPort, dbFile, binary,
    version: TEMPORAL_CLI_VERSION, logFile, startedAt: new Date().toISOString(),
  };
  await writeRecord(opts.stateDir, rec);
  await waitReady('temporal', pid, binary, logFile, () => temporalAnswers(`${host}:${port}`), 60_000);
  return rec;
}

/** True once the frontend answers and the default namespace exists. */
export async function temporalAnswers(address: string): Promise<boolean> {
  if (!(await portAnswers(address.split(':')[0]!, Number(address.split(':')[1])))) return false;
  const { Connection } = await import('@temporalio/client');
  let conn: Awaited<ReturnType<typeof Connection.connect>> | undefined;
  try {
    conn = await Connection.connect({ address, connectTimeout: 1000 });
    await conn.workflowService.describeNamespace({ namespace: 'default' });
    return true;
  } catch {
    return false;
  } finally {
    await conn?.close().catch(() => {});
  }
}

export interface S3StartOptions {
  stateDir: string;
  port?: number;
  /** Reuse credentials (a restart that clients must survive); fresh ones by default. */
  credentials?: { accessKeyId: string; secretAccessKey: string };
  say?: (msg: string) => void;
}

export async function startS3Server(opts: S3StartOptions): Promise<ServerRecord> {
  const running = await serverStatus(opts.stateDir, 's3');
  if (running) throw new Error(`an S3 server already runs for ${opts.stateDir} (pid ${running.pid}, 127.0.0.1:${running.port})`);
  const binary = await ensureBinary('s3', opts.say);
  const dir = join(opts.stateDir, 's3');
  const dataDir = join(dir, 'data');
  const sidecar = join(dir, 'meta');
  await mkdir(dataDir, { recursive: true });
  await mkdir(sidecar, { recursive: true });
  const host = '127.0.0.1';
  const port = opts.port ?? (await freePort(host));
  const logFile = join(dir, 'server.log');
  const accessKeyId = opts.credentials?.accessKeyId ?? `crlhf${randomBytes(6).toString('hex')}`;
  const secretAccessKey = opts.credentials?.secretAccessKey ?? randomBytes(24).toString('base64url');
  // Credentials go through the environment, not argv, so `ps` does not show them.
  const pid = spawnDetached({
    kind: 's3',
    binary,
    args: ['--port', `${host}:${port}`, '--quiet', 'posix', '--sidecar', sidecar, dataDir],
    env: { ROOT_ACCESS_KEY_ID: accessKeyId, ROOT_SECRET_ACCESS_KEY: secretAccessKey },
    logFile,
  });
  const rec: ServerRecord = {
    kind: 's3', pid, host, port, dataDir, accessKeyId, secretAccessKey, binary,
    version: VERSITYGW_VERSION, logFile, startedAt: new Date().toISOString(),
  };
  await writeRecord(opts.stateDir, rec);
  await waitReady('s3', pid, binary, logFile, () => httpAnswers(`http://${host}:${port}/`), 30_000);
  return rec;
}

async function httpAnswers(url: string): Promise<boolean> {
  try {
    await fetch(url, { signal: AbortSignal.timeout(1000) });
    return true;
  } catch {
    return false;
  }
}

/** The AWS SDK environment that points a client at a local S3 server. */
export function s3Env(rec: ServerRecord): Record<string, string> {
  return {
    AWS_ENDPOINT_URL_S3: `http://${rec.host}:${rec.port}`,
    AWS_ACCESS_KEY_ID: rec.accessKeyId!,
    AWS_SECRET_ACCESS_KEY: rec.secretAccessKey!,
    AWS_REGION: 'us-east-1',
    CRLHF_S3_FORCE_PATH_STYLE: '1',
  };
}

/** Stops the server recorded under `stateDir`: SIGTERM, then SIGKILL after `graceMs`. */
export async function stopServer(stateDir: string, kind: ServerKind, graceMs = 15_000): Promise<boolean> {
  const rec = await readRecord(stateDir, kind);
  if (!rec || !processRuns(rec.pid, rec.binary)) {
    await rm(recordFile(stateDir, kind), { force: true });
    return false;
  }
  process.kill(rec.pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline && processRuns(rec.pid, rec.binary)) await sleep(100);
  if (processRuns(rec.pid, rec.binary)) {
    process.kill(rec.pid, 'SIGKILL');
    while (processRuns(rec.pid, rec.binary)) await sleep(50);
  }
  await rm(recordFile(stateDir, kind), { force: true });
  return true;
}

/** Version line of an installed binary, for `crlhf doctor`. */
export async function binaryVersion(kind: ServerKind): Promise<string | null> {
  const bin = binaryPath(kind);
  if (!existsSync(bin)) return null;
  try {
    const { stdout } = await promisify(execFile)(bin, ['--version'], { timeout: 10_000 });
    return stdout.trim().split('\n')[0] ?? null;
  } catch {
    return null;
  }
}
