/**
 * IDX files (LeCun's MNIST format, also Fashion-MNIST): a 4-byte magic number 0x0000TTDD (TT the value type,
 * 0x08 for unsigned bytes; DD the number of dimensions), DD big-endian 32-bit sizes, then the values.
 */
import { join } from 'node:path';
import { FormatError, ValueError } from '../../errors.js';
import { ByteImageDataset } from './dataset.js';
import { findFile, gunzipDeclared, readBytes } from './files.js';
import { checkOptions } from '../../options.js';

export const IDX_IMAGES_MAGIC = 0x00000803;
export const IDX_LABELS_MAGIC = 0x00000801;

/** An IDX file's contents: its dimensions and its bytes. */
export interface IdxArray {
  dimensions: number[];
  data: Uint8Array;
}

const hex = (n: number): string => `0x${n.toString(16).padStart(8, '0')}`;

/** The magic number and dimensions at the start of an unsigned-byte IDX file, and the size they give the file. */
function parseIdxHeader(
  bytes: Uint8Array,
  file: string,
  dimensionCount: 1 | 3,
): { dimensions: number[]; headerSize: number; size: number } {
  const expected = dimensionCount === 3 ? IDX_IMAGES_MAGIC : IDX_LABELS_MAGIC;
  const what = dimensionCount === 3 ? 'images' : 'labels';
  if (bytes.length < 4) {
    throw new FormatError(`${file}: truncated: ${bytes.length} bytes, too short for an IDX magic number`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = view.getUint32(0);
  if (magic !== expected) {
    throw new FormatError(
      `${file}: magic number ${hex(magic)}, expected ${hex(expected)} (IDX ${what}: unsigned bytes, ` +
        `${dimensionCount} dimension${dimensionCount === 1 ? '' : 's'})`,
    );
  }
  const headerSize = 4 + 4 * dimensionCount;
  if (bytes.length < headerSize) {
    throw new FormatError(
      `${file}: truncated: the header needs ${headerSize} bytes, the file has ${bytes.length}`,
    );
  }
  const dimensions = Array.from({ length: dimensionCount }, (_, i) => view.getUint32(4 + 4 * i));
  return { dimensions, headerSize, size: headerSize + dimensions.reduce((a, b) => a * b, 1) };
}

/** Parses an unsigned-byte IDX file of `dimensionCount` dimensions, checking magic number and size. */
export function parseIdx(bytes: Uint8Array, file: string, dimensionCount: 1 | 3): IdxArray {
  const { dimensions, headerSize, size } = parseIdxHeader(bytes, file, dimensionCount);
  const needed = size - headerSize;
  const found = bytes.length - headerSize;
  if (found !== needed) {
    throw new FormatError(
      `${file}: ${found < needed ? 'truncated' : `${found - needed} bytes too long`}: the header's dimensions ` +
        `${dimensions.join(' × ')} need ${needed} bytes after the ${headerSize}-byte header, the file has ${found}`,
    );
  }
  return { dimensions, data: bytes.subarray(headerSize) };
}

/**
 * An IDX file's bytes, gzipped or not: a gzipped one is inflated no further than its header's dimensions declare,
 * and refused before inflating when they declare more than the file could hold.
 */
export function decodeIdx(bytes: Uint8Array, file: string, dimensionCount: 1 | 3): IdxArray {
  const declared = {
    headerBytes: 4 + 4 * dimensionCount,
    size: (header: Uint8Array) => parseIdxHeader(header, file, dimensionCount).size,
  };
  return parseIdx(gunzipDeclared(bytes, file, declared), file, dimensionCount);
}

/** Reads an IDX file of images (magic 0x803), gzip or not: [count, height, width] bytes. */
export function readIdxImages(file: string): IdxArray {
  return decodeIdx(readBytes(file), file, 3);
}

/** Reads an IDX file of labels (magic 0x801), gzip or not. */
export function readIdxLabels(file: string): IdxArray {
  return decodeIdx(readBytes(file), file, 1);
}

/**
 * A dataset from an IDX images file ([N, H, W] bytes) and an IDX labels file ([N] bytes), gzipped or not.
 * Images read as [1, H, W] with values in [0, 1].
 */
export function idxDataset(
  imagesFile: string,
  labelsFile: string,
  options: { classNames?: readonly string[]; name?: string } = {},
): ByteImageDataset {
  checkOptions('data.idxDataset', options, { classNames: true, name: true });
  const images = readIdxImages(imagesFile);
  const labels = readIdxLabels(labelsFile);
  const [count, height, width] = images.dimensions;
  if (labels.dimensions[0] !== count) {
    throw new FormatError(
      `${labelsFile}: ${labels.dimensions[0]} labels, but ${imagesFile} holds ${count} images`,
    );
  }
  const classNames = options.classNames;
  const labelArray = Int32Array.from(labels.data);
  if (classNames) {
    const bad = labelArray.findIndex((label) => label >= classNames.length);
    if (bad >= 0) {
      throw new FormatError(
        `${labelsFile}: label ${labelArray[bad]} at index ${bad} is outside 0..${classNames.length - 1}`,
      );
    }
  }
  return new ByteImageDataset(
    options.name ?? imagesFile,
    images.data,
    labelArray,
    [1, height, width],
    classNames,
  );
}

/** Which part of a dataset: its training or its test images. */
export type Split = 'train' | 'test';

/** Debian's dataset-fashion-mnist puts the gzipped IDX files here. */
export const FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist';

/** Fashion-MNIST's class names, in label order. */
export const FASHION_MNIST_CLASSES = [
  'T-shirt/top',
  'Trouser',
  'Pullover',
  'Dress',
  'Coat',
  'Sandal',
  'Shirt',
  'Sneaker',
  'Bag',
  'Ankle boot',
] as const;

/** MNIST's class names: the digits, in label order. */
export const MNIST_CLASSES = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'] as const;

/** The usual file names, with or without .gz, and the idx3-ubyte / .idx3-ubyte spellings. */
function idxFiles(dir: string, split: Split, hint: string): { images: string; labels: string } {
  const prefix = split === 'train' ? 'train' : 't10k';
  const candidates = (kind: 'images' | 'labels', rank: 1 | 3): string[] =>
    [`${prefix}-${kind}-idx${rank}-ubyte`, `${prefix}-${kind}.idx${rank}-ubyte`].flatMap((name) => [
      join(dir, `${name}.gz`),
      join(dir, name),
    ]);
  return {
    images: findFile(`${split} images`, candidates('images', 3), hint),
    labels: findFile(`${split} labels`, candidates('labels', 1), hint),
  };
}

function checkSplit(split: string): asserts split is Split {
  if (split !== 'train' && split !== 'test')
    throw new ValueError(`split must be 'train' or 'test', got '${split}'`);
}

/** Fashion-MNIST (Xiao et al. 2017): 60,000 training and 10,000 test images, 28×28 grey, 10 classes. */
export function fashionMnist(options: { split?: Split; dir?: string } = {}): ByteImageDataset {
  checkOptions('data.fashionMnist', options, { split: true, dir: true });
  const { split = 'train', dir = FASHION_MNIST_DIR } = options;
  checkSplit(split);
  const files = idxFiles(dir, split, "install Debian's dataset-fashion-mnist or pass { dir }");
  return idxDataset(files.images, files.labels, {
    classNames: FASHION_MNIST_CLASSES,
    name: `fashion-mnist ${split}`,
  });
}

/**
 * MNIST (LeCun et al. 1998) from the four IDX files in `dir`; any data set in MNIST's files (KMNIST, EMNIST) with
 * its own `classNames`.
 */
export function mnist(options: {
  dir: string;
  split?: Split;
  classNames?: readonly string[];
}): ByteImageDataset {
  checkOptions('data.mnist', options, { split: true, dir: true, classNames: true });
  const { split = 'train', dir, classNames = MNIST_CLASSES } = options;
  checkSplit(split);
  const files = idxFiles(dir, split, 'pass the directory holding the MNIST IDX files as { dir }');
  return idxDataset(files.images, files.labels, { classNames, name: `mnist ${split}` });
}
