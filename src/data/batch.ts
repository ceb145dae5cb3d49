/**
 * Loading one batch: read each sample, transform it with its own generator, and pack the results. Shared by
 * the inline loader and the workers; it makes no tensors, so workers never load a backend.
 */
import { ShapeError } from '../errors.js';
import type { Generator } from '../tensor/random.js';
import type { Dataset } from './datasets/dataset.js';
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
}

export function loadBatch(
  dataset: Dataset,
  transform: SampleTransform | undefined,
  indices: Int32Array,
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
    const sample = dataset.get(index);
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
  return { images: images ?? new Float32Array(0), labels, shape: [indices.length, ...sampleShape] };
}
