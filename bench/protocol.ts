// The harness talks to each measured process (one per tfjs backend, one
// PyTorch) over a line protocol: a JSON request per stdin line, a JSON answer
// per stdout line prefixed with "@@bench ". The prefix lets the processes keep
// printing banners and warnings (tfjs-node, TensorFlow, PyTorch all do)
// without breaking the protocol. Processes stay alive across repetitions so
// warm-up happens once and the harness can interleave their measurements.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface } from 'node:readline';

export const PREFIX = '@@bench ';

/** Writes one protocol answer (used by the workers). */
export function answer(value: unknown): void {
  process.stdout.write(PREFIX + JSON.stringify(value) + '\n');
}

export class LineWorker {
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly waiting: { resolve: (v: unknown) => void; reject: (e: Error) => void }[] = [];
  /** Last lines of non-protocol output, quoted when the process fails. */
  private readonly tail: string[] = [];
  private exited = false;

  constructor(
    readonly label: string,
    command: string,
    args: string[],
    env: NodeJS.ProcessEnv,
    private readonly verbose = false,
  ) {
    this.child = spawn(command, args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
    createInterface({ input: this.child.stdout }).on('line', (line) => this.onLine(line));
    createInterface({ input: this.child.stderr }).on('line', (line) => this.keep(line));
    this.child.on('exit', (code, signal) => {
      this.exited = true;
      const err = new Error(`${label} exited (${signal ?? code}) before answering:\n  ${this.tail.join('\n  ')}`);
      for (const w of this.waiting.splice(0)) w.reject(err);
    });
    this.child.on('error', (err) => {
      for (const w of this.waiting.splice(0)) w.reject(new Error(`${label} could not start: ${err.message}`));
    });
  }

  /** Sends one request; resolves with the answer, rejects on an `error` answer or exit. */
  request<T>(msg: Record<string, unknown>): Promise<T> {
    if (this.exited) return Promise.reject(new Error(`${this.label} is not running:\n  ${this.tail.join('\n  ')}`));
    return new Promise<T>((resolve, reject) => {
      this.waiting.push({ resolve: resolve as (v: unknown) => void, reject });
      this.child.stdin.write(JSON.stringify(msg) + '\n');
    });
  }

  async close(): Promise<void> {
    if (this.exited) return;
    const done = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    try {
      await this.request({ cmd: 'exit' });
    } catch {
      // it exits as asked; the exit handler rejects the answer if it raced
    }
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
    await done;
    clearTimeout(timer);
  }

  private onLine(line: string): void {
    if (!line.startsWith(PREFIX)) return this.keep(line);
    const w = this.waiting.shift();
    if (!w) return;
    const value = JSON.parse(line.slice(PREFIX.length)) as { error?: string };
    if (value && typeof value === 'object' && typeof value.error === 'string') {
      w.reject(new Error(`${this.label}: ${value.error}`));
    } else {
      w.resolve(value);
    }
  }

  private keep(line: string): void {
    if (this.verbose) process.stderr.write(`[${this.label}] ${line}\n`);
    this.tail.push(line);
    if (this.tail.length > 20) this.tail.shift();
  }
}
