import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { FASHION_MNIST_DIR } from '../../src/data/index.js';
import {
  errorChart,
  gradNormChart,
  resultTable,
  type PlainVsResidualResult,
  type PlainVsResidualRun,
} from '../../src/cli/experiments/plain-vs-residual.js';
import { assertOneLineFailure, assertUsageFailure, cli, withTempDir } from './helpers.js';

const haveData = existsSync(join(FASHION_MNIST_DIR, 't10k-labels-idx1-ubyte.gz'));

test(
  'convnets experiment plain-vs-residual end to end at a tiny budget: JSON per epoch, chart, table',
  { skip: haveData ? false : `no Fashion-MNIST at ${FASHION_MNIST_DIR}` },
  () =>
    withTempDir(async (out) => {
      const result = cli([
        'experiment',
        'plain-vs-residual',
        '--depths',
        '20',
        '--epochs',
        '1',
        '--limit',
        '32',
        '--test-limit',
        '10',
        '--workers',
        '0',
        '--quiet',
        '--out',
        out,
      ]);
      assert.equal(result.status, 0, result.stderr);
      assert.deepEqual((await readdir(out)).sort(), [
        'grad-norms.svg',
        'plain-vs-residual.json',
        'plain-vs-residual.md',
        'plain-vs-residual.svg',
      ]);
      const json = JSON.parse(await readFile(join(out, 'plain-vs-residual.json'), 'utf8'));
      assert.deepEqual(
        json.runs.map((run: PlainVsResidualRun) => [run.model, run.depth, run.residual]),
        [
          ['plain20', 20, false],
          ['resnet20', 20, true],
        ],
      );
      assert.deepEqual([json.trainImages, json.testImages, json.epochs], [32, 10, 1]);
      for (const run of json.runs as PlainVsResidualRun[]) {
        // Errors are fractions of whole images: 32 training images, 10 test images, one value per epoch.
        assert.equal(run.trainError.length, 1);
        assert.equal(run.testError.length, 1);
        for (const e of run.trainError) assert.ok(Math.abs(e * 32 - Math.round(e * 32)) < 1e-6, `${e}`);
        for (const e of run.testError) assert.ok(Math.abs(e * 10 - Math.round(e * 10)) < 1e-6, `${e}`);
        // One step (32 images, batch 128), recorded: step 1 always is.
        assert.deepEqual(run.gradNorms.steps, [1]);
        assert.equal(run.gradNorms.layer, 'conv1');
        assert.ok(run.gradNorms.meanFirstLayer > 0);
      }
      const svg = await readFile(join(out, 'plain-vs-residual.svg'), 'utf8');
      assert.equal((svg.match(/<polyline /g) ?? []).length, 4);
      assert.match(await readFile(join(out, 'plain-vs-residual.md'), 'utf8'), /^\| plain20 \| 20 \| no \| /m);
    }),
);

test('the experiment verb names experiments and refuses depths without two trainable networks', () => {
  assertUsageFailure(
    ['experiment', 'plain-vs-resid'],
    /unknown experiment 'plain-vs-resid'; experiments: transfer, plain-vs-residual; did you mean plain-vs-residual\?/,
  );
  assertOneLineFailure(
    ['experiment', 'plain-vs-residual', '--depths', '20,110'],
    /--depths: no trainable plain110; plain and residual networks with training defaults have depths 20, 32, 44, 56/,
  );
});

const run = (model: string, depth: number, residual: boolean, trainError: number[]): PlainVsResidualRun => ({
  model,
  depth,
  residual,
  trainError,
  testError: trainError.map((e) => e + 0.01),
  seconds: 61,
  gradNorms: { layer: 'conv1', steps: [1, 21], firstLayer: [0.5, 0.25], meanFirstLayer: 0.375 },
});

test("the table says whether the deepest nets end above or below the shallowest, against the paper's claim", () => {
  const result: PlainVsResidualResult = {
    data: 'fashion-mnist',
    epochs: 2,
    trainImages: 1000,
    testImages: 200,
    seed: 1,
    runs: [
      run('plain20', 20, false, [0.3, 0.1]),
      run('resnet20', 20, true, [0.3, 0.12]),
      run('plain56', 56, false, [0.4, 0.15]),
      run('resnet56', 56, true, [0.35, 0.08]),
    ],
  };
  const table = resultTable(result);
  assert.match(table, /^\| plain56 \| 56 \| no \| 15\.00% \| 16\.00% \| 0\.375 \| 1:01 \|$/m);
  assert.match(
    table,
    /^- plain56 ends with a higher training error than plain20: 15\.00% against 10\.00% \(the paper: higher\)\.$/m,
  );
  assert.match(
    table,
    /^- resnet56 ends with a lower training error than resnet20: 8\.00% against 12\.00% \(the paper: lower\)\.$/m,
  );
  // Thin training and bold test curves, one pair per run; the legend names each run once.
  const svg = errorChart(result);
  assert.equal((svg.match(/<polyline [^>]*stroke-width="1"/g) ?? []).length, 4);
  assert.equal((svg.match(/<polyline [^>]*stroke-width="3"/g) ?? []).length, 4);
  assert.equal((svg.match(/>plain-56</g) ?? []).length, 1);
  assert.equal((gradNormChart(result).match(/<polyline /g) ?? []).length, 2);
});
