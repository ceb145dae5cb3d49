import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { version } from '../src/version.js';

test("version is package.json's", () => {
  const packageJson = new URL('../../package.json', import.meta.url);
  assert.equal(version, (JSON.parse(readFileSync(packageJson, 'utf8')) as { version: string }).version);
});
