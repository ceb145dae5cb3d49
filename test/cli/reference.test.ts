import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { cliReference } from '../../src/cli/reference.js';

test('docs/cli.md is the verbs’ own help (regenerate: node scripts/cli-reference.mjs)', () => {
  const file = readFileSync(new URL('../../../docs/cli.md', import.meta.url), 'utf8');
  assert.equal(file, cliReference());
});
