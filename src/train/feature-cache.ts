/**
 * Cached features: with everything below the head frozen, the frozen part's output for an image never changes, so
 * it is computed once (in evaluation mode, without gradients), saved as safetensors, and the head alone trains on
 * it. The file's name carries a hash of the frozen weights, the data and the transform, so a second run with the
 * same three reads it back and any change computes it afresh.
 */
import { createHash } from 'node:crypto';
import { mkdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { ValueError } from '../errors.js';
import { arrayDataset, type ArrayDataset, type Dataset } from '../data/portable.js';
import { loader } from '../data/loader.js';
import type { TransformSpec } from '../data/transforms/spec.js';
import { loadSafetensors, saveSafetensors } from '../io/index.js';
import { Module, observeCalls } from '../nn/index.js';
import { flatten, noGrad, scope, tensor, type Tensor } from '../tensor/index.js';
import { checkOptions } from '../options.js';

/** Where and how cachedFeatures computes and keeps the frozen part's outputs. */
export interface FeatureCacheOptions {
  /** Where the safetensors file is kept (a training run's output directory). */
  dir: string;
  /** The head's path: its input is the feature recorded. */
  head: string;
  /** Names the file: 'train', 'validation'. */
  split: string;
  /** Applied to each image before the frozen part; with copies > 1, a random augmentation. */
  transform?: TransformSpec;
  /** Passes over the data, each under a different draw of the transform (default 1). */
  copies?: number;
  batchSize?: number;
  seed?: number;
}

/** Features cachedFeatures computed or read back. */
export interface CachedFeatures {
  /** The features as a dataset of [D, 1, 1] images, with the source's labels and class names. */
  dataset: ArrayDataset;
  file: string;
  /** True when the file was already there and was read instead of computed. */
  reused: boolean;
}

/**
 * A hash of everything the features depend on: the model's parameters and buffers outside the head (names, shapes,
 * values), every sample of the dataset, the transform, the number of copies and the seed.
 */
function cacheKey(model: Module, dataset: Dataset, options: FeatureCacheOptions, copies: number): string {
  const hash = createHash('sha256');
  const headPrefix = `${options.head}.`;
  for (const [name, t] of model.stateDict()) {
    if (name.startsWith(headPrefix)) continue;
    const values = t.data();
    hash.update(`${name}[${t.shape.join(',')}]`);
    hash.update(new Uint8Array(values.buffer, values.byteOffset, values.byteLength));
  }
  hash.update(
    JSON.stringify([dataset.shape, dataset.length, options.transform ?? null, copies, options.seed]),
  );
  for (let i = 0; i < dataset.length; i++) {
    const { image, label } = dataset.get(i);
    hash.update(new Uint8Array(image.buffer, image.byteOffset, image.byteLength));
    hash.update(String(label));
  }
  return hash.digest('hex');
}

/**
 * The head's input for every sample of `dataset` (copies × its length, copy after copy), read from the cache in
 * `options.dir` when an earlier run left it there, else computed with the model in evaluation mode and saved.
 */
export async function cachedFeatures(
  model: Module,
  dataset: Dataset,
  options: FeatureCacheOptions,
): Promise<CachedFeatures> {
  checkOptions('train.cachedFeatures', options, {
    dir: true,
    head: true,
    split: true,
    transform: true,
    copies: true,
    batchSize: true,
    seed: true,
  });
  const copies = options.copies ?? 1;
  if (!Number.isInteger(copies) || copies < 1)
    throw new ValueError(`feature cache: copies must be an integer ≥ 1, got ${copies}`);
  const key = cacheKey(model, dataset, options, copies);
  const file = join(options.dir, `features-${options.split}-${key.slice(0, 16)}.safetensors`);
  const classNames = dataset.classNames;
  if ((await stat(file).catch(() => null))?.isFile()) {
    const stored = await loadSafetensors(file);
    const features = stored.tensors.get('features');
    const labels = stored.tensors.get('labels');
    if (features === undefined || labels === undefined || stored.metadata.key !== key)
      throw new ValueError(
        `${file} is not this data's feature cache; delete it to compute the features again`,
      );
    const result = toDataset(features, labels, classNames, options.split);
    features.dispose();
    labels.dispose();
    return { dataset: result, file, reused: true };
  }
  const { features, labels } = await computeFeatures(model, dataset, options, copies);
  await mkdir(options.dir, { recursive: true });
  await saveSafetensors(
    file,
    new Map([
      ['features', features],
      ['labels', labels],
    ]),
    {
      key,
      split: options.split,
      copies: String(copies),
    },
  );
  const result = toDataset(features, labels, classNames, options.split);
  features.dispose();
  labels.dispose();
  return { dataset: result, file, reused: false };
}

function toDataset(
  features: Tensor,
  labels: Tensor,
  classNames: readonly string[],
  split: string,
): ArrayDataset {
  const [count, width] = features.shape;
  return arrayDataset(Float32Array.from(features.data()), Int32Array.from(labels.data()), [width, 1, 1], {
    classNames,
    name: `features (${split}, ${count})`,
  });
}

/** Runs the model over the data in evaluation mode and keeps what the head receives. */
async function computeFeatures(
  model: Module,
  dataset: Dataset,
  options: FeatureCacheOptions,
  copies: number,
): Promise<{ features: Tensor; labels: Tensor }> {
  const head = model.get(options.head);
  const batches = loader(dataset, {
    batchSize: options.batchSize ?? 64,
    transform: options.transform,
    seed: options.seed ?? 0,
  });
  const rows: Float32Array[] = [];
  const labels: number[] = [];
  let width = 0;
  const wasTraining = model.training;
  model.eval();
  try {
    for (let copy = 0; copy < copies; copy++) {
      batches.setEpoch(copy);
      for await (const batch of batches) {
        let captured: Float32Array | null = null;
        const stop = observeCalls((call) => {
          if (call.module === head) {
            const input = flatten(call.input, 1);
            width = input.shape[1];
            captured = Float32Array.from(input.data());
          }
        });
        try {
          noGrad(() => scope(() => void model.call(batch.images)));
        } finally {
          stop();
        }
        if (captured === null)
          throw new ValueError(`feature cache: the head '${options.head}' was never called`);
        rows.push(captured);
        labels.push(...batch.labels.data());
        batch.images.dispose();
        batch.labels.dispose();
      }
    }
  } finally {
    model.train(wasTraining);
  }
  const all = new Float32Array(labels.length * width);
  let offset = 0;
  for (const row of rows) {
    all.set(row, offset);
    offset += row.length;
  }
  return {
    features: tensor(all, [labels.length, width]),
    labels: tensor(Int32Array.from(labels), [labels.length]),
  };
}

/** The head alone, fed cached features ([N, D, 1, 1] batches of the feature dataset). */
export class HeadOnFeatures extends Module {
  constructor(readonly head: Module) {
    super();
  }

  forward(x: Tensor): Tensor {
    return this.head.call(flatten(x, 1));
  }
}
