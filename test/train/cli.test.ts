import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FASHION_MNIST_DIR } from '../../src/data/index.js';

const main = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const haveData = existsSync(join(FASHION_MNIST_DIR, 't10k-labels-idx1-ubyte.gz'));

function cli(args: string[]) {
  return spawnSync(process.execPath, [main, ...args], {
    encoding: 'utf8',
    env: { ...process.env, CONVNETS_BACKEND: process.env.CONVNETS_BACKEND ?? 'reference' },
  });
}

test(
  'convnets train: a 1-epoch smoke run on a slice of Fashion-MNIST writes every file; eval reads it back',
  {
    skip: haveData
      ? false
      : `no Fashion-MNIST at ${FASHION_MNIST_DIR} (apt-get install dataset-fashion-mnist)`,
  },
  async () => {
    const out = await mkdtemp(join(tmpdir(), 'convnets-train-'));
    try {
      const train = cli([
        'train',
        'lenet5',
        '--data',
        'fashion-mnist',
        '--limit',
        '256',
        '--test-limit',
        '200',
        '--epochs',
        '1',
        '--batch-size',
        '32',
        '--workers',
        '0',
        '--out',
        out,
      ]);
      assert.equal(train.status, 0, train.stderr);
      assert.match(train.stderr, /epoch 1\/1 \| loss [\d.]+ top-1 [\d.]+% \| val loss/);
      assert.match(train.stderr, /test accuracy [\d.]+%/);
      assert.deepEqual((await readdir(out)).sort(), [
        'chart.svg',
        'checkpoint.json',
        'epoch-1',
        'history.csv',
        'history.json',
        'report.md',
      ]);
      assert.deepEqual((await readdir(join(out, 'epoch-1'))).sort(), [
        'optimizer.safetensors',
        'state.json',
        'weights.safetensors',
      ]);
      const history = JSON.parse(await readFile(join(out, 'history.json'), 'utf8'));
      assert.equal(history.length, 1);
      assert.match(await readFile(join(out, 'history.csv'), 'utf8'), /^epoch,trainLoss,.*\n1,/);
      assert.match(
        await readFile(join(out, 'chart.svg'), 'utf8'),
        /<svg[^>]*>[\s\S]*train loss[\s\S]*<\/svg>/,
      );
      const report = await readFile(join(out, 'report.md'), 'utf8');
      assert.match(report, /# lenet5 on fashion-mnist/);
      assert.match(report, /61,706 parameters/);
      assert.match(report, /final test accuracy: [\d.]+%/);
      assert.match(report, /\| 9 \| Ankle boot \| [\d.]+% \|/);

      const evaluation = cli(['eval', out, '--limit', '200']);
      assert.equal(evaluation.status, 0, evaluation.stderr);
      assert.match(evaluation.stdout, /lenet5 \(epoch 1\) on fashion-mnist test, 200 images/);
      assert.match(evaluation.stdout, /accuracy [\d.]+%/);
      assert.match(evaluation.stdout, /confusion matrix/);
      // Ten rows of the matrix, each summing with the others to the 200 images.
      const rows = evaluation.stdout.split('confusion matrix')[1].trim().split('\n').slice(2);
      assert.equal(rows.length, 10);
      const total = rows.flatMap((r) =>
        r
          .trim()
          .split(/\s+/)
          .filter((v) => /^\d+$/.test(v))
          .map(Number),
      );
      assert.equal(
        total.reduce((a, b) => a + b, 0),
        200,
      );
    } finally {
      await rm(out, { recursive: true, force: true });
    }
  },
);

test('convnets train: unknown options and models are clear errors', () => {
  const result = cli(['train', 'vgg16', '--data', 'fashion-mnist']);
  assert.equal(result.status, 1);
  assert.match(result.stderr, /no training defaults for 'vgg16'.*lenet5, resnet20/);
  const bad = cli(['train', 'lenet5', '--data', 'fashion-mnist', '--epochs', '2x']);
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /--epochs must be an integer ≥ 1, got '2x'/);
});
