/**
 * CIFAR-10 and CIFAR-100 in their binary versions: records of label byte(s) then 3072 pixel bytes (1024 red,
 * 1024 green, 1024 blue, each 32×32 row-major, so already CHW). CIFAR-10 has one label byte; CIFAR-100 two
 * (coarse, then fine).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { FormatError, ValueError } from '../../errors.js';
import { ByteImageDataset } from './dataset.js';
import { findFile, gunzipDeclared, readBytes } from './files.js';
import type { Split } from './idx.js';
import { checkOptions } from '../../options.js';

export const CIFAR_IMAGE_BYTES = 3 * 32 * 32;

/** CIFAR-10's class names, in label order. */
export const CIFAR10_CLASSES = [
  'airplane',
  'automobile',
  'bird',
  'cat',
  'deer',
  'dog',
  'frog',
  'horse',
  'ship',
  'truck',
] as const;

/** How to read a CIFAR binary batch: label bytes per record, which one is the label, and the classes. */
export interface CifarReadOptions {
  /** Label bytes per record: 1 (CIFAR-10) or 2 (CIFAR-100: coarse, fine). */
  labelBytes: 1 | 2;
  /** Which label byte is the label: 0 for CIFAR-10 and CIFAR-100's coarse labels, 1 for its fine labels. */
  labelIndex: 0 | 1;
  numClasses: number;
  classNames?: readonly string[];
  name?: string;
}

/**
 * One batch file's records, gunzipped if need be (no further than gzip's size field declares), checked to be whole
 * records whose labels lie in 0..numClasses − 1.
 */
export function decodeCifarBatch(bytes: Uint8Array, file: string, options: CifarReadOptions): Uint8Array {
  const { labelBytes, labelIndex, numClasses } = options;
  if (labelIndex >= labelBytes) throw new ValueError(`CIFAR: label byte ${labelIndex} of ${labelBytes}`);
  const recordSize = labelBytes + CIFAR_IMAGE_BYTES;
  const records = gunzipDeclared(bytes, file);
  if (records.length % recordSize !== 0) {
    throw new FormatError(
      `${file}: ${records.length} bytes is not a whole number of ${recordSize}-byte records ` +
        `(${labelBytes} label byte${labelBytes === 1 ? '' : 's'} + ${CIFAR_IMAGE_BYTES} pixel bytes); ` +
        `${records.length % recordSize} bytes left over: truncated, or not a CIFAR-${labelBytes === 1 ? 10 : 100} batch`,
    );
  }
  for (let offset = 0; offset < records.length; offset += recordSize) {
    const label = records[offset + labelIndex];
    if (label >= numClasses) {
      throw new FormatError(
        `${file}: record ${offset / recordSize} has label ${label}, outside 0..${numClasses - 1}`,
      );
    }
  }
  return records;
}

/** Reads CIFAR binary batch files, in order, into one dataset of [3, 32, 32] images with values in [0, 1]. */
export function readCifarBatches(files: readonly string[], options: CifarReadOptions): ByteImageDataset {
  checkOptions('data.readCifarBatches', options, {
    labelBytes: true,
    labelIndex: true,
    numClasses: true,
    classNames: true,
    name: true,
  });
  const { labelBytes, labelIndex, numClasses } = options;
  const recordSize = labelBytes + CIFAR_IMAGE_BYTES;
  const contents = files.map((file) => decodeCifarBatch(readBytes(file), file, options));
  const count = contents.reduce((n, bytes) => n + bytes.length / recordSize, 0);
  const pixels = new Uint8Array(new SharedArrayBuffer(count * CIFAR_IMAGE_BYTES));
  const labels = new Int32Array(new SharedArrayBuffer(count * 4));
  let n = 0;
  for (const records of contents) {
    for (let offset = 0; offset < records.length; offset += recordSize, n++) {
      labels[n] = records[offset + labelIndex];
      pixels.set(records.subarray(offset + labelBytes, offset + recordSize), n * CIFAR_IMAGE_BYTES);
    }
  }
  const classNames = options.classNames ?? Array.from({ length: numClasses }, (_, i) => String(i));
  return new ByteImageDataset(options.name ?? files.join(', '), pixels, labels, [3, 32, 32], classNames);
}

/** Class names from a text file of one name a line (the binary versions' batches.meta.txt and friends). */
function namesFrom(file: string, count: number): string[] | undefined {
  if (!existsSync(file)) return undefined;
  const names = readFileSync(file, 'utf8')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line.length > 0);
  return names.length === count ? names : undefined;
}

/** CIFAR-10 from `dir` holding data_batch_1.bin … data_batch_5.bin and test_batch.bin. */
export function cifar10(options: { dir: string; split?: Split }): ByteImageDataset {
  checkOptions('data.cifar10', options, { dir: true, split: true });
  const { dir, split = 'train' } = options;
  const names = split === 'train' ? [1, 2, 3, 4, 5].map((i) => `data_batch_${i}.bin`) : ['test_batch.bin'];
  const files = names.map((name) => findFile(`CIFAR-10 ${split}`, [join(dir, name)]));
  return readCifarBatches(files, {
    labelBytes: 1,
    labelIndex: 0,
    numClasses: 10,
    classNames: namesFrom(join(dir, 'batches.meta.txt'), 10) ?? CIFAR10_CLASSES,
    name: `cifar-10 ${split}`,
  });
}

/** CIFAR-100 from `dir` holding train.bin and test.bin; fine (100 classes) or coarse (20) labels. */
export function cifar100(options: {
  dir: string;
  split?: Split;
  labels?: 'fine' | 'coarse';
}): ByteImageDataset {
  checkOptions('data.cifar100', options, { dir: true, split: true, labels: true });
  const { dir, split = 'train', labels = 'fine' } = options;
  const file = findFile(`CIFAR-100 ${split}`, [join(dir, `${split}.bin`)]);
  const numClasses = labels === 'fine' ? 100 : 20;
  return readCifarBatches([file], {
    labelBytes: 2,
    labelIndex: labels === 'fine' ? 1 : 0,
    numClasses,
    classNames: namesFrom(join(dir, `${labels}_label_names.txt`), numClasses),
    name: `cifar-100 ${split}`,
  });
}
