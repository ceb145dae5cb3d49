/**
 * The data `convnets train --data X` names, resolved from X alone: the embedded Fashion-MNIST, a directory of IDX
 * files (MNIST, KMNIST and the like), a CIFAR-10 or CIFAR-100 binary directory, an image folder (one sub-folder per
 * class, with train/ and val/ (and test/) sub-folders when it has them), or a .npy pair (x.npy and y.npy).
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { ShapeError, ValueError } from '../errors.js';
import { checkOptions } from '../options.js';
import {
  ArrayDataset,
  cifar10,
  cifar100,
  fashionMnist,
  imageFiles,
  mnist,
  type Dataset,
} from '../data/index.js';
import { decodeNpy, parseNpyHeader } from '../io/npy.js';

type Shape3 = readonly [number, number, number];

/** The kinds of data --data names (see the top of this file). */
export type DataKind = 'fashion-mnist' | 'idx' | 'cifar-10' | 'cifar-100' | 'image-folder' | 'npy';

/** Data resolved from --data: its training set, and the validation and test sets it brings. */
export interface DataSource {
  /** What --data said: 'fashion-mnist' or a path. */
  spec: string;
  kind: DataKind;
  /** [C, H, W] images come as (an image folder: what its images are decoded to). */
  imageShape: Shape3;
  classNames: readonly string[];
  train: Dataset;
  /** A validation set the data brings (an image folder's val/); null: split one off the training set. */
  validation: Dataset | null;
  /** The test set, or null where the data has none. */
  test: Dataset | null;
}

/** What resolveData needs for an image folder: the shape to decode to, and an optional cache. */
export interface DataSourceOptions {
  /** [C, H, W] an image folder's images are decoded to (the model's input). */
  folderShape?: Shape3;
  /** An image folder's cache of decoded, resized images. */
  cacheDir?: string;
}

/** The --data name of the built-in Fashion-MNIST (Debian's dataset-fashion-mnist). */
export const FASHION_MNIST = 'fashion-mnist';

const KIND_NAMES: Record<DataKind, string> = {
  'fashion-mnist': 'Fashion-MNIST',
  idx: 'IDX directory',
  'cifar-10': 'CIFAR-10 binary directory',
  'cifar-100': 'CIFAR-100 binary directory',
  'image-folder': 'image folder',
  npy: '.npy pair',
};

/** The data in words: 'fashion-mnist', 'image folder ~/photos', 'CIFAR-10 binary directory …'. */
export function describeData(source: DataSource): string {
  return source.kind === 'fashion-mnist' ? FASHION_MNIST : `${KIND_NAMES[source.kind]} ${source.spec}`;
}

const isDirectory = (path: string) => statSync(path, { throwIfNoEntry: false })?.isDirectory() === true;
const hasAny = (dir: string, names: readonly string[]) => names.some((name) => existsSync(join(dir, name)));

const IDX_TRAIN = ['train-images-idx3-ubyte', 'train-images.idx3-ubyte'].flatMap((n) => [n, `${n}.gz`]);

/** What kind of data `spec` names, by what is there; a ValueError saying what was expected otherwise. */
export function dataKind(spec: string): DataKind {
  if (spec === FASHION_MNIST) return 'fashion-mnist';
  const info = statSync(spec, { throwIfNoEntry: false });
  if (info === undefined)
    throw new ValueError(`--data ${spec}: no such file or directory (nor '${FASHION_MNIST}', the built-in)`);
  if (info.isFile()) {
    if (spec.toLowerCase().endsWith('.npy')) return 'npy';
    throw new ValueError(`--data ${spec}: a file, but not an .npy (give x.npy, or a directory)`);
  }
  if (hasAny(spec, IDX_TRAIN)) return 'idx';
  if (hasAny(spec, ['data_batch_1.bin'])) return 'cifar-10';
  if (hasAny(spec, ['train.bin'])) return 'cifar-100';
  if (hasAny(spec, ['x.npy'])) return 'npy';
  if (readdirSync(spec, { withFileTypes: true }).some((entry) => entry.isDirectory())) return 'image-folder';
  throw new ValueError(
    `--data ${spec}: not data convnets knows (IDX files, CIFAR data_batch_1.bin or train.bin, x.npy and y.npy, ` +
      'or one sub-folder of images per class)',
  );
}

/** Loads the data `spec` names (see the top of this file). */
export function resolveData(spec: string, options: DataSourceOptions = {}): DataSource {
  checkOptions('train.resolveData', options, { folderShape: true, cacheDir: true });
  const kind = dataKind(spec);
  switch (kind) {
    case 'fashion-mnist':
      return fixed(spec, kind, fashionMnist({ split: 'train' }), fashionMnist({ split: 'test' }));
    case 'idx': {
      const classNames = idxClassNames(spec);
      const train = mnist({ dir: spec, split: 'train', classNames });
      const test = hasAny(
        spec,
        IDX_TRAIN.map((n) => n.replace('train', 't10k')),
      )
        ? mnist({ dir: spec, split: 'test', classNames })
        : null;
      return fixed(spec, kind, train, test);
    }
    case 'cifar-10':
      return fixed(spec, kind, cifar10({ dir: spec, split: 'train' }), cifar10({ dir: spec, split: 'test' }));
    case 'cifar-100':
      return fixed(
        spec,
        kind,
        cifar100({ dir: spec, split: 'train' }),
        existsSync(join(spec, 'test.bin')) ? cifar100({ dir: spec, split: 'test' }) : null,
      );
    case 'npy':
      return npyPair(spec);
    case 'image-folder':
      return folder(spec, options);
  }
}

function fixed(spec: string, kind: DataKind, train: Dataset, test: Dataset | null): DataSource {
  return { spec, kind, imageShape: train.shape, classNames: train.classNames, train, validation: null, test };
}

/** An IDX directory's class names: a classes.txt beside the files (one a line), else 0, 1, …. */
function idxClassNames(dir: string): string[] | undefined {
  const file = join(dir, 'classes.txt');
  if (!existsSync(file)) return undefined;
  return readFileSync(file, 'utf8')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '');
}

/** The sibling of an x file: x.npy → y.npy, x_test.npy → y_test.npy. */
const labelsFile = (xFile: string) => join(dirname(xFile), basename(xFile).replace(/^x/, 'y'));

/**
 * x.npy: [N, C, H, W] or [N, H, W] (grey), uint8 (scaled by 1/255) or floats (taken as they are, in [0, 1]);
 * y.npy: N integer labels. x_test.npy and y_test.npy beside them are the test set.
 */
function npyPair(spec: string): DataSource {
  const xFile = isDirectory(spec) ? join(spec, 'x.npy') : spec;
  const train = readNpyPair(xFile, labelsFile(xFile), undefined);
  const xTest = join(dirname(xFile), basename(xFile).replace(/\.npy$/i, '_test.npy'));
  const test = existsSync(xTest) ? readNpyPair(xTest, labelsFile(xTest), train.classNames) : null;
  if (test !== null && test.shape.join() !== train.shape.join())
    throw new ShapeError(`${xTest}: images [${test.shape.join(', ')}], training [${train.shape.join(', ')}]`);
  return fixed(spec, 'npy', train, test);
}

function readNpyPair(xFile: string, yFile: string, classNames: readonly string[] | undefined): Dataset {
  if (!existsSync(yFile)) throw new ValueError(`${xFile}: its labels ${yFile} are missing`);
  const xBytes = readFileSync(xFile);
  const header = parseNpyHeader(xBytes);
  const x = decodeNpy(xBytes);
  const y = decodeNpy(readFileSync(yFile));
  try {
    const shape = x.shape.length === 3 ? [x.shape[0], 1, x.shape[1], x.shape[2]] : x.shape;
    if (shape.length !== 4)
      throw new ShapeError(`${xFile}: images must be [N, C, H, W] or [N, H, W], got [${x.shape.join(', ')}]`);
    if (y.dtype !== 'int32' || y.shape.length !== 1 || y.shape[0] !== shape[0])
      throw new ShapeError(
        `${yFile}: labels must be ${shape[0]} integers (one per image of ${xFile}), got ${y.dtype} [${y.shape.join(', ')}]`,
      );
    const values = x.data();
    const images =
      header.elementType === 'uint8' ? Float32Array.from(values, (v) => v / 255) : Float32Array.from(values);
    const labels = Int32Array.from(y.data());
    let max = 0;
    for (const label of labels) {
      if (label < 0) throw new ValueError(`${yFile}: label ${label} is negative`);
      max = Math.max(max, label);
    }
    const names = classNames ?? Array.from({ length: max + 1 }, (_, i) => String(i));
    return new ArrayDataset(xFile, images, labels, [shape[1], shape[2], shape[3]], names);
  } finally {
    x.dispose();
    y.dispose();
  }
}

/** One sub-folder per class; or train/ with val/ (or valid/) and test/ beside it, each one sub-folder per class. */
function folder(root: string, options: DataSourceOptions): DataSource {
  const shape = options.folderShape;
  if (shape === undefined)
    throw new ValueError(`--data ${root}: an image folder needs the size to decode to`);
  const split = (name: string) => (isDirectory(join(root, name)) ? join(root, name) : undefined);
  const trainDir = split('train');
  const open = (dir: string) => imageFiles(dir, { shape, cacheDir: options.cacheDir });
  const train = open(trainDir ?? root);
  const check = (dataset: Dataset | null, dir: string) => {
    if (dataset !== null && dataset.classNames.join('\n') !== train.classNames.join('\n'))
      throw new ValueError(
        `${dir}: its classes (${dataset.classNames.join(', ')}) differ from train/'s (${train.classNames.join(', ')})`,
      );
    return dataset;
  };
  const valDir = trainDir === undefined ? undefined : (split('val') ?? split('valid'));
  const testDir = trainDir === undefined ? undefined : split('test');
  return {
    spec: root,
    kind: 'image-folder',
    imageShape: shape,
    classNames: train.classNames,
    train,
    validation: valDir === undefined ? null : check(open(valDir), valDir),
    test: testDir === undefined ? null : check(open(testDir), testDir),
  };
}
