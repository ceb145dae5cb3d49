// The API reference is TypeDoc's rendering of the doc comments (make docs-api). Its own validation runs here, as
// the suite runs in CI: a public symbol without a doc comment, or a {@link} to nothing, fails the suite. The
// symbols that must have a comment are typedoc.json's requiredToBeDocumented: functions, classes, interfaces, type
// aliases, variables, enums, and the methods and accessors of the classes and interfaces among them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));
const typedoc = join(
  dirname(createRequire(import.meta.url).resolve('typedoc/package.json')),
  'bin',
  'typedoc',
);

test('TypeDoc finds a doc comment on every public symbol and no broken link', () => {
  const run = spawnSync(process.execPath, [typedoc, '--emit', 'none', '--treatValidationWarningsAsErrors'], {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' },
  });
  // eslint-disable-next-line no-control-regex
  const output = `${run.stdout}${run.stderr}`.replace(/\x1b\[[0-9;]*m/g, '');
  const problems = output.split('\n').filter((line) => /\[(warning|error)\]/.test(line));
  assert.deepEqual(problems, [], output);
  assert.equal(run.status, 0, output);
});
