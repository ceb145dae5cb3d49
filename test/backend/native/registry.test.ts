// Which backend a process gets by default: under the Node entry (`convnets`), native when the addon loads, else
// reference with one line on stderr; the core alone (what the browser entry builds on) knows no native backend.
// Runs whether or not the addon is built (the fallback is checked by pointing at a missing addon).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { skipNative } from './helpers.js';

const entry = fileURLToPath(new URL('../../../src/index.js', import.meta.url));
const registry = fileURLToPath(new URL('../../../src/backend/registry.js', import.meta.url));
const cli = fileURLToPath(new URL('../../../src/cli/main.js', import.meta.url));

/** Runs node with `args` and `env` added to this environment less CONVNETS_BACKEND; it must succeed. */
function node(args: string[], env: Record<string, string>): { stdout: string; stderr: string } {
  const inherited = { ...process.env };
  delete inherited.CONVNETS_BACKEND;
  const result = spawnSync(process.execPath, args, { encoding: 'utf8', env: { ...inherited, ...env } });
  assert.equal(result.status, 0, result.stderr);
  return { stdout: result.stdout.trim(), stderr: result.stderr.trim() };
}

/** Runs `code` (an ES module body with `getBackend` and `backendNames` from `module` in scope) in a fresh node. */
function run(code: string, env: Record<string, string>, module = entry): { stdout: string; stderr: string } {
  const imports = `import { backendNames, getBackend } from ${JSON.stringify(module)};\n`;
  return node(['--input-type=module', '-e', imports + code], env);
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

test('the core without the Node entry has no native backend: reference, silently', () => {
  const { stdout, stderr } = run("console.log(getBackend().name, backendNames().join(' '));", {}, registry);
  assert.equal(stdout, 'reference reference meta');
  assert.equal(stderr, '');
  assert.equal(run("console.log(backendNames().join(' '));", {}).stdout, 'reference meta wasm native');
});

test(
  'with the addon the default is native; a worker thread gets the reference backend',
  { skip: skipNative },
  () => {
    const directory = mkdtempSync(join(tmpdir(), 'convnets-'));
    const worker = join(directory, 'worker.mjs');
    writeFileSync(
      worker,
      `import { getBackend } from ${JSON.stringify(entry)};\nconsole.log(getBackend().name);\n`,
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

test('convnets info prints what the backend says of itself, and why native is not running', () => {
  const reference = node([cli, 'info'], { CONVNETS_BACKEND: 'reference' }).stdout;
  assert.match(reference, /^backend {2}reference\n/m);
  assert.match(reference, /^threads {2}1$/m);
  assert.match(
    reference,
    skipNative ? /^native {3}the oneDNN addon/m : /^native {3}available \(CONVNETS_BACKEND=native\)$/m,
  );
  if (skipNative === false) {
    const native = node([cli, 'info'], { CONVNETS_BACKEND: 'native', CONVNETS_THREADS: '1' }).stdout;
    assert.match(native, /^backend {2}native\noneDNN {3}\d+\.\d+\.\d+\nisa {6}\S+\nlayout {3}blocked /m);
    assert.match(native, /^threads {2}1$/m);
    assert.doesNotMatch(native, /^native /m);
  }
});
