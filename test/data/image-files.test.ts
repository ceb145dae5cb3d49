import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { imageFiles, loader } from '../../src/data/index.js';
import { gc } from '../memory.js';
import { loadSharp, writeImageFolder } from '../train/data-files.js';

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'convnets-image-files-'));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const colours: Record<string, [number, number, number]> = { a: [255, 0, 0], b: [0, 255, 0], c: [0, 0, 255] };

test('imageFiles streams: a corrupt image is left out with one warning naming it, the same with or without workers', async (t) => {
  const sharp = await loadSharp();
  if (sharp === null) return t.skip('the optional package sharp is not installed');
  await withDir(async (dir) => {
    await writeImageFolder(sharp, dir, colours, 5);
    writeFileSync(join(dir, 'b', 'broken.png'), 'not a PNG at all');
    const dataset = imageFiles(dir, { shape: [3, 5, 5] });
    assert.equal(dataset.length, 16);
    assert.throws(() => dataset.get(0), /decoded when a loader asks for it/);
    const runs: { labels: number[]; values: number[] }[] = [];
    for (const workers of [0, 1]) {
      const warnings: string[] = [];
      const batches = loader(dataset, { batchSize: 4, workers, onSkip: (file) => warnings.push(file) });
      const labels: number[] = [];
      const values: number[] = [];
      for (let epoch = 0; epoch < 2; epoch++) {
        for await (const batch of batches) {
          labels.push(...batch.labels.data());
          values.push(...batch.images.data());
          assert.equal(batch.indices.length, batch.labels.shape[0]);
          batch.images.dispose();
          batch.labels.dispose();
        }
      }
      await batches.close();
      // Two epochs, one warning: the file is named once, and counted.
      assert.deepEqual(warnings, [join(dir, 'b', 'broken.png')], `workers ${workers}`);
      assert.equal(batches.skipped.size, 1);
      assert.equal(labels.length, 2 * 15, `workers ${workers}: 15 readable images an epoch`);
      runs.push({ labels, values });
    }
    assert.deepEqual(runs[1], runs[0], 'workers decode what the main thread decodes');
    // Class a is pure red: R 1, G and B 0 in every pixel.
    const red = runs[0].values.slice(0, 75);
    assert.ok(red.slice(0, 25).every((v) => v === 1) && red.slice(25).every((v) => v === 0));
  });
});

test('imageFiles keeps decoded images in its cache and reads them back', async (t) => {
  const sharp = await loadSharp();
  if (sharp === null) return t.skip('the optional package sharp is not installed');
  await withDir(async (dir) => {
    const images = join(dir, 'images');
    await writeImageFolder(sharp, images, colours, 2);
    const cacheDir = join(dir, 'cache');
    const dataset = imageFiles(images, { shape: [1, 3, 3], cacheDir });
    const first = await dataset.fetch(Int32Array.from([0, 3, 5]));
    const files = readdirSync(cacheDir);
    assert.equal(files.length, 3);
    assert.ok(files.every((f) => readFileSync(join(cacheDir, f)).length === 9));
    // A cache file stands in for its image: change one and the sample changes with it.
    const [name] = files;
    writeFileSync(join(cacheDir, name), Buffer.alloc(9, 51));
    const second = await dataset.fetch(Int32Array.from([0, 3, 5]));
    const changed = second.filter(
      (s, i) => 'image' in s && 'image' in first[i] && s.image[0] !== first[i].image[0],
    );
    assert.equal(changed.length, 1);
    assert.ok('image' in changed[0] && Math.abs(changed[0].image[0] - 0.2) < 1e-6);
  });
});

test('imageFiles keeps memory flat: a folder many times the batches in flight never lands in memory at once', async (t) => {
  const sharp = await loadSharp();
  if (sharp === null) return t.skip('the optional package sharp is not installed');
  await withDir(async (dir) => {
    const perClass = 100;
    await writeImageFolder(sharp, dir, colours, perClass);
    // 300 images of 3×64×64 float32 (48 KiB each): 14 MiB if the folder were decoded up front.
    const shape = [3, 64, 64] as const;
    const imageBytes = 4 * shape[0] * shape[1] * shape[2];
    const dataset = imageFiles(dir, { shape });
    const batchSize = 10;
    const prefetch = 2;
    const batches = loader(dataset, { batchSize, workers: 1, prefetch });
    gc();
    const baseline = process.memoryUsage().arrayBuffers;
    let peak = 0;
    let images = 0;
    for await (const batch of batches) {
      images += batch.labels.shape[0];
      batch.images.dispose();
      batch.labels.dispose();
      if (images % 50 === 0) {
        gc();
        peak = Math.max(peak, process.memoryUsage().arrayBuffers - baseline);
      }
    }
    await batches.close();
    assert.equal(images, 3 * perClass);
    // In flight: the batch in use and `prefetch` more, each also held as a tensor; allow three times that (4.4 MB;
    // measured 2.5 MB), below the 6.1 MB that imageFolder's decoding up front reaches on the same folder.
    const bound = 3 * (prefetch + 1) * batchSize * imageBytes;
    assert.ok(
      peak < bound,
      `peak ${peak} bytes over the baseline, bound ${bound} (the folder: ${300 * imageBytes})`,
    );
  });
});
