// Runs the crlhf command as a user would, in a child process.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { REPO_ROOT } from '../../common/dirs.js';

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function crlhf(args: string[], env: Record<string, string | undefined> = {}, opts: { cwd?: string; timeoutMs?: number } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(REPO_ROOT, 'bin/crlhf.js'), ...args], {
      cwd: opts.cwd ?? REPO_ROOT,
      env: { ...process.env, ...env },
    });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`crlhf ${args.join(' ')} timed out\n${stderr}`));
    }, opts.timeoutMs ?? 300_000);
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}
