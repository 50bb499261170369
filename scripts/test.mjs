#!/usr/bin/env node
// Runs the test suite with Node's built-in runner (through tsx for
// TypeScript). `npm test` runs everything; `npm test -- unit` or
// `npm test -- integration e2e` picks levels; a path runs one file or a
// folder's test files.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const LEVELS = ['unit', 'integration', 'e2e'];

function collect(dir) {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) return collect(p);
    return p.endsWith('.test.ts') ? [p] : [];
  });
}

const args = process.argv.slice(2);
const picked = args.length ? args : LEVELS;
const files = picked
  .flatMap((a) => {
    if (LEVELS.includes(a)) return collect(join(root, 'test', a));
    const p = join(root, a);
    return existsSync(p) && statSync(p).isDirectory() ? collect(p) : [p];
  })
  .sort()
  .map((f) => relative(root, f));
if (files.length === 0) {
  console.error(`no test files for ${picked.join(' ')}`);
  process.exit(2);
}
// Integration tests start their own servers and train models on a 2-core
// machine: run files one at a time so timings and heartbeats stay honest.
const concurrency = process.env.CRLHF_TEST_CONCURRENCY ?? '1';
const reporter = process.env.CRLHF_TEST_REPORTER ?? 'spec';
const res = spawnSync(
  process.execPath,
  ['--import', 'tsx', '--test', `--test-concurrency=${concurrency}`, `--test-reporter=${reporter}`, ...files],
  { cwd: root, stdio: 'inherit', env: { ...process.env, CRLHF_LOG_LEVEL: process.env.CRLHF_LOG_LEVEL ?? 'warn' } },
);
process.exit(res.status ?? 1);
