/** Small helpers the family files share (not re-exported by index.ts: they are not part of the models API). */
import type { Module } from '../nn/index.js';
import { add, concat, manualSeed, mul, slice, type Tensor } from '../tensor/index.js';
import {
  IMAGENET_PREPROCESSING,
  register,
  type Builder,
  type ModelInfo,
  type ModelOptions,
} from './registry.js';

/** Reseeds the global generator when a builder is given a seed, so a build is repeatable (DESIGN.md decision 9). */
export function seedFrom(options: ModelOptions): void {
  if (options.seed !== undefined) manualSeed(options.seed);
}

/** A builder that reseeds from its options (see seedFrom) before it builds. */
export function seeded<O extends ModelOptions, M extends Module>(
  build: (options: O) => M,
): (options?: O) => M {
  return (options = {} as O) => {
    seedFrom(options);
    return build(options);
  };
}

/** Registers a builder under its facts and hands it back with its own return type (register's is Module). */
export function registered<O extends ModelOptions, M extends Module>(
  info: ModelInfo,
  build: (options?: O) => M,
): (options?: O) => M {
  // The registered builder records the name and options on what it builds (builtWith); called directly too.
  return register(info, build as Builder<O>) as (options?: O) => M;
}

/** The acc@1 torchvision publishes for a weights enum's IMAGENET1K_V1 entry (e.g. 'ResNet50_Weights'), in percent. */
export function torchvisionAccuracy(top1: number, weights: string): ModelInfo['reportedAccuracy'] {
  return { top1, dataset: 'ImageNet-1k validation', source: `torchvision ${weights}.IMAGENET1K_V1, acc@1` };
}

/**
 * torchvision's Inception `_transform_input`: ImageNet's mean/std normalisation → (x − 0.5)/0.5 per channel, the
 * [−1, 1] range of the weights ported from TensorFlow (GoogLeNet, Inception v3).
 */
export function imagenetToInceptionRange(x: Tensor): Tensor {
  const { mean, std } = IMAGENET_PREPROCESSING;
  const [n, , h, w] = x.shape;
  const channels = mean.map((m, c) =>
    add(mul(slice(x, [0, c, 0, 0], [n, 1, h, w]), std[c] / 0.5), (m - 0.5) / 0.5),
  );
  return concat(channels, 1);
}
