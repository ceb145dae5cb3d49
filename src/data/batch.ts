/**
 * Loading one batch: read each sample, transform it with its own generator, and pack the results. Shared by
 * the inline loader and the workers; it makes no tensors, so workers never load a backend.
 */
import { ShapeError } from '../errors.js';
import type { Generator } from '../tensor/random.js';
import type { Dataset, Sample } from './datasets/dataset.js';
import type { ChwImage } from './image.js';
import { sampleGenerator } from './seed.js';

/** A transform as the loader runs it: one image in, one or more out. */
export type SampleTransform = (image: ChwImage, generator: Generator) => ChwImage | ChwImage[];

export interface RawBatch {
  /** N·K·C·H·W values: K images per sample (1, or 5/10 after fiveCrop/tenCrop). */
  images: Float32Array;
  labels: Int32Array;
  /** [N, C, H, W] when K = 1, else [N, K, C, H, W]. */
  shape: number[];
  /** Where a streamed dataset could not read some samples: the indices of those in the batch, and what was left out. */
  kept?: Int32Array;
  skipped?: { file: string; reason: string }[];
}

export function loadBatch(
  dataset: Dataset,
  transform: SampleTransform | undefined,
  indices: Int32Array,
  seed: number,
  epoch: number,
): RawBatch {
  return packBatch(
    dataset,
    transform,
    indices,
    Array.from(indices, (index) => dataset.get(index)),
    seed,
    epoch,
  );
}

/** loadBatch for any dataset: a streamed one (with fetch) reads its files here, leaving out those it cannot. */
export async function fetchBatch(
  dataset: Dataset,
  transform: SampleTransform | undefined,
  indices: Int32Array,
  seed: number,
  epoch: number,
): Promise<RawBatch> {
  if (dataset.fetch === undefined) return loadBatch(dataset, transform, indices, seed, epoch);
  const fetched = await dataset.fetch(indices);
  const kept: number[] = [];
  const samples: Sample[] = [];
  const skipped: { file: string; reason: string }[] = [];
  fetched.forEach((item, n) => {
    if ('skipped' in item) skipped.push(item.skipped);
    else {
      kept.push(indices[n]);
      samples.push(item);
    }
  });
  const keptIndices = Int32Array.from(kept);
  return { ...packBatch(dataset, transform, keptIndices, samples, seed, epoch), kept: keptIndices, skipped };
}

function packBatch(
  dataset: Dataset,
  transform: SampleTransform | undefined,
  indices: Int32Array,
  samples: readonly Sample[],
  seed: number,
  epoch: number,
): RawBatch {
  const [channels, height, width] = dataset.shape;
  let images: Float32Array | undefined;
  let sampleShape: number[] = [];
  let sampleSize = 0;
  const labels = new Int32Array(indices.length);
  for (let n = 0; n < indices.length; n++) {
    const index = indices[n];
    const sample = samples[n];
    labels[n] = sample.label;
    let outputs: ChwImage[];
    if (transform) {
      const result = transform(
        { data: sample.image, channels, height, width },
        sampleGenerator(seed, epoch, index),
      );
      outputs = Array.isArray(result) ? result : [result];
    } else {
      outputs = [{ data: sample.image, channels, height, width }];
    }
    const first = outputs[0];
    const shape = [first.channels, first.height, first.width];
    if (images === undefined) {
      sampleShape = outputs.length === 1 ? shape : [outputs.length, ...shape];
      sampleSize = outputs.length * first.data.length;
      images = new Float32Array(indices.length * sampleSize);
    }
    const got = outputs.length === 1 ? shape : [outputs.length, ...shape];
    if (
      got.length !== sampleShape.length ||
      got.some((d, i) => d !== sampleShape[i]) ||
      outputs.some(
        (o) => o.channels !== first.channels || o.height !== first.height || o.width !== first.width,
      )
    ) {
      throw new ShapeError(
        `loader: sample ${index} transformed to [${outputs.map((o) => `${o.channels}, ${o.height}, ${o.width}`).join('; ')}]` +
          `${outputs.length > 1 ? ` (${outputs.length} images)` : ''}, but the batch's first sample to ` +
          `[${sampleShape.join(', ')}]; add a resize or crop so all samples match`,
      );
    }
    outputs.forEach((output, k) => images!.set(output.data, n * sampleSize + k * output.data.length));
  }
  return {
    images: images ?? new Float32Array(0),
    labels,
    shape: [indices.length, ...(images === undefined ? dataset.shape : sampleShape)],
  };
}
