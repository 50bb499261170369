// The run record: the config as written and as resolved, its hash and the
// versions, written once per run; a second run under the same name with a
// different config is refused instead of mixing two experiments.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../common/dirs.js';
import { ConfigError } from '../common/errors.js';
import { openStore } from '../storage/index.js';
import { getJsonOrNull, putJson } from '../storage/json.js';
import { layout } from './layout.js';
import type { Plan } from './plan.js';

export interface RunRecord {
  runName: string;
  configHash: string;
  createdAt: string;
  updatedAt: string;
  configSource: string;
  config: Plan['config'];
  sweep?: string;
  versions: Record<string, string>;
}

export async function recordRun(plan: Plan, configSource: string): Promise<RunRecord> {
  const store = openStore(plan.storeUri);
  await store.check();
  const key = layout.runRecord(plan.runName);
  const existing = await getJsonOrNull<RunRecord>(store, key);
  if (existing && existing.configHash !== plan.configHash) {
    throw new ConfigError(
      `run "${plan.runName}" already exists in ${store.root} with a different config (hash ${existing.configHash.slice(0, 12)} vs ${plan.configHash.slice(0, 12)}); choose another --name`,
    );
  }
  const now = new Date().toISOString();
  const record: RunRecord = {
    runName: plan.runName,
    configHash: plan.configHash,
    createdAt: existing?.createdAt ?? now,
    updatedAt: now,
    configSource,
    config: plan.config,
    ...(plan.sweep ? { sweep: plan.sweep } : {}),
    versions: versions(),
  };
  await putJson(store, key, record);
  return record;
}

/** The versions a result depends on, from package.json (read once). */
let cachedVersions: Record<string, string> | undefined;
function versions(): Record<string, string> {
  if (!cachedVersions) {
    const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string; dependencies: Record<string, string> };
    cachedVersions = { node: process.version, crlhf: pkg.version };
    for (const dep of ['@tensorflow/tfjs', '@temporalio/worker']) if (pkg.dependencies[dep]) cachedVersions[dep] = pkg.dependencies[dep];
  }
  return cachedVersions;
}
