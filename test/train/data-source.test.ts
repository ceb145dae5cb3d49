import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loader, type Dataset } from '../../src/data/index.js';
import { dataKind, resolveData } from '../../src/train/index.js';
import {
  labelOf,
  loadSharp,
  pixel,
  writeCifar10Directory,
  writeIdxDirectory,
  writeImageFolder,
  writeNpyPair,
} from './data-files.js';

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'convnets-data-'));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Every value of sample n against the generator's pixel(offset + n, k) / 255, and its label. */
function assertSamples(dataset: Dataset, offset: number, classes: number, what: string): void {
  const size = dataset.shape[0] * dataset.shape[1] * dataset.shape[2];
  for (const n of [0, dataset.length - 1]) {
    const { image, label } = dataset.get(n);
    assert.equal(label, labelOf(offset + n, classes), `${what}: label of ${n}`);
    for (const k of [0, 1, size - 1])
      assert.ok(Math.abs(image[k] - pixel(offset + n, k) / 255) < 1e-6, `${what}: sample ${n} value ${k}`);
  }
}

test('--data reads an IDX directory (MNIST, KMNIST) with its class names from classes.txt', async () => {
  await withDir(async (dir) => {
    writeIdxDirectory(dir, 12, 5);
    assert.equal(dataKind(dir), 'idx');
    const plain = resolveData(dir);
    assert.deepEqual(plain.classNames, ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
    writeFileSync(join(dir, 'classes.txt'), 'o\nki\nsu\ntsu\nna\nha\nma\nya\nre\nwo\n');
    const source = resolveData(dir);
    assert.deepEqual(
      [source.kind, source.imageShape, source.train.length, source.test?.length],
      ['idx', [1, 8, 8], 12, 5],
    );
    assert.equal(source.classNames[3], 'tsu');
    assert.equal(source.validation, null);
    assertSamples(source.train, 0, 10, 'train');
    assertSamples(source.test!, 1000, 10, 'test');
  });
});

test('--data reads a CIFAR-10 binary directory: five training batches in order, the test batch', async () => {
  await withDir(async (dir) => {
    writeCifar10Directory(dir, 3);
    const source = resolveData(dir);
    assert.deepEqual(
      [source.kind, source.imageShape, source.train.length, source.test?.length],
      ['cifar-10', [3, 32, 32], 15, 3],
    );
    assert.equal(source.classNames[9], 'truck');
    assertSamples(source.train, 0, 10, 'train');
    assertSamples(source.test!, 15, 10, 'test');
  });
});

test('--data reads an .npy pair, named by its directory or its x file; x_test.npy is the test set', async () => {
  await withDir(async (dir) => {
    await writeNpyPair(dir, [3, 5, 4], 9, 4, 3);
    for (const spec of [dir, join(dir, 'x.npy')]) {
      const source = resolveData(spec);
      assert.deepEqual(
        [source.kind, source.imageShape, source.train.length, source.test?.length],
        ['npy', [3, 5, 4], 9, 3],
      );
      assert.deepEqual(source.classNames, ['0', '1', '2', '3']);
      assertSamples(source.train, 0, 4, 'train');
      assertSamples(source.test!, 1000, 4, 'test');
    }
    const alone = join(dir, 'alone');
    await writeNpyPair(alone, [1, 2, 2], 3, 2);
    assert.equal(resolveData(alone).test, null);
    writeFileSync(join(dir, 'notes.txt'), 'x');
    assert.throws(() => dataKind(join(dir, 'notes.txt')), /a file, but not an \.npy/);
    assert.throws(() => dataKind(join(dir, 'absent')), /absent: no such file or directory/);
    mkdirSync(join(dir, 'empty'));
    assert.throws(() => dataKind(join(dir, 'empty')), /not data convnets knows/);
  });
});

test('--data reads an image folder: train/ and val/ when present, RGB to grey by luma, decoded as batches ask', async (t) => {
  const sharp = await loadSharp();
  if (sharp === null) return t.skip('the optional package sharp is not installed');
  await withDir(async (dir) => {
    const colours = { blue: [0, 0, 255], green: [0, 200, 0], red: [250, 0, 0] } as Record<
      string,
      [number, number, number]
    >;
    await writeImageFolder(sharp, join(dir, 'train'), colours, 4);
    await writeImageFolder(sharp, join(dir, 'val'), colours, 2);
    const source = resolveData(dir, { folderShape: [1, 6, 6] });
    assert.deepEqual(
      [source.kind, source.classNames, source.train.length, source.validation?.length, source.test],
      ['image-folder', ['blue', 'green', 'red'], 12, 6, null],
    );
    const batches = loader(source.validation!, { batchSize: 6 });
    for await (const batch of batches) {
      assert.deepEqual(batch.images.shape, [6, 1, 6, 6]);
      const values = batch.images.data();
      // 0.299 R + 0.587 G + 0.114 B of each class's colour, rounded to a byte.
      const expected = [0.114 * 255, 0.587 * 200, 0.299 * 250].map((v) => Math.round(v) / 255);
      Array.from(batch.labels.data()).forEach((label, n) =>
        assert.ok(
          Math.abs(values[n * 36 + 17] - expected[label]) < 1e-6,
          `image ${n}: ${values[n * 36 + 17]}`,
        ),
      );
    }
    // Without train/, the root's sub-folders are the classes and validation is split off later.
    const flat = resolveData(join(dir, 'train'), { folderShape: [3, 4, 4] });
    assert.deepEqual([flat.train.length, flat.validation, flat.test], [12, null, null]);
  });
});
