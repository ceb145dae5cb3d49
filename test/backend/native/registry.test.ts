// Which backend a process gets by default: native when the addon loads, else reference with one line on stderr.
// Runs whether or not the addon is built (the fallback is checked by pointing at a missing addon).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { skipNative } from './helpers.js';

const registry = fileURLToPath(new URL('../../../src/backend/registry.js', import.meta.url));

/** Runs `code` (an ES module body with `getBackend` in scope) in a fresh node with `env` added. */
function run(code: string, env: Record<string, string>): { stdout: string; stderr: string } {
  const inherited = { ...process.env };
  delete inherited.CONVNETS_BACKEND;
  const result = spawnSync(
    process.execPath,
    ['--input-type=module', '-e', `import { getBackend } from ${JSON.stringify(registry)};\n${code}`],
    { encoding: 'utf8', env: { ...inherited, ...env } },
  );
  assert.equal(result.status, 0, result.stderr);
  return { stdout: result.stdout.trim(), stderr: result.stderr.trim() };
}

test('without the addon the default is the reference backend, said once on stderr', () => {
  const { stdout, stderr } = run(
    'console.log(getBackend().name); getBackend(); console.log(getBackend().name);',
    {
      CONVNETS_NATIVE_ADDON: '/nonexistent/convnets_native.node',
    },
  );
  assert.equal(stdout, 'reference\nreference');
  assert.match(
    stderr,
    /^convnets: native backend unavailable \(.*not built.*\); using the reference backend$/,
  );
});

test('CONVNETS_BACKEND=reference selects the reference backend silently', () => {
  const { stdout, stderr } = run('console.log(getBackend().name);', { CONVNETS_BACKEND: 'reference' });
  assert.equal(stdout, 'reference');
  assert.equal(stderr, '');
});

test(
  'with the addon the default is native; a worker thread gets the reference backend',
  { skip: skipNative },
  () => {
    const directory = mkdtempSync(join(tmpdir(), 'convnets-'));
    const worker = join(directory, 'worker.mjs');
    writeFileSync(
      worker,
      `import { getBackend } from ${JSON.stringify(registry)};\nconsole.log(getBackend().name);\n`,
    );
    const { stdout, stderr } = run(
      `import { Worker } from 'node:worker_threads';
     console.log(getBackend().name);
     await new Promise((resolve) => new Worker(${JSON.stringify(worker)}, { execArgv: [] }).on('exit', resolve));`,
      {},
    );
    rmSync(directory, { recursive: true });
    assert.equal(stdout, 'native\nreference');
    assert.match(stderr, /native backend unavailable \(the oneDNN addon runs on the main thread only\)/);
  },
);
