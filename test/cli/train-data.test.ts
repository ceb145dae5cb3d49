import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setBackend } from '../../src/backend/registry.js';
import { chwImage, transforms } from '../../src/data/index.js';
import { readNpy, writeNpy } from '../../src/io/index.js';
import { Generator, noGrad, tensor } from '../../src/tensor/index.js';
import { loadTrained } from '../../src/train/index.js';
import { assertClose } from '../graph/helpers.js';
import { loadSharp, writeImageFolder, writeNpyPair } from '../train/data-files.js';
import { assertOneLineFailure, assertUsageFailure, cli, withTempDir } from './helpers.js';

setBackend('reference');

test('convnets train on an .npy pair of RGB images: LeNet-5 takes their luma; eval and predict apply the same preprocessing', async () => {
  await withTempDir(async (dir) => {
    const data = join(dir, 'data');
    await writeNpyPair(data, [3, 32, 32], 40, 4, 6);
    const out = join(dir, 'run');
    const run = cli([
      'train',
      'lenet5',
      '--data',
      data,
      '--epochs',
      '1',
      '--val-split',
      '0.25',
      '--out',
      out,
      '--quiet',
    ]);
    assert.equal(run.status, 0, run.stderr);
    assert.match(
      run.stderr,
      /on \.npy pair .*: 30 images, validation 10, test 6; RGB 32×32 → grey, normalised/,
    );
    const report = await readFile(join(out, 'report.md'), 'utf8');
    assert.match(report, /validation 10 images, a seeded split of the training set/);
    assert.match(report, /final test accuracy: [\d.]+%\*\* \(.*6 images, measured once after training\)/);

    const trained = await loadTrained(out);
    assert.deepEqual(
      [trained.imageShape, trained.inputShape],
      [
        [3, 32, 32],
        [1, 32, 32],
      ],
    );
    assert.deepEqual(trained.classNames, ['0', '1', '2', '3']);
    const evaluation = cli(['eval', out]);
    assert.equal(evaluation.status, 0, evaluation.stderr);
    assert.match(evaluation.stdout, /lenet5 \(epoch 1\) on .* test, 6 images/);

    // predict: x_test.npy is raw data, prepared as in training; the same images prepared here are the model's input.
    const x = await readNpy(join(data, 'x_test.npy'));
    const transform = transforms.makeTransform(trained.transform);
    const values = x.data() as Float32Array;
    const prepared = new Float32Array(6 * 32 * 32);
    for (let n = 0; n < 6; n++) {
      const image = chwImage(values.slice(n * 3072, (n + 1) * 3072), 3, 32, 32);
      prepared.set(transform(image, new Generator(0))[0].data, n * 1024);
    }
    const expected = noGrad(() => trained.model.call(tensor(prepared, [6, 1, 32, 32]))).data();
    await writeNpy(join(dir, 'prepared.npy'), tensor(prepared, [6, 1, 32, 32]));
    for (const [input, said] of [
      ['x_test.npy', /x_test\.npy: RGB 32×32 → grey, normalised \(mean [\d.]+, std [\d.]+\)/],
      ['prepared.npy', /prepared\.npy: \[1, 32, 32\], the model's input, fed as it is/],
    ] as const) {
      const file = input === 'x_test.npy' ? join(data, input) : join(dir, input);
      const predicted = cli(['predict', out, file, '--output', join(dir, 'y.npy')]);
      assert.equal(predicted.status, 0, predicted.stderr);
      assert.match(predicted.stderr, said);
      assertClose((await readNpy(join(dir, 'y.npy'))).data(), expected, 1e-4, input);
    }
    await writeNpyPair(join(dir, 'small'), [1, 8, 8], 2, 2);
    assertOneLineFailure(
      ['predict', out, join(dir, 'small', 'x.npy')],
      /.*x\.npy: images \[1, 8, 8\] are neither the data's \[3, 32, 32\] \(prepared as in training\) nor the model's input \[1, 32, 32\] \(fed as they are\)/,
    );
  });
});

test('convnets train on an image folder: decoded at the model input, a corrupt image skipped and counted, predict names classes', async (t) => {
  const sharp = await loadSharp();
  if (sharp === null) return t.skip('the optional package sharp is not installed');
  await withTempDir(async (dir) => {
    const data = join(dir, 'photos');
    await writeImageFolder(sharp, data, { cat: [200, 120, 40], dog: [30, 60, 220] }, 8);
    writeFileSync(join(data, 'dog', 'broken.jpg'), 'not a JPEG');
    const out = join(dir, 'run');
    const run = cli([
      'train',
      'resnet20',
      '--data',
      data,
      '--input-size',
      '16',
      '--epochs',
      '1',
      '--batch-size',
      '4',
      '--augment',
      'flip,crop:2,color:0.05,pca:0.1',
      '--out',
      out,
      '--quiet',
      '--cache',
      join(dir, 'cache'),
    ]);
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stderr, /skipped .*broken\.jpg: /);
    assert.equal(run.stderr.match(/skipped .*broken\.jpg/g)?.length, 1, 'warned once');
    assert.match(run.stderr, /no test set in this data/);
    assert.match(run.stderr, /1 unreadable image\(s\) skipped/);
    const report = await readFile(join(out, 'report.md'), 'utf8');
    assert.match(report, /unreadable images skipped: 1 \(.*broken\.jpg\)/);
    assert.match(report, /test set: none in this data/);
    const trained = await loadTrained(out);
    assert.deepEqual(trained.meta.modelOptions, { inChannels: 3, numClasses: 2, seed: 1 });
    assert.equal(trained.meta.augment, 'flip,crop:2,color:0.05,pca:0.1');
    // AlexNet's PCA of the training images' RGB values is kept with the checkpoint: two colours, one main axis.
    const pca = trained.meta.pca as { eigenvalues: number[]; eigenvectors: number[][] };
    assert.equal(pca.eigenvalues.length, 3);
    assert.ok(pca.eigenvalues[0] > 0.01 && pca.eigenvalues[1] < 1e-6, `eigenvalues ${pca.eigenvalues}`);

    const predicted = cli(['predict', out, join(data, 'cat', '0003.png'), '--top', '2']);
    assert.equal(predicted.status, 0, predicted.stderr);
    assert.match(
      predicted.stderr,
      /0003\.png: RGB 13×11 → resized to 16×16 \(cover, centre crop\), normalised/,
    );
    assert.match(predicted.stdout, /^0003\.png\n\s+[\d.]+%\s+[01] (cat|dog)\n\s+[\d.]+%\s+[01] (cat|dog)\n$/);
  });
});

test('convnets train: a bad --augment or --data is one line', () => {
  assertUsageFailure(
    ['train', 'lenet5', '--data', 'fashion-mnist', '--augment', 'flop'],
    /--augment: unknown 'flop' \(did you mean flip\?\)/,
  );
  assertUsageFailure(
    ['train', 'lenet5', '--data', 'fashion-mnist', '--augment', 'warp:1,2,3'],
    /--augment warp takes at most 2/,
  );
  assertUsageFailure(
    ['train', 'lenet5', '--data', 'fashion-mnist', '--label-smoothing', '1'],
    /--label-smoothing must be in \[0, 1\), got '1'/,
  );
  assertOneLineFailure(
    ['train', 'lenet5', '--data', '/no/such/place'],
    /--data \/no\/such\/place: no such file or directory/,
  );
});
