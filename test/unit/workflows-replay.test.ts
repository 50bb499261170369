// Workflow code must replay the histories of runs started by earlier code, or
// resuming those runs after an upgrade breaks. The histories were recorded by
// scripts/record-histories.ts (npm run record-histories).
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import proto from '@temporalio/proto';
import { bundleWorkflowCode, Worker, type WorkflowBundle } from '@temporalio/worker';
import { REPO_ROOT } from '../../common/dirs.js';

const { temporal } = proto;

// Bundled once for every history (each bundle takes seconds).
let bundle: Promise<WorkflowBundle> | undefined;
const workflowBundle = () => (bundle ??= bundleWorkflowCode({ workflowsPath: join(REPO_ROOT, 'workflows/index.ts') }));

for (const file of ['experiment-tiny.json', 'ppo-tiny.json']) {
  test(`the current workflow code replays ${file}`, { timeout: 60_000 }, async () => {
    const json = JSON.parse(await readFile(join(REPO_ROOT, 'test/fixtures/histories', file), 'utf8')) as Record<string, unknown>;
    const history = temporal.api.history.v1.History.fromObject(json);
    assert.ok(history.events.length > 10);
    await Worker.runReplayHistory({ workflowBundle: await workflowBundle() }, history);
  });
}
