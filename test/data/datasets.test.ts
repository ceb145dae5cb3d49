import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { FormatError, ShapeError, ValueError } from '../../src/errors.js';
import {
  ByteImageDataset,
  FASHION_MNIST_DIR,
  arrayDataset,
  cifar10,
  cifar100,
  datasetFromSpec,
  fashionMnist,
  idxDataset,
  imageFolder,
  mnist,
  randomSplit,
  readCifarBatches,
  splitValidation,
} from '../../src/data/index.js';

const dir = mkdtempSync(join(tmpdir(), 'convnets-data-'));

function idx(magic: number, dimensions: number[], data: number[] | Uint8Array): Uint8Array {
  const header = new DataView(new ArrayBuffer(4 + 4 * dimensions.length));
  header.setUint32(0, magic);
  dimensions.forEach((d, i) => header.setUint32(4 + 4 * i, d));
  return Buffer.concat([new Uint8Array(header.buffer), Uint8Array.from(data)]);
}

function write(name: string, bytes: Uint8Array): string {
  const path = join(dir, name);
  writeFileSync(path, bytes);
  return path;
}

// Three 2×2 images with pixels 0, 51, …, and labels 2, 0, 1.
const pixels = [0, 51, 102, 153, 204, 255, 0, 0, 10, 20, 30, 40];
const imagesBytes = idx(0x803, [3, 2, 2], pixels);
const labelsBytes = idx(0x801, [3], [2, 0, 1]);

function assertFormatError(fn: () => unknown, file: string, problem: RegExp): void {
  assert.throws(fn, (error: Error) => {
    assert.ok(error instanceof FormatError, `expected a FormatError, got ${error.name}: ${error.message}`);
    assert.ok(error.message.includes(file), `message names ${file}: ${error.message}`);
    assert.match(error.message, problem);
    return true;
  });
}

test('reads IDX images and labels, plain and gzipped, as [1, H, W] in [0, 1]', () => {
  for (const gz of [false, true]) {
    const encode = (bytes: Uint8Array): Uint8Array => (gz ? gzipSync(bytes) : bytes);
    const images = write(`small-images${gz ? '.gz' : ''}`, encode(imagesBytes));
    const labels = write(`small-labels${gz ? '.gz' : ''}`, encode(labelsBytes));
    const dataset = idxDataset(images, labels);
    assert.equal(dataset.length, 3);
    assert.deepEqual(dataset.shape, [1, 2, 2]);
    assert.deepEqual(dataset.classNames, ['0', '1', '2']);
    const first = dataset.get(0);
    assert.equal(first.label, 2);
    assert.deepEqual(Array.from(first.image), [0, 51 / 255, 102 / 255, 153 / 255].map(Math.fround));
    assert.deepEqual(Array.from(dataset.get(1).image), [204 / 255, 1, 0, 0].map(Math.fround));
    assert.equal(dataset.get(2).label, 1);
    assert.throws(() => dataset.get(3), /index 3 is outside 0..2/);
  }
});

test('corrupt IDX files give FormatErrors naming the file and the problem', () => {
  const labels = write('good-labels', labelsBytes);
  const cases: [string, Uint8Array, RegExp][] = [
    ['wrong-magic', idx(0x801, [3], [1, 2, 3]), /magic number 0x00000801, expected 0x00000803/],
    ['wrong-type', idx(0xd03, [3, 2, 2], pixels), /magic number 0x00000d03, expected 0x00000803/],
    [
      'truncated',
      imagesBytes.subarray(0, imagesBytes.length - 5),
      /truncated: .*3 × 2 × 2 need 12 bytes .* has 7/,
    ],
    ['too-long', Buffer.concat([imagesBytes, Uint8Array.of(1, 2)]), /2 bytes too long/],
    ['short-header', imagesBytes.subarray(0, 10), /truncated: the header needs 16 bytes, the file has 10/],
    ['tiny', Uint8Array.of(0, 0), /truncated: 2 bytes/],
    ['bad-gzip.gz', gzipSync(imagesBytes).subarray(0, 20), /gzip data is corrupt or truncated/],
  ];
  for (const [name, bytes, problem] of cases) {
    const file = write(name, bytes);
    assertFormatError(() => idxDataset(file, labels), file, problem);
  }
  const images = write('good-images', imagesBytes);
  const fewer = write('fewer-labels', idx(0x801, [2], [0, 1]));
  assertFormatError(() => idxDataset(images, fewer), fewer, /2 labels, but .*good-images holds 3 images/);
  const wrongLabels = write('images-as-labels', imagesBytes);
  assertFormatError(() => idxDataset(images, wrongLabels), wrongLabels, /expected 0x00000801 \(IDX labels/);
  const outOfRange = write('label-12', idx(0x801, [3], [0, 12, 1]));
  assertFormatError(
    () => idxDataset(images, outOfRange, { classNames: ['a', 'b', 'c'] }),
    outOfRange,
    /label 12 at index 1 is outside 0..2/,
  );
  assert.throws(() => idxDataset(join(dir, 'missing'), labels), /missing: cannot read/);
});

test('fashionMnist and mnist find the usual file names in a directory', () => {
  const fashion = join(dir, 'fashion');
  mkdirSync(fashion);
  writeFileSync(join(fashion, 't10k-images-idx3-ubyte.gz'), gzipSync(imagesBytes));
  writeFileSync(join(fashion, 't10k-labels-idx1-ubyte'), labelsBytes);
  const test = fashionMnist({ split: 'test', dir: fashion });
  assert.equal(test.length, 3);
  assert.equal(test.classNames[2], 'Pullover');
  assert.equal(test.numClasses, 10);
  assert.throws(
    () => fashionMnist({ split: 'train', dir: fashion }),
    /train images: none of .*dataset-fashion-mnist/,
  );
  const digits = join(dir, 'mnist');
  mkdirSync(digits);
  writeFileSync(join(digits, 'train-images.idx3-ubyte'), imagesBytes);
  writeFileSync(join(digits, 'train-labels.idx1-ubyte'), labelsBytes);
  assert.equal(mnist({ dir: digits }).get(0).label, 2);
  assert.throws(() => fashionMnist({ split: 'valid' as 'test', dir: fashion }), ValueError);
});

test("Debian's Fashion-MNIST: 60,000 + 10,000 images of 28×28 in 10 balanced classes", (t) => {
  if (!existsSync(FASHION_MNIST_DIR)) {
    t.skip(`${FASHION_MNIST_DIR} not found (apt-get install dataset-fashion-mnist)`);
    return;
  }
  const train = fashionMnist({ split: 'train' });
  const testSet = fashionMnist({ split: 'test' });
  assert.equal(train.length, 60000);
  assert.equal(testSet.length, 10000);
  assert.deepEqual(train.shape, [1, 28, 28]);
  assert.equal(train.numClasses, 10);
  assert.equal(train.classNames[9], 'Ankle boot');
  for (const [dataset, perClass] of [
    [train, 6000],
    [testSet, 1000],
  ] as const) {
    const counts = new Array<number>(10).fill(0);
    for (let i = 0; i < dataset.length; i++) counts[dataset.get(i).label]++;
    assert.deepEqual(counts, new Array(10).fill(perClass));
  }
  const { image } = train.get(0);
  assert.ok(image.every((v) => v >= 0 && v <= 1) && image.some((v) => v === 1));
});

function cifarRecord(labels: number[], fill: (i: number) => number): Uint8Array {
  return Uint8Array.from([...labels, ...Array.from({ length: 3072 }, (_, i) => fill(i))]);
}

test('CIFAR-10 batches: one label byte, 3072 CHW pixel bytes per record', () => {
  const cifar = join(dir, 'cifar-10');
  mkdirSync(cifar);
  for (let b = 1; b <= 5; b++) {
    writeFileSync(
      join(cifar, `data_batch_${b}.bin`),
      Buffer.concat([cifarRecord([b], (i) => i % 256), cifarRecord([9], () => b)]),
    );
  }
  writeFileSync(
    join(cifar, 'test_batch.bin'),
    cifarRecord([3], (i) => (i < 1024 ? 255 : 0)),
  );
  const train = cifar10({ dir: cifar });
  assert.equal(train.length, 10);
  assert.deepEqual(train.shape, [3, 32, 32]);
  assert.deepEqual(
    Array.from({ length: 10 }, (_, i) => train.get(i).label),
    [1, 9, 2, 9, 3, 9, 4, 9, 5, 9],
  );
  assert.equal(train.get(0).image[300], Math.fround((300 % 256) / 255));
  assert.equal(train.get(3).image[2000], Math.fround(2 / 255));
  const testSet = cifar10({ dir: cifar, split: 'test' });
  assert.equal(testSet.classNames[testSet.get(0).label], 'cat');
  const image = testSet.get(0).image;
  assert.ok(image.subarray(0, 1024).every((v) => v === 1) && image.subarray(1024).every((v) => v === 0));
});

test('CIFAR-100: two label bytes, coarse then fine', () => {
  const cifar = join(dir, 'cifar-100');
  mkdirSync(cifar);
  writeFileSync(
    join(cifar, 'train.bin'),
    Buffer.concat([cifarRecord([4, 99], () => 7), cifarRecord([19, 0], () => 8)]),
  );
  const fine = cifar100({ dir: cifar });
  assert.deepEqual([fine.get(0).label, fine.get(1).label], [99, 0]);
  assert.equal(fine.numClasses, 100);
  const coarse = cifar100({ dir: cifar, labels: 'coarse' });
  assert.deepEqual([coarse.get(0).label, coarse.get(1).label], [4, 19]);
  assert.equal(coarse.get(1).image[5], Math.fround(8 / 255));
});

test('corrupt CIFAR batches give FormatErrors naming the file and the problem', () => {
  const truncated = write('data_batch_truncated.bin', cifarRecord([1], () => 0).subarray(0, 3000));
  assertFormatError(
    () => readCifarBatches([truncated], { labelBytes: 1, labelIndex: 0, numClasses: 10 }),
    truncated,
    /3000 bytes is not a whole number of 3073-byte records/,
  );
  const badLabel = write(
    'data_batch_label.bin',
    Buffer.concat([cifarRecord([1], () => 0), cifarRecord([10], () => 0)]),
  );
  assertFormatError(
    () => readCifarBatches([badLabel], { labelBytes: 1, labelIndex: 0, numClasses: 10 }),
    badLabel,
    /record 1 has label 10, outside 0..9/,
  );
  // A CIFAR-10 batch read as CIFAR-100 has the wrong record size.
  const two = write(
    'cifar10-as-100.bin',
    Buffer.concat([cifarRecord([1], () => 0), cifarRecord([1], () => 0)]),
  );
  assertFormatError(
    () => readCifarBatches([two], { labelBytes: 2, labelIndex: 1, numClasses: 100 }),
    two,
    /3074-byte records .*not a CIFAR-100 batch/,
  );
});

test('gzipped IDX and CIFAR inflate no further than their headers declare, nor past what the file could hold', () => {
  const labels = write('gz-labels', labelsBytes);
  // The header says 3 images of 2×2; the stream goes on.
  const longer = write('longer.gz', gzipSync(Buffer.concat([imagesBytes, new Uint8Array(5000)])));
  assertFormatError(
    () => idxDataset(longer, labels),
    longer,
    /gzip data inflates past the 28 bytes the header declares/,
  );
  // 16 million images of 64×64 claimed by a few hundred bytes: refused before inflating.
  const claimed = idx(0x803, [2 ** 24, 64, 64], []);
  const huge = write('huge.gz', gzipSync(claimed));
  assertFormatError(
    () => idxDataset(huge, labels),
    huge,
    new RegExp(
      `the header declares ${16 + 2 ** 36} bytes, more than the ${2 ** 26} a \\d+-byte gzip file may inflate to`,
    ),
  );
  const wrongMagic = write('wrong-magic.gz', gzipSync(idx(0x801, [3], [1, 2, 3])));
  assertFormatError(() => idxDataset(wrongMagic, labels), wrongMagic, /magic number 0x00000801/);
  // CIFAR has no header: gzip's own size field (its last 4 bytes) declares the size.
  const options = { labelBytes: 1, labelIndex: 0, numClasses: 10 } as const;
  const records = Buffer.concat([cifarRecord([1], () => 0), cifarRecord([2], () => 9)]);
  const batch = gzipSync(records);
  assert.equal(readCifarBatches([write('batch.bin.gz', batch)], options).length, 2);
  const setSize = (size: number): Uint8Array => {
    const out = Uint8Array.from(batch);
    new DataView(out.buffer).setUint32(out.length - 4, size, true);
    return out;
  };
  const understated = write('understated.bin.gz', setSize(3073));
  assertFormatError(
    () => readCifarBatches([understated], options),
    understated,
    /gzip data inflates past the 3073 bytes gzip's size field declares/,
  );
  const overstated = write('overstated.bin.gz', setSize(2 ** 32 - 1));
  assertFormatError(
    () => readCifarBatches([overstated], options),
    overstated,
    /gzip's size field declares 4294967295 bytes, more than the 67108864 a \d+-byte gzip file may inflate to \(64× its size, at least 67108864\)/,
  );
});

test('arrayDataset keeps float images in shared memory and rebuilds from its spec', () => {
  const images = Float32Array.from({ length: 2 * 3 * 2 * 2 }, (_, i) => i / 10);
  const dataset = arrayDataset(images, [1, 0], [3, 2, 2], { classNames: ['cat', 'dog'] });
  assert.deepEqual(Array.from(dataset.get(1).image), Array.from(images.subarray(12)));
  dataset.get(0).image[0] = 99; // get() returns a copy
  assert.equal(dataset.get(0).image[0], 0);
  const spec = dataset.toSpec();
  assert.ok(spec.kind === 'float32' && spec.images instanceof SharedArrayBuffer);
  const rebuilt = datasetFromSpec(structuredClone(spec));
  assert.deepEqual(rebuilt.get(1), dataset.get(1));
  assert.deepEqual(rebuilt.classNames, ['cat', 'dog']);
  assert.throws(() => arrayDataset(images, [0, 1, 0], [3, 2, 2]), ShapeError);
  assert.throws(
    () => arrayDataset(images, [0, 5], [3, 2, 2], { classNames: ['a', 'b'] }),
    /label 5 of sample 1/,
  );
});

test('randomSplit: disjoint, complete, seeded; counts or fractions', () => {
  const dataset = arrayDataset(
    Float32Array.from({ length: 10 }, (_, i) => i),
    Array.from({ length: 10 }, () => 0),
    [1, 1, 1],
  );
  const [a, b] = randomSplit(dataset, [7, 3], 1);
  assert.deepEqual([a.length, b.length], [7, 3]);
  const values = (subset: typeof a): number[] =>
    Array.from({ length: subset.length }, (_, i) => subset.get(i).image[0]);
  assert.deepEqual(
    [...values(a), ...values(b)].sort((x, y) => x - y),
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
  );
  assert.deepEqual(values(randomSplit(dataset, [7, 3], 1)[1]), values(b));
  assert.notDeepEqual(values(randomSplit(dataset, [7, 3], 2)[1]), values(b));
  assert.deepEqual(
    randomSplit(dataset, [0.5, 0.25, 0.25], 1).map((s) => s.length),
    [6, 2, 2],
  );
  assert.throws(() => randomSplit(dataset, [5, 4], 1), /neither add up to the dataset's 10 samples/);
  const { train, validation } = splitValidation(dataset, { validation: 0.2, seed: 3 });
  assert.deepEqual([train.length, validation.length], [8, 2]);
  // A subset of a subset rebuilds from its spec in a worker.
  const nested = randomSplit(a, [4, 3], 5)[0];
  const rebuilt = datasetFromSpec(structuredClone(nested.toSpec()));
  assert.deepEqual(values(rebuilt as typeof a), values(nested));
});

/** A tiny binary PPM/PGM decoder standing in for sharp. */
async function decodePnm(
  file: string,
): Promise<{ data: Uint8Array; width: number; height: number; channels: number }> {
  const bytes = readFileSync(file);
  const header = bytes.subarray(0, 20).toString('latin1').split(/\s+/);
  const [magic, width, height] = [header[0], Number(header[1]), Number(header[2])];
  const channels = magic === 'P6' ? 3 : 1;
  return { data: bytes.subarray(bytes.length - width * height * channels), width, height, channels };
}

function pnm(width: number, height: number, rgb: number[]): Buffer {
  return Buffer.concat([Buffer.from(`P6\n${width} ${height}\n255\n`, 'latin1'), Uint8Array.from(rgb)]);
}

test('imageFolder: sorted class folders, HWC decoded to CHW, sizes must agree', async () => {
  const root = join(dir, 'folder');
  mkdirSync(join(root, 'zebra'), { recursive: true });
  mkdirSync(join(root, 'ant', 'nested'), { recursive: true });
  writeFileSync(join(root, 'zebra', 'a.ppm'), pnm(2, 1, [10, 20, 30, 40, 50, 60]));
  writeFileSync(join(root, 'ant', 'b.ppm'), pnm(2, 1, [1, 2, 3, 4, 5, 6]));
  writeFileSync(join(root, 'ant', 'nested', 'c.ppm'), pnm(2, 1, [255, 0, 0, 0, 255, 0]));
  writeFileSync(join(root, 'ant', 'notes.txt'), 'not an image');
  const options = { decode: decodePnm, extensions: ['.ppm'] };
  const dataset = await imageFolder(root, options);
  assert.deepEqual(dataset.classNames, ['ant', 'zebra']);
  assert.deepEqual(dataset.shape, [3, 1, 2]);
  assert.deepEqual(
    Array.from({ length: 3 }, (_, i) => dataset.get(i).label),
    [0, 0, 1],
  );
  assert.deepEqual(Array.from((dataset as ByteImageDataset).bytes(0)), [1, 4, 2, 5, 3, 6]);
  assert.deepEqual(Array.from(dataset.bytes(2)), [10, 40, 20, 50, 30, 60]);
  writeFileSync(join(root, 'zebra', 'big.ppm'), pnm(1, 1, [0, 0, 0]));
  await assert.rejects(imageFolder(root, options), (error: Error) => {
    assert.ok(error instanceof FormatError);
    assert.match(error.message, /big\.ppm: decoded to 1×1×3, but ant\/b\.ppm to 1×2×3; pass \{ size \}/);
    return true;
  });
  await assert.rejects(imageFolder(join(dir, 'nowhere'), options), /cannot read/);
});

test('imageFolder decodes PNG and JPEG with sharp, when sharp is installed', async (t) => {
  let sharp: (input: unknown) => {
    png(): { toFile(f: string): Promise<unknown> };
    jpeg(): { toFile(f: string): Promise<unknown> };
  };
  try {
    const name = 'sharp';
    sharp = ((await import(name)) as { default: typeof sharp }).default;
  } catch {
    t.skip('the optional package sharp is not installed (npm install sharp)');
    return;
  }
  const root = join(dir, 'photos');
  mkdirSync(join(root, 'red'), { recursive: true });
  mkdirSync(join(root, 'blue'), { recursive: true });
  const solid = (r: number, g: number, b: number, width: number, height: number): unknown => ({
    create: { width, height, channels: 3, background: { r, g, b } },
  });
  await sharp(solid(255, 0, 0, 6, 4))
    .png()
    .toFile(join(root, 'red', 'a.png'));
  await sharp(solid(0, 0, 255, 8, 8))
    .jpeg()
    .toFile(join(root, 'blue', 'b.jpg'));
  const dataset = await imageFolder(root, { size: [4, 4] });
  assert.deepEqual(dataset.classNames, ['blue', 'red']);
  assert.deepEqual(dataset.shape, [3, 4, 4]);
  const red = dataset.get(1).image;
  assert.ok(red.subarray(0, 16).every((v) => v === 1) && red.subarray(16).every((v) => v === 0));
  const blue = dataset.get(0).image;
  assert.ok(blue.subarray(32).every((v) => v > 0.95) && blue.subarray(0, 16).every((v) => v < 0.05));
  const grey = await imageFolder(root, { size: 2, channels: 1 });
  assert.deepEqual(grey.shape, [1, 2, 2]);
});
