/**
 * From a 28×28 grey image in [0, 1] to a model's input: the shipped weights' own test transform (padding and
 * normalisation, as `convnets train` recorded it), or for a zoo model with random weights a resize to its input
 * side, its channel count and Fashion-MNIST's normalisation.
 */
import { Generator, data, type Tensor } from '../browser.js';
import type { WeightsMeta } from './assets.js';

const { transforms } = data;
/** Fashion-MNIST's pixel mean and standard deviation over its training images (train/trained.ts). */
const FASHION_MNIST = { mean: 0.286, std: 0.353 };

/** The library's TransformSpec for the model: the checkpoint's where there is one. */
export function inputTransform(
  inputShape: readonly number[],
  meta: WeightsMeta | null,
): data.transforms.TransformSpec {
  if (meta?.transform !== undefined) return meta.transform as data.transforms.TransformSpec;
  const [channels, height] = inputShape;
  return transforms.compose([
    ...(height === 28 ? [] : [transforms.resize(height)]),
    ...(channels === 1 ? [] : [transforms.convertChannels(channels)]),
    transforms.normalize(
      Array.from({ length: channels }, () => FASHION_MNIST.mean),
      Array.from({ length: channels }, () => FASHION_MNIST.std),
    ),
  ]);
}

/** A batch [N, C, H, W] of the model's inputs from 28×28 images. */
export function prepare(images: readonly Float32Array[], spec: data.transforms.TransformSpec): Tensor {
  const transform = transforms.makeTransform(spec);
  // Test-time transforms draw nothing at random; the generator is only the transform's signature.
  const generator = new Generator(0);
  return data.toBatch(images.map((image) => transform(data.chwImage(image, 1, 28, 28), generator)[0]));
}
