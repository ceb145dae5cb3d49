// Selecting the wasm backend: CONVNETS_BACKEND=wasm under the Node entry, loadWasmBackend() then setBackend('wasm')
// under the browser entry (here fed the bytes a page would fetch), and `convnets info` in both cases. Skipped where
// the .wasm is not built.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { referenceKernels } from '../../../src/backend/wasm/reference-kernels.js';
import { skipWasm } from './helpers.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const cli = `${root}src/cli/main.js`;
const wasmFile = `${root}wasm/convnets.wasm`;

function node(args: string[], env: Record<string, string>): { stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, args, { encoding: 'utf8', env: { ...process.env, ...env } });
  assert.equal(result.status, 0, result.stderr);
  return result;
}

test(
  'CONVNETS_BACKEND=wasm selects it under the Node entry, and info says what runs where',
  { skip: skipWasm },
  () => {
    const code = `import { getBackend, randn, relu } from '${root}src/index.js';
    const y = relu(randn([2, 3]));
    console.log(getBackend().name, y.shape.join('x'));`;
    assert.equal(
      node(['--input-type=module', '-e', code], { CONVNETS_BACKEND: 'wasm' }).stdout,
      'wasm 2x3\n',
    );
    const info = node([cli, 'info'], { CONVNETS_BACKEND: 'wasm', CONVNETS_THREADS: '1' }).stdout;
    assert.match(info, /^backend {2}wasm\nkernels {2}WebAssembly SIMD128 \(clang wasm32\), one thread$/m);
    assert.match(info, /^fallback reference backend for .*\bpermute, .*\blrn, /m);
    assert.match(info, /^threads {2}1$/m);
    const pooled = node([cli, 'info'], { CONVNETS_BACKEND: 'wasm', CONVNETS_THREADS: '2' }).stdout;
    assert.match(pooled, /^kernels {2}WebAssembly SIMD128 \(clang wasm32\), 2 threads over shared memory$/m);
    assert.match(pooled, /^threads {2}2$/m);
    const other = node([cli, 'info'], { CONVNETS_BACKEND: 'reference', CONVNETS_THREADS: '1' }).stdout;
    assert.match(other, /^wasm {5}available \(CONVNETS_BACKEND=wasm\), one thread$/m);
    const otherPooled = node([cli, 'info'], { CONVNETS_BACKEND: 'reference', CONVNETS_THREADS: '3' }).stdout;
    assert.match(otherPooled, /^wasm {5}available \(CONVNETS_BACKEND=wasm\), 3 threads$/m);
  },
);

// In a process of its own: one process shares one registry, and the Node entry's registration reads from disk.
test(
  'under the browser entry it runs once loadWasmBackend has compiled the kernels',
  { skip: skipWasm },
  () => {
    const code = `import { readFileSync } from 'node:fs';
    import * as browser from '${root}src/browser.js';
    const said = [];
    try { browser.setBackend('wasm'); } catch (error) { said.push(error.message); }
    await browser.loadWasmBackend(readFileSync('${wasmFile}'));
    said.push(browser.setBackend('wasm').name);
    const x = browser.tensor([1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 1, 3, 3]);
    const w = browser.tensor([1, 0, 0, -1], [1, 1, 2, 2]);
    said.push([...browser.conv2d(x, w).data()]);
    console.log(JSON.stringify(said));`;
    const said = JSON.parse(node(['--input-type=module', '-e', code], {}).stdout) as unknown[];
    assert.match(String(said[0]), /^wasm backend not loaded: call await loadWasmBackend/);
    // Each output is x[i][j] − x[i+1][j+1] = −4.
    assert.deepEqual(said.slice(1), ['wasm', [-4, -4, -4, -4]]);
  },
);

test('docs/wasm-backend.md prints the table of kernels handed to the reference backend as the code has it', () => {
  const docs = readFileSync(
    fileURLToPath(new URL('../../../../docs/wasm-backend.md', import.meta.url)),
    'utf8',
  );
  const section = docs.slice(
    docs.indexOf('### What runs on the reference backend'),
    docs.indexOf('## Memory'),
  );
  const rows = section
    .split('\n')
    .filter((line) => line.startsWith('| `'))
    .map((line) => line.split('|').map((cell) => cell.trim()));
  const documented = new Map<string, string>();
  for (const [, kernels, when] of rows) {
    for (const [, kernel] of kernels.matchAll(/`(\w+)`/g)) documented.set(kernel, when.replaceAll('`', ''));
  }
  assert.deepEqual([...documented.keys()].sort(), Object.keys(referenceKernels).sort());
  for (const [kernel, when] of Object.entries(referenceKernels)) {
    assert.ok(
      documented.get(kernel)!.startsWith(when.split(' (')[0]),
      `${kernel}: ${documented.get(kernel)}`,
    );
  }
});
