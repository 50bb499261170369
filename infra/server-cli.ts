// Entry point behind `infra/temporal.sh start|stop|status` and `infra/s3.sh start|stop|status`.
import { stateDir } from '../common/dirs.js';
import { s3Env, serverStatus, startS3Server, startTemporalServer, stopServer, type ServerKind } from './servers.js';

const [kind, cmd] = process.argv.slice(2) as [ServerKind, string];
const dir = stateDir();
const say = (m: string) => process.stderr.write(`[infra] ${m}\n`);

function describe(rec: NonNullable<Awaited<ReturnType<typeof serverStatus>>>): string {
  if (rec.kind === 'temporal') {
    return [
      `Temporal server ${rec.version} running (pid ${rec.pid})`,
      `  address:  ${rec.host}:${rec.port}   (export TEMPORAL_ADDRESS=${rec.host}:${rec.port})`,
      `  Web UI:   http://${rec.host}:${rec.uiPort}`,
      `  database: ${rec.dbFile}`,
      `  log:      ${rec.logFile}`,
    ].join('\n');
  }
  const env = Object.entries(s3Env(rec)).map(([k, v]) => `export ${k}=${v}`);
  return [`S3 server versitygw ${rec.version} running (pid ${rec.pid}), data in ${rec.dataDir}`, ...env].join('\n');
}

try {
  if (cmd === 'start') {
    const running = await serverStatus(dir, kind);
    const rec = running ?? (kind === 'temporal' ? await startTemporalServer({ stateDir: dir, say }) : await startS3Server({ stateDir: dir, say }));
    if (running) say('already running');
    console.log(describe(rec));
  } else if (cmd === 'stop') {
    console.log((await stopServer(dir, kind)) ? `${kind} server stopped` : `no ${kind} server was running for ${dir}`);
  } else if (cmd === 'status') {
    const rec = await serverStatus(dir, kind);
    if (!rec) {
      console.log(`no ${kind} server running for ${dir}`);
      process.exitCode = 1;
    } else console.log(describe(rec));
  } else {
    throw new Error(`unknown command ${cmd}`);
  }
} catch (err) {
  say(`error: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
}
