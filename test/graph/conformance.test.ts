import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nativeUnavailableReason } from '../../src/backend/native/addon.js';
import { setBackend } from '../../src/backend/registry.js';
import { runBackendTests } from '../../src/io/onnx/index.js';
import { DataType } from '../../src/graph/onnx-ir.js';
import { encodeTensorProto } from '../../src/io/onnx/proto-encode.js';
import { emptyTensor } from '../../src/io/onnx/tensor-data.js';
import { repoRoot } from './helpers.js';

/**
 * ONNX's own operator tests (Debian's libonnx-testdata, ONNX 1.12): every case whose operators and attributes
 * convnets runs must pass on every backend, within ONNX's backend-test tolerance (rtol 1e-3, atol 1e-7).
 */
const NODE_TESTS = process.env.CONVNETS_ONNX_NODE_TESTS ?? '/usr/share/libonnx-testdata/data/node';
const present = existsSync(NODE_TESTS);
const skipMessage = `${NODE_TESTS} not found: apt-get install libonnx-testdata (or set CONVNETS_ONNX_NODE_TESTS)`;

/** Passed on the reference backend when this was written (ONNX 1.12's 932 node tests): a floor, not a target. */
const MIN_PASSED = 310;

const backends = ['reference', ...(nativeUnavailableReason() === null ? ['native'] : [])];

for (const backend of backends) {
  test(
    `ONNX node tests on the ${backend} backend: 0 failed, at least ${MIN_PASSED} passed`,
    { skip: present ? false : skipMessage, timeout: 60_000 },
    async (t) => {
      setBackend(backend);
      const summary = await runBackendTests([NODE_TESTS]);
      const failures = summary.results.filter((r) => r.status === 'failed');
      assert.deepEqual(
        failures.map((r) => `${r.name}: ${r.reason}`),
        [],
      );
      assert.ok(summary.passed >= MIN_PASSED, `${summary.passed} passed`);
      t.diagnostic(
        `${backend}: ${summary.passed} passed, ${summary.failed} failed, ${summary.skipped} skipped`,
      );
    },
  );
}

test(
  'convnets onnx test: one line per case, the tally, exit status 1 when a case fails',
  { skip: present ? false : skipMessage },
  () => {
    const cli = join(repoRoot, 'dist/src/cli/main.js');
    const cases = ['test_relu', 'test_conv_with_strides_padding', 'test_resize_downsample_scales_linear'].map(
      (c) => join(NODE_TESTS, c),
    );
    const ok = spawnSync(process.execPath, [cli, 'onnx', 'test', ...cases], { encoding: 'utf8' });
    assert.equal(ok.status, 0, ok.stderr);
    const lines = ok.stdout.trim().split('\n');
    assert.match(
      lines.find((l) => l.includes('test_relu')) ?? '',
      /^PASS test_relu \(max abs .*, max rel .*\)$/,
    );
    assert.match(
      lines.find((l) => l.includes('test_resize')) ?? '',
      /^SKIP test_resize_downsample_scales_linear: .*Resize/,
    );
    assert.equal(lines.at(-1), '2 passed, 0 failed, 1 skipped');

    // The same case with a wrong expected output fails, and says where.
    const dir = mkdtempSync(join(tmpdir(), 'convnets-onnx-case-'));
    try {
      const broken = join(dir, 'test_relu');
      cpSync(join(NODE_TESTS, 'test_relu'), broken, { recursive: true });
      const wrong = {
        ...emptyTensor(),
        dims: [3, 4, 5],
        dataType: DataType.FLOAT,
        floatData: new Array<number>(60).fill(7),
      };
      writeFileSync(join(broken, 'test_data_set_0', 'output_0.pb'), encodeTensorProto(wrong));
      const failed = spawnSync(process.execPath, [cli, 'onnx', 'test', broken], { encoding: 'utf8' });
      assert.equal(failed.status, 1);
      assert.match(
        failed.stdout,
        /^FAIL test_relu: test_data_set_0 output 0 \('y'\): value .* at \d+, expected 7/m,
      );
      assert.equal(failed.stdout.trim().split('\n').at(-1), '0 passed, 1 failed, 0 skipped');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);
