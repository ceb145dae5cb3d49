// `convnets launch -n 2 -- train …` end to end on 127.0.0.1: two ranks train LeNet-5 on their shares, rank 0 writes
// the checkpoint and says what averaging the gradients cost and how much of it backward hid.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { FASHION_MNIST_DIR } from '../../src/data/index.js';
import { distributed } from '../../src/index.js';
import { cli, withTempDir } from '../cli/helpers.js';

const skip = !distributed.glooAvailable()
  ? 'Gloo is missing (apt-get install libgloo-dev; make setup)'
  : !existsSync(join(FASHION_MNIST_DIR, 't10k-labels-idx1-ubyte.gz'))
    ? `no Fashion-MNIST at ${FASHION_MNIST_DIR}`
    : false;

test(
  'convnets launch -n 2 trains on two ranks, rank 0 writes the run and reports the allreduce',
  { skip },
  () =>
    withTempDir(async (dir) => {
      const out = join(dir, 'run');
      const train = ['train', 'lenet5', '--data', 'fashion-mnist', '--limit', '288', '--test-limit', '50'];
      const options = ['--epochs', '1', '--batch-size', '32', '--quiet', '--out', out];
      const result = cli(['launch', '-n', '2', '--', ...train, ...options]);
      assert.equal(result.status, 0, result.stderr);
      // Progress and summaries go to stderr, each line prefixed with its rank.
      const lines = result.stderr.split('\n');
      // 288 images less a validation tenth: 260, 130 per rank, so 5 steps of 32 (the last one short) on each.
      const averaged = lines.find((line) => line.includes('gradients averaged over 2 processes'));
      assert.match(
        averaged ?? result.stderr,
        /^\[rank 0\] gradients averaged over 2 processes in 1 bucket\(s\), 5 steps: allreduce [\d.]+ ms per step, waited for [\d.]+ ms after backward \(\d+ % hidden by the overlap\)$/,
      );
      assert.ok(!lines.some((line) => line.startsWith('[rank 1] gradients averaged')), 'only rank 0 reports');
      const history = JSON.parse(readFileSync(join(out, 'history.json'), 'utf8')) as unknown[];
      assert.equal(history.length, 1);
      assert.ok(existsSync(join(out, 'report.md')));
    }),
);
