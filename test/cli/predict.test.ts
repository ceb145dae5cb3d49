import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FASHION_MNIST_DIR } from '../../src/data/index.js';
import { readNpy, saveWeights, writeNpy } from '../../src/io/index.js';
import * as models from '../../src/models/index.js';
import { noGrad, rand } from '../../src/tensor/index.js';
import { saveCheckpoint } from '../../src/train/index.js';

const main = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const haveData = existsSync(join(FASHION_MNIST_DIR, 't10k-labels-idx1-ubyte.gz'));

function cli(args: string[]) {
  return spawnSync(process.execPath, [main, ...args], {
    encoding: 'utf8',
    env: { ...process.env, CONVNETS_BACKEND: 'reference' },
  });
}

async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'convnets-predict-'));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('predict --arch --weights --input --output writes the evaluation-mode output of the batch', async () => {
  await withTempDir(async (dir) => {
    const model = models.get('lenet5', { seed: 7 });
    const x = rand([3, 1, 32, 32]);
    await saveWeights(model, join(dir, 'w.safetensors'));
    await writeNpy(join(dir, 'x.npy'), x);
    const run = cli([
      'predict',
      '--arch',
      'lenet5',
      '--weights',
      join(dir, 'w.safetensors'),
      '--input',
      join(dir, 'x.npy'),
      '--output',
      join(dir, 'y.npy'),
    ]);
    assert.equal(run.status, 0, run.stderr);
    model.eval();
    const expected = noGrad(() => model.call(x)).data();
    const written = await readNpy(join(dir, 'y.npy'));
    assert.deepEqual(written.shape, [3, 10]);
    // The CLI may run on another backend than this process: equal to float32 rounding, not bit for bit.
    const values = written.data();
    expected.forEach((e, i) =>
      assert.ok(
        Math.abs(values[i] - e) <= 1e-5 * Math.max(1, Math.abs(e)),
        `output ${i}: ${values[i]} vs ${e}`,
      ),
    );
  });
});

test('predict names what is wrong: weights of another model, an input of the wrong shape', async () => {
  await withTempDir(async (dir) => {
    await saveWeights(models.get('lenet5', { seed: 1 }), join(dir, 'w.safetensors'));
    await writeNpy(join(dir, 'flat.npy'), rand([5, 1024]));
    const wrongShape = cli([
      'predict',
      '--arch',
      'lenet5',
      '--weights',
      join(dir, 'w.safetensors'),
      '--input',
      join(dir, 'flat.npy'),
    ]);
    assert.equal(wrongShape.status, 1);
    assert.match(
      wrongShape.stderr,
      /flat\.npy: expected float32 \[C, H, W\] or \[N, C, H, W\], got float32 \[5, 1024\]/,
    );
    const wrongModel = cli([
      'predict',
      '--arch',
      'resnet20',
      '--weights',
      join(dir, 'w.safetensors'),
      '--input',
      join(dir, 'flat.npy'),
    ]);
    assert.equal(wrongModel.status, 1);
    assert.match(wrongModel.stderr, /missing|unexpected/);
  });
});

test(
  'predict <checkpoint> applies the checkpoint’s test-time transform and prints the top classes by name',
  {
    skip: haveData
      ? false
      : `no Fashion-MNIST at ${FASHION_MNIST_DIR} (apt-get install dataset-fashion-mnist)`,
  },
  async () => {
    await withTempDir(async (dir) => {
      const model = models.get('lenet5', { seed: 3 });
      const meta = { model: 'lenet5', modelOptions: { seed: 3 }, data: 'fashion-mnist', size: 32 };
      await saveCheckpoint(dir, { model, epoch: 1, meta });
      await writeNpy(join(dir, 'images.npy'), rand([2, 1, 28, 28]));
      const run = cli(['predict', dir, join(dir, 'images.npy'), '--top', '3']);
      assert.equal(run.status, 0, run.stderr);
      const lines = run.stdout.trim().split('\n');
      assert.equal(lines.length, 2 * (1 + 3), run.stdout);
      assert.match(lines[0], /^#0$/);
      assert.match(
        lines[1],
        /^\s+[\d.]+%\s+\d (T-shirt\/top|Trouser|Pullover|Dress|Coat|Sandal|Shirt|Sneaker|Bag|Ankle boot)$/,
      );
      const percents = lines.slice(1, 4).map((l) => Number(l.trim().split('%')[0]));
      assert.ok(percents[0] >= percents[1] && percents[1] >= percents[2], `ranked: ${percents}`);
    });
  },
);
