// A checkpoint writer that stops between objects, for the atomicity test: it
// commits a checkpoint and, after writing object `stopAfter`, prints a line
// and waits to be killed.
import { commitCheckpoint, openStore } from '../../storage/index.js';

const [uri, prefix, step, stopAfter] = process.argv.slice(2) as [string, string, string, string];
const store = openStore(uri);
const files: Record<string, Uint8Array> = {};
for (let i = 0; i < 4; i++) files[`part-${i}.bin`] = new Uint8Array(1024).fill(i + 1);
await commitCheckpoint(store, prefix, {
  step: Number(step),
  configHash: 'test',
  files,
  async afterObject(i) {
    if (i === Number(stopAfter)) {
      process.stdout.write(`WROTE ${i}\n`);
      await new Promise(() => {}); // wait for SIGKILL
    }
  },
});
process.stdout.write('COMMITTED\n');
