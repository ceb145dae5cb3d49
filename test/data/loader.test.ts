import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { ShapeError, ValueError } from '../../src/errors.js';
import { Generator } from '../../src/tensor/random.js';
import {
  arrayDataset,
  loader,
  randomSplit,
  transforms,
  type Dataset,
  type LoaderOptions,
} from '../../src/data/index.js';

function noiseDataset(count: number, shape: [number, number, number]): Dataset {
  const generator = new Generator(123);
  const size = shape[0] * shape[1] * shape[2];
  const images = Float32Array.from({ length: count * size }, () => generator.uniform());
  return arrayDataset(
    images,
    Array.from({ length: count }, (_, i) => i % 3),
    shape,
  );
}

interface Collected {
  images: Float32Array[];
  shapes: number[][];
  labels: Int32Array[];
  indices: Int32Array[];
}

async function collect(dataset: Dataset, options: LoaderOptions, epochs = 1): Promise<Collected[]> {
  const data = loader(dataset, options);
  const result: Collected[] = [];
  try {
    for (let e = 0; e < epochs; e++) {
      const epoch: Collected = { images: [], shapes: [], labels: [], indices: [] };
      for await (const batch of data) {
        epoch.images.push(batch.images.data() as Float32Array);
        epoch.shapes.push([...batch.images.shape]);
        epoch.labels.push(batch.labels.data() as Int32Array);
        epoch.indices.push(batch.indices);
      }
      result.push(epoch);
    }
  } finally {
    await data.close();
  }
  return result;
}

const augment = transforms.compose([
  transforms.randomCrop(6, { padding: 1, mode: 'reflect' }),
  transforms.randomHorizontalFlip(),
  transforms.randomRotation(15),
  transforms.colorShift({ scale: 0.1 }),
]);

test('workers 0, 1 and 2 give bit-identical batches for the same seed', async () => {
  const dataset = noiseDataset(50, [2, 6, 6]);
  const options = { batchSize: 8, shuffle: true, seed: 7, transform: augment };
  const inline = await collect(dataset, { ...options, workers: 0 }, 2);
  assert.equal(inline[0].images.length, 7);
  assert.deepEqual(inline[0].shapes[0], [8, 2, 6, 6]);
  assert.deepEqual(inline[0].shapes[6], [2, 2, 6, 6]);
  for (const workers of [1, 2]) {
    const threaded = await collect(dataset, { ...options, workers, prefetch: 3 }, 2);
    assert.deepEqual(threaded, inline, `${workers} workers`);
  }
});

test('shuffling differs across epochs, repeats across runs, and follows setEpoch', async () => {
  const dataset = noiseDataset(20, [1, 2, 2]);
  const order = (c: Collected): number[] => c.indices.flatMap((i) => Array.from(i));
  const options = { batchSize: 6, shuffle: true, seed: 3 };
  const [first, second] = await collect(dataset, options, 2);
  assert.notDeepEqual(order(first), order(second));
  assert.deepEqual(
    [...order(first)].sort((a, b) => a - b),
    Array.from({ length: 20 }, (_, i) => i),
  );
  const again = await collect(dataset, options, 2);
  assert.deepEqual(again.map(order), [order(first), order(second)]);
  const resumed = loader(dataset, options);
  resumed.setEpoch(1);
  assert.deepEqual(Array.from(resumed.order(1)), order(second));
  const [other] = await collect(dataset, { ...options, seed: 4 });
  assert.notDeepEqual(order(other), order(first));
  // Labels travel with their images.
  first.labels.forEach((labels, b) =>
    assert.deepEqual(
      Array.from(labels),
      Array.from(first.indices[b], (i) => i % 3),
    ),
  );
});

test('without shuffle, dataset order; dropLast leaves out the short batch', async () => {
  const dataset = noiseDataset(10, [1, 1, 1]);
  const data = loader(dataset, { batchSize: 4, dropLast: true, seed: 0 });
  assert.equal(data.length, 2);
  const [epoch] = await collect(dataset, { batchSize: 4, dropLast: true, seed: 0 });
  assert.deepEqual(
    epoch.indices.map((i) => Array.from(i)),
    [
      [0, 1, 2, 3],
      [4, 5, 6, 7],
    ],
  );
  assert.equal(loader(dataset, { batchSize: 4, seed: 0 }).length, 3);
});

test("a sample's augmentation depends on (seed, epoch, index), not on its batch", async () => {
  const dataset = noiseDataset(12, [1, 4, 4]);
  const transform = transforms.compose([
    transforms.randomCrop(4, { padding: 2 }),
    transforms.randomVerticalFlip(),
  ]);
  const bySample = (epoch: Collected): Map<number, number[]> => {
    const map = new Map<number, number[]>();
    epoch.indices.forEach((indices, b) =>
      indices.forEach((index, n) =>
        map.set(index, Array.from(epoch.images[b].subarray(n * 16, (n + 1) * 16))),
      ),
    );
    return map;
  };
  const [a] = await collect(dataset, { batchSize: 5, seed: 1, transform });
  const [b] = await collect(dataset, { batchSize: 3, seed: 1, shuffle: true, transform });
  assert.deepEqual(bySample(a), bySample(b));
  const [c] = await collect(dataset, { batchSize: 5, seed: 2, transform });
  assert.notDeepEqual(bySample(a), bySample(c));
});

test('multi-crop transforms give [N, K, C, H, W] batches', async () => {
  const dataset = noiseDataset(3, [1, 4, 4]);
  const [epoch] = await collect(dataset, {
    batchSize: 3,
    seed: 0,
    transform: transforms.tenCrop(2),
    workers: 1,
  });
  assert.deepEqual(epoch.shapes[0], [3, 10, 1, 2, 2]);
  const first = dataset.get(0).image;
  assert.deepEqual(Array.from(epoch.images[0].subarray(0, 4)), [first[0], first[1], first[4], first[5]]);
});

test('a transform error in a worker arrives as the same error class and message as inline', async () => {
  const dataset = noiseDataset(4, [1, 4, 4]);
  const options = { batchSize: 2, seed: 0, transform: transforms.randomCrop(5) };
  let inlineMessage = '';
  await assert.rejects(collect(dataset, options), (error: Error) => {
    assert.ok(error instanceof ShapeError);
    inlineMessage = error.message;
    return true;
  });
  await assert.rejects(collect(dataset, { ...options, workers: 2 }), (error: Error) => {
    assert.ok(error instanceof ShapeError, `${error.name}: ${error.message}`);
    assert.equal(error.message, inlineMessage);
    return true;
  });
});

test('what cannot go to a worker is refused up front, saying why', () => {
  const dataset = noiseDataset(4, [1, 2, 2]);
  assert.throws(
    () => loader(dataset, { batchSize: 2, workers: 1, transform: (image) => image }),
    /a transform function cannot be sent to worker threads/,
  );
  const custom: Dataset = {
    length: 1,
    shape: [1, 1, 1],
    numClasses: 1,
    classNames: ['x'],
    get: () => ({ image: new Float32Array(1), label: 0 }),
  };
  assert.throws(() => loader(custom, { batchSize: 1, workers: 1 }), /has no toSpec\(\)/);
  assert.throws(() => loader(dataset, { batchSize: 0 }), ValueError);
  assert.throws(() => loader(dataset, { batchSize: 1, seed: -1 }), /seed must be an integer/);
});

test('a function transform runs inline', async () => {
  const dataset = noiseDataset(2, [1, 1, 2]);
  const [epoch] = await collect(dataset, {
    batchSize: 2,
    seed: 0,
    transform: (image) => ({ ...image, data: image.data.map((v) => v * 2) }),
  });
  const expected = [...Array.from(dataset.get(0).image), ...Array.from(dataset.get(1).image)].map((v) =>
    Math.fround(v * 2),
  );
  assert.deepEqual(Array.from(epoch.images[0]), expected);
});

test('a loader can stop early, close, and iterate again with fresh workers', async () => {
  const [subset] = randomSplit(noiseDataset(40, [1, 3, 3]), [30, 10], 0);
  const data = loader(subset, { batchSize: 4, seed: 5, workers: 2, prefetch: 4, transform: augment2() });
  for await (const batch of data) {
    assert.deepEqual([...batch.images.shape], [4, 1, 3, 3]);
    break; // abandons batches still loading
  }
  await data.close();
  let count = 0;
  for await (const batch of data) count += batch.labels.shape[0];
  assert.equal(count, 30);
  await data.close();
});

function augment2(): transforms.TransformSpec {
  return transforms.compose([transforms.randomCrop(3, { padding: 1 }), transforms.randomHorizontalFlip()]);
}

test('workers never keep the process alive: a script that forgets close() still exits', () => {
  // The Node entry, as a user imports it: under CONVNETS_BACKEND=native it registers that backend.
  const index = new URL('../../src/index.js', import.meta.url).href;
  const script = `
    import { data as d } from ${JSON.stringify(index)};
    const { arrayDataset, loader, transforms } = d;
    const data = loader(arrayDataset(new Float32Array(64 * 4), Array(64).fill(0), [1, 2, 2]),
      { batchSize: 4, workers: 2, prefetch: 4, seed: 1, transform: transforms.randomHorizontalFlip() });
    let batches = 0;
    for await (const batch of data) { if (++batches === 3) break; }
    for await (const batch of data) batches++;
    console.log('batches', batches);
  `;
  const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    timeout: 20_000,
    encoding: 'utf8',
    cwd: fileURLToPath(new URL('.', import.meta.url)),
  });
  assert.equal(child.signal, null, `the child hung and was killed; stderr: ${child.stderr}`);
  assert.equal(child.status, 0, child.stderr);
  assert.equal(child.stdout.trim(), 'batches 19');
});
