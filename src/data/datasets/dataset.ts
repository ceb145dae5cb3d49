/**
 * Datasets: a length, a fixed CHW image shape and `get(i)`. The built-in ones keep their pixels and labels in
 * SharedArrayBuffers, and `toSpec()` describes them as plain data holding those buffers: posting the spec to a
 * worker shares the memory instead of copying it, and `datasetFromSpec` rebuilds the dataset there without
 * touching the files again. (Re-reading files in each worker would cost every worker the parse time and a
 * private copy of the data; sharing costs nothing after the first read.)
 */
import { Generator } from '../../tensor/random.js';
import { ShapeError, ValueError } from '../../errors.js';
import { checkOptions } from '../../options.js';

export interface Sample {
  /** CHW, `shape` values; the built-in image datasets give values in [0, 1]. */
  image: Float32Array;
  label: number;
}

export interface Dataset {
  readonly length: number;
  /** [channels, height, width] of every image. */
  readonly shape: readonly [number, number, number];
  readonly numClasses: number;
  readonly classNames: readonly string[];
  /** The image (CHW float32 values) and label at `index`. */
  get(index: number): Sample;
  /**
   * Reads samples from files as they are asked for (an image folder streamed): loaders call it instead of get()
   * and leave out the samples it could not read.
   */
  fetch?(indices: Int32Array): Promise<Fetched[]>;
  /** Plain data from which `datasetFromSpec` rebuilds this dataset in a worker; without it, workers: 0 only. */
  toSpec?(): DatasetSpec;
}

/** A sample, or the file it could not be read from and why. */
export type Fetched = Sample | { skipped: { file: string; reason: string } };

/** What a worker needs to rebuild a dataset: structured-clone-able, its buffers shared, never copied. */
export type DatasetSpec =
  | {
      kind: 'bytes';
      name: string;
      pixels: SharedArrayBuffer;
      labels: SharedArrayBuffer;
      shape: [number, number, number];
      classNames: string[];
    }
  | {
      kind: 'float32';
      name: string;
      images: SharedArrayBuffer;
      labels: SharedArrayBuffer;
      shape: [number, number, number];
      classNames: string[];
    }
  | { kind: 'subset'; parent: DatasetSpec; indices: SharedArrayBuffer }
  | {
      kind: 'imageFiles';
      name: string;
      files: string[];
      labels: SharedArrayBuffer;
      shape: [number, number, number];
      classNames: string[];
      cacheDir: string | null;
    };

/** Rebuilds the kinds that need Node (image files): registered by the module that defines them. */
const nodeDatasets = new Map<DatasetSpec['kind'], (spec: DatasetSpec) => Dataset>();

export function registerDatasetKind(
  kind: DatasetSpec['kind'],
  fromSpec: (spec: DatasetSpec) => Dataset,
): void {
  nodeDatasets.set(kind, fromSpec);
}

type Shape3 = readonly [number, number, number];

/** The array itself if it already fills a SharedArrayBuffer, else a copy in one (workers then share it). */
function shared<T extends Uint8Array | Int32Array | Float32Array>(array: T): T {
  // A browser page without cross-origin isolation has no SharedArrayBuffer, and no loader workers to share with.
  if (typeof SharedArrayBuffer === 'undefined') return array;
  if (
    array.buffer instanceof SharedArrayBuffer &&
    array.byteOffset === 0 &&
    array.byteLength === array.buffer.byteLength
  ) {
    return array;
  }
  // Not array.constructor: a Node Buffer is a Uint8Array whose constructor cannot wrap a SharedArrayBuffer.
  const buffer = new SharedArrayBuffer(array.byteLength);
  const copy =
    array instanceof Float32Array
      ? new Float32Array(buffer)
      : array instanceof Int32Array
        ? new Int32Array(buffer)
        : new Uint8Array(buffer);
  copy.set(array as ArrayLike<number>);
  return copy as T;
}

function checkIndex(name: string, index: number, length: number): void {
  if (!Number.isInteger(index) || index < 0 || index >= length) {
    throw new ValueError(`${name}: index ${index} is outside 0..${length - 1}`);
  }
}

function checkShape(name: string, shape: Shape3): void {
  if (shape.length !== 3 || !shape.every((d) => Number.isInteger(d) && d > 0)) {
    throw new ShapeError(`${name}: image shape [${shape.join(', ')}] is not [channels, height, width]`);
  }
}

function checkLabels(name: string, labels: Int32Array, numClasses: number): void {
  for (let i = 0; i < labels.length; i++) {
    if (!(labels[i] >= 0 && labels[i] < numClasses)) {
      throw new ValueError(`${name}: label ${labels[i]} of sample ${i} is outside 0..${numClasses - 1}`);
    }
  }
}

function defaultClassNames(labels: Int32Array): string[] {
  let max = -1;
  for (const label of labels) max = Math.max(max, label);
  return Array.from({ length: max + 1 }, (_, i) => String(i));
}

/**
 * What the built-in datasets share: N images of one [C, H, W] shape stored one after another in shared memory
 * (so workers read them without copies), and N integer labels.
 */
abstract class StoredImageDataset<Values extends Uint8Array | Float32Array> implements Dataset {
  readonly length: number;
  readonly shape: Shape3;
  readonly classNames: readonly string[];
  protected readonly values: Values;
  protected readonly labels: Int32Array;
  protected readonly imageSize: number;

  constructor(
    readonly name: string,
    values: Values,
    labels: Int32Array,
    shape: Shape3,
    classNames: readonly string[] | undefined,
    what: string,
  ) {
    checkShape(name, shape);
    this.imageSize = shape[0] * shape[1] * shape[2];
    if (values.length !== labels.length * this.imageSize) {
      throw new ShapeError(
        `${name}: ${values.length} ${what} for ${labels.length} images of shape [${shape.join(', ')}] ` +
          `(${labels.length * this.imageSize} expected)`,
      );
    }
    this.values = shared(values);
    this.labels = shared(labels);
    this.length = labels.length;
    this.shape = [shape[0], shape[1], shape[2]];
    this.classNames = classNames ? [...classNames] : defaultClassNames(labels);
    checkLabels(name, this.labels, this.classNames.length);
  }

  get numClasses(): number {
    return this.classNames.length;
  }

  abstract get(index: number): Sample;

  /** The stored values of image `index` (CHW), a view without conversion. */
  protected stored(index: number): Values {
    checkIndex(this.name, index, this.length);
    return this.values.subarray(index * this.imageSize, (index + 1) * this.imageSize) as Values;
  }
}

/** Images stored as bytes (CHW, one byte a value) and read as value / 255: MNIST, CIFAR, image folders. */
export class ByteImageDataset extends StoredImageDataset<Uint8Array> {
  constructor(
    name: string,
    pixels: Uint8Array,
    labels: Int32Array,
    shape: Shape3,
    classNames?: readonly string[],
  ) {
    super(name, pixels, labels, shape, classNames, 'pixel bytes');
  }

  /** The image (CHW float32 values) and label at `index`. */
  get(index: number): Sample {
    const pixels = this.stored(index);
    const image = new Float32Array(this.imageSize);
    for (let i = 0; i < this.imageSize; i++) image[i] = pixels[i] / 255;
    return { image, label: this.labels[index] };
  }

  /** The raw bytes of image `index` (CHW), without conversion. */
  bytes(index: number): Uint8Array {
    return this.stored(index);
  }

  /** Plain data from which `datasetFromSpec` rebuilds this dataset in a loader's worker. */
  toSpec(): DatasetSpec {
    return {
      kind: 'bytes',
      name: this.name,
      pixels: this.values.buffer as SharedArrayBuffer,
      labels: this.labels.buffer as SharedArrayBuffer,
      shape: [...this.shape],
      classNames: [...this.classNames],
    };
  }
}

/** In-memory float images (N·C·H·W values, CHW per image) with integer labels. */
export class ArrayDataset extends StoredImageDataset<Float32Array> {
  constructor(
    name: string,
    images: Float32Array,
    labels: Int32Array,
    shape: Shape3,
    classNames?: readonly string[],
  ) {
    super(name, images, labels, shape, classNames, 'values');
  }

  /** The image (CHW float32 values) and label at `index`. */
  get(index: number): Sample {
    return { image: this.stored(index).slice(), label: this.labels[index] };
  }

  /** Plain data from which `datasetFromSpec` rebuilds this dataset in a loader's worker. */
  toSpec(): DatasetSpec {
    return {
      kind: 'float32',
      name: this.name,
      images: this.values.buffer as SharedArrayBuffer,
      labels: this.labels.buffer as SharedArrayBuffer,
      shape: [...this.shape],
      classNames: [...this.classNames],
    };
  }
}

/**
 * A dataset from arrays already in memory: `images` holds N images of `shape` ([C, H, W]) one after another.
 * Labels are integers in 0..numClasses-1; class names default to "0", "1", ….
 */
export function arrayDataset(
  images: Float32Array,
  labels: Int32Array | readonly number[],
  shape: readonly [number, number, number],
  options: { classNames?: readonly string[]; name?: string } = {},
): ArrayDataset {
  checkOptions('data.arrayDataset', options, { classNames: true, name: true });
  const labelArray = labels instanceof Int32Array ? labels : Int32Array.from(labels);
  return new ArrayDataset(options.name ?? 'arrayDataset', images, labelArray, shape, options.classNames);
}

/** The samples of `parent` at `indices`, in that order. */
export class Subset implements Dataset {
  readonly indices: Int32Array;

  constructor(
    readonly parent: Dataset,
    indices: Int32Array | readonly number[],
  ) {
    const array = indices instanceof Int32Array ? indices : Int32Array.from(indices);
    for (const index of array) checkIndex('Subset', index, parent.length);
    this.indices = shared(array);
  }

  get length(): number {
    return this.indices.length;
  }
  get shape(): Shape3 {
    return this.parent.shape;
  }
  get numClasses(): number {
    return this.parent.numClasses;
  }
  get classNames(): readonly string[] {
    return this.parent.classNames;
  }

  /** The image (CHW float32 values) and label at `index`. */
  get(index: number): Sample {
    checkIndex('Subset', index, this.indices.length);
    return this.parent.get(this.indices[index]);
  }

  /** The parent's fetch over this subset's indices, where the parent streams its samples. */
  get fetch(): ((indices: Int32Array) => Promise<Fetched[]>) | undefined {
    const parent = this.parent;
    if (parent.fetch === undefined) return undefined;
    return (indices) => {
      for (const index of indices) checkIndex('Subset', index, this.indices.length);
      return parent.fetch!(indices.map((index) => this.indices[index]));
    };
  }

  /** Plain data from which `datasetFromSpec` rebuilds this dataset in a loader's worker. */
  toSpec(): DatasetSpec {
    if (!this.parent.toSpec) {
      throw new ValueError('Subset: its parent dataset has no toSpec(), so workers cannot rebuild it');
    }
    return {
      kind: 'subset',
      parent: this.parent.toSpec(),
      indices: this.indices.buffer as SharedArrayBuffer,
    };
  }
}

/** Rebuilds a dataset from `toSpec()`'s description, sharing its buffers (used by the loader's workers). */
export function datasetFromSpec(spec: DatasetSpec): Dataset {
  switch (spec.kind) {
    case 'bytes':
      return new ByteImageDataset(
        spec.name,
        new Uint8Array(spec.pixels),
        new Int32Array(spec.labels),
        spec.shape,
        spec.classNames,
      );
    case 'float32':
      return new ArrayDataset(
        spec.name,
        new Float32Array(spec.images),
        new Int32Array(spec.labels),
        spec.shape,
        spec.classNames,
      );
    case 'subset':
      return new Subset(datasetFromSpec(spec.parent), new Int32Array(spec.indices));
    default: {
      const fromSpec = nodeDatasets.get(spec.kind);
      if (fromSpec === undefined)
        throw new ValueError(`datasetFromSpec: a '${spec.kind}' dataset needs Node (data/index.js)`);
      return fromSpec(spec);
    }
  }
}

/** A seeded permutation of 0..n-1 (Fisher–Yates). */
export function permutation(n: number, generator: Generator): Int32Array {
  const order = new Int32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = generator.int(i + 1);
    const t = order[i];
    order[i] = order[j];
    order[j] = t;
  }
  return order;
}

/**
 * Splits a dataset into disjoint random subsets, as torch.utils.data.random_split: `lengths` are counts that
 * add up to the dataset's length, or fractions that add up to 1 (the remainder after flooring goes one sample
 * at a time to the first subsets). The same seed gives the same split.
 */
export function randomSplit(dataset: Dataset, lengths: readonly number[], seed: number): Subset[] {
  const n = dataset.length;
  let counts: number[];
  const total = lengths.reduce((a, b) => a + b, 0);
  if (lengths.every((l) => Number.isInteger(l) && l >= 0) && total === n) {
    counts = [...lengths];
  } else if (lengths.every((l) => l >= 0 && l <= 1) && Math.abs(total - 1) < 1e-9) {
    counts = lengths.map((f) => Math.floor(f * n));
    let remainder = n - counts.reduce((a, b) => a + b, 0);
    for (let i = 0; remainder > 0; i = (i + 1) % counts.length, remainder--) counts[i]++;
  } else {
    throw new ValueError(
      `randomSplit: lengths [${lengths.join(', ')}] neither add up to the dataset's ${n} samples nor are ` +
        `fractions adding up to 1`,
    );
  }
  const order = permutation(n, new Generator(seed));
  const subsets: Subset[] = [];
  let start = 0;
  for (const count of counts) {
    subsets.push(new Subset(dataset, order.subarray(start, start + count)));
    start += count;
  }
  return subsets;
}

/** `randomSplit` into training and validation sets; `validation` is a count or a fraction of the dataset. */
export function splitValidation(
  dataset: Dataset,
  options: { validation: number; seed: number },
): { train: Subset; validation: Subset } {
  checkOptions('data.splitValidation', options, { validation: true, seed: true });
  const { validation, seed } = options;
  const count = validation < 1 ? Math.round(validation * dataset.length) : validation;
  if (!Number.isInteger(count) || count < 0 || count > dataset.length) {
    throw new ValueError(
      `splitValidation: validation ${validation} does not fit a dataset of ${dataset.length}`,
    );
  }
  const [train, held] = randomSplit(dataset, [dataset.length - count, count], seed);
  return { train, validation: held };
}
