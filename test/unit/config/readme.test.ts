import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { REPO_ROOT } from '../../../common/dirs.js';
import { withReference } from '../../../scripts/docs.js';

test("the README's config reference matches the schema (run npm run docs after changing it)", async () => {
  const readme = await readFile(join(REPO_ROOT, 'README.md'), 'utf8');
  assert.ok(readme === withReference(readme), 'README.md config reference is stale: run npm run docs');
});
