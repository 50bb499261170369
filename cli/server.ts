// `crlhf server start|stop|status`: the embedded Temporal server under the state directory.
import { stateDir } from '../common/dirs.js';
import { serverStatus, startTemporalServer, stopServer } from '../infra/servers.js';

export async function serverCommand(cmd: 'start' | 'stop' | 'status', say: (msg: string) => void): Promise<void> {
  const dir = stateDir();
  if (cmd === 'start') {
    const rec = (await serverStatus(dir, 'temporal')) ?? (await startTemporalServer({ stateDir: dir, say }));
    console.log(`Temporal server on ${rec.host}:${rec.port}, Web UI http://${rec.host}:${rec.uiPort}, database ${rec.dbFile}`);
  } else if (cmd === 'stop') {
    console.log((await stopServer(dir, 'temporal')) ? 'Temporal server stopped' : 'no Temporal server was running');
  } else {
    const rec = await serverStatus(dir, 'temporal');
    if (!rec) {
      console.log(`no Temporal server running for ${dir}`);
      process.exitCode = 1;
    } else console.log(`Temporal server on ${rec.host}:${rec.port} (pid ${rec.pid}), Web UI http://${rec.host}:${rec.uiPort}, database ${rec.dbFile}`);
  }
}
