// The relaxed-SIMD kernels (convnets-relaxed.wasm: the GEMM's multiply-adds fused, f32x4.relaxed_madd). Node 20
// validates relaxed SIMD only behind --experimental-wasm-relaxed-simd, so this spawns Node with that flag: the backend
// must load the relaxed build and say so, and the convolution, matmul and pooling agreement tests of kernels.test.ts
// must pass on it with their tolerances. Skipped with one line where the flag is refused or the build is missing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { skipWasm } from './helpers.js';

const FLAG = '--experimental-wasm-relaxed-simd';
const root = fileURLToPath(new URL('../../../', import.meta.url));

function nodeWithFlag(args: string[], env: Record<string, string> = {}) {
  // Without the test runner's NODE_TEST_CONTEXT, a child `node --test` reports to its own stdout.
  const inherited = { ...process.env };
  delete inherited.NODE_TEST_CONTEXT;
  return spawnSync(process.execPath, [FLAG, ...args], { encoding: 'utf8', env: { ...inherited, ...env } });
}

function whySkip(): string | false {
  if (skipWasm) return skipWasm;
  if (!existsSync(`${root}wasm/convnets-relaxed.wasm`))
    return 'no convnets-relaxed.wasm built (a clang without relaxed SIMD); its tests are skipped';
  const probe = nodeWithFlag([
    '--input-type=module',
    '-e',
    `import { relaxedSimdValidates } from '${root}src/backend/wasm/webassembly.js';
     process.exit(relaxedSimdValidates() ? 0 : 3);`,
  ]);
  if (probe.status !== 0)
    return `this Node does not run WebAssembly relaxed SIMD, even with ${FLAG} (${probe.stderr.trim().split('\n')[0] || `exit ${probe.status}`}); the relaxed kernels' tests are skipped`;
  return false;
}
const skip = whySkip();

test(
  'Node with relaxed SIMD loads the relaxed kernels and info says so, on one thread and on two',
  { skip },
  () => {
    for (const [threads, said] of [
      ['1', 'one thread'],
      ['2', '2 threads over shared memory'],
    ]) {
      const info = nodeWithFlag([`${root}src/cli/main.js`, 'info'], {
        CONVNETS_BACKEND: 'wasm',
        CONVNETS_THREADS: threads,
      });
      assert.equal(info.status, 0, info.stderr);
      assert.match(
        info.stdout,
        new RegExp(`^kernels {2}WebAssembly relaxed SIMD, FMA \\(clang wasm32\\), ${said}$`, 'm'),
      );
    }
  },
);

test(
  'the kernels agree with the reference backend on the relaxed build (convolution, matmul, pooling)',
  { skip },
  () => {
    const run = nodeWithFlag([
      '--test',
      '--test-reporter=tap',
      '--test-name-pattern=convolution|matmul|pooling',
      `${root}test/backend/wasm/kernels.test.js`,
    ]);
    assert.equal(run.status, 0, `${run.stdout}\n${run.stderr}`);
    const passed = Number(/^# pass (\d+)$/m.exec(run.stdout)?.[1] ?? 0);
    assert.ok(passed >= 4, `expected the convolution, matmul and pooling tests to run, got:\n${run.stdout}`);
    assert.match(run.stdout, /^# fail 0$/m);
  },
);
