import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setBackend } from '../../src/backend/registry.js';
import { Subset, type Dataset } from '../../src/data/index.js';
import { planTraining } from '../../src/cli/train-setup.js';
import { writeCifar10Directory, writeIdxDirectory, writeNpyPair } from '../train/data-files.js';

setBackend('reference');

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'convnets-plan-'));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const indicesOf = (dataset: Dataset) => Array.from((dataset as Subset).indices);

test('the validation split is seeded, disjoint from training, and taken from --limit’s images', async () => {
  await withDir(async (dir) => {
    await writeNpyPair(dir, [1, 6, 6], 40, 3, 5);
    const plan = (seed: number, valSplit = 0.25, limit?: number) =>
      planTraining('lenet5', { data: dir, seed, valSplit, limit, augment: 'none' });
    const first = await plan(1);
    const train = indicesOf(first.train);
    const validation = indicesOf(first.validation!);
    assert.deepEqual([train.length, validation.length, first.validationOrigin], [30, 10, 'split']);
    assert.deepEqual(
      [...train, ...validation].sort((a, b) => a - b),
      Array.from({ length: 40 }, (_, i) => i),
    );
    assert.equal(first.test?.length, 5, 'the test set is apart from both');
    const again = await plan(1);
    assert.deepEqual([indicesOf(again.train), indicesOf(again.validation!)], [train, validation]);
    assert.notDeepEqual(indicesOf((await plan(2)).validation!), validation);
    // A count instead of a fraction, out of the first 20 images only.
    const limited = await plan(1, 4, 20);
    assert.equal(limited.validation!.length, 4);
    assert.ok(indicesOf(limited.validation!).every((i) => i < 20));
    const none = await plan(1, 0);
    assert.deepEqual([none.validation, none.validationOrigin, none.train.length], [null, 'none', 40]);
  });
});

test('a model takes the data by the stated rules: channels, size, class count', async () => {
  await withDir(async (dir) => {
    writeCifar10Directory(join(dir, 'cifar'), 2);
    writeIdxDirectory(join(dir, 'idx'), 10, 2, 28);
    // The CIFAR ResNets take the data's channels; their tuned input side is for 28×28 images, so CIFAR keeps 32.
    const resnet = await planTraining('resnet20', { data: join(dir, 'cifar'), seed: 1, valSplit: 0 });
    assert.deepEqual(resnet.modelOptions, { inChannels: 3, numClasses: 10, seed: 1 });
    assert.deepEqual([resnet.preprocessing.inputShape, resnet.preprocessing.resize], [[3, 32, 32], 'none']);
    assert.equal(resnet.preprocessing.mean.length, 3);
    // LeNet-5 takes grey: CIFAR's RGB becomes its luma.
    const lenet = await planTraining('lenet5', { data: join(dir, 'cifar'), seed: 1, valSplit: 0 });
    assert.deepEqual(lenet.preprocessing.inputShape, [1, 32, 32]);
    assert.deepEqual(
      (lenet.testTransform as { transforms: { kind: string }[] }).transforms.map((t) => t.kind),
      ['convertChannels', 'normalize'],
    );
    // 28×28 digits: LeNet-5 pads to 32 (4 pixels ≤ 8); ResNet-18 at --input-size 64 gets them resized and as RGB.
    const padded = await planTraining('lenet5', { data: join(dir, 'idx'), seed: 1, valSplit: 0 });
    assert.equal(padded.preprocessing.resize, 'pad');
    const resized = await planTraining('resnet18', {
      data: join(dir, 'idx'),
      seed: 1,
      valSplit: 0,
      inputSize: 64,
    });
    assert.deepEqual(
      [resized.preprocessing.inputShape, resized.preprocessing.resize],
      [[3, 64, 64], 'resize'],
    );
    assert.deepEqual(resized.settings.origin, 'generic');
    // A model that cannot take the data says why, in one line.
    await assert.rejects(
      planTraining('alexnet', { data: join(dir, 'idx'), seed: 1, valSplit: 0, inputSize: 28 }),
      /^ValueError: alexnet cannot take .*idx's images at 3×28×28 \(.+\); try --input-size$/,
    );
  });
});
