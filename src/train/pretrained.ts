/**
 * Published weights by name ('resnet18:IMAGENET1K_V1'): the registered model built, its weights fetched through the
 * download cache and loaded, and the transform that prepares an image as the weights expect.
 */
import { transforms, type TransformSpec } from '../data/portable.js';
import { cachedDownload, loadWeights, type ProgressFn } from '../io/index.js';
import type { Module } from '../nn/index.js';
import { get as buildModel } from '../models/registry.js';
import { publishedWeights, type PublishedWeights, type WeightsPreprocessing } from '../models/weights.js';
import { checkOptions } from '../options.js';

/** torchvision's ImageClassification: shorter side to resizeSize, centre crop, per-channel normalisation. */
export function preprocessingTransform(preprocessing: WeightsPreprocessing): TransformSpec {
  return transforms.compose([
    transforms.resize(preprocessing.resizeSize),
    transforms.centerCrop(preprocessing.cropSize),
    transforms.normalize(preprocessing.mean, preprocessing.std),
  ]);
}

/** A model built with published weights, with the weights' facts and the transform they expect. */
export interface Pretrained {
  model: Module;
  weights: PublishedWeights;
  /** The evaluation transform the weights expect, for images scaled to [0, 1]. */
  transform: TransformSpec;
  /** The cached file the weights were read from. */
  file: string;
}

/**
 * Builds the model a weights name belongs to and loads the weights, downloading them into the cache the first time
 * (CONVNETS_HOME, default ~/.convnets; io/download.ts). The model is in evaluation mode.
 */
export async function pretrained(
  name: string,
  options: { home?: string; progress?: ProgressFn } = {},
): Promise<Pretrained> {
  checkOptions('train.pretrained', options, { home: true, progress: true });
  const weights = publishedWeights(name);
  const file = await cachedDownload(weights, options);
  const model = buildModel(weights.model);
  await loadWeights(model, file);
  model.eval();
  return { model, weights, transform: preprocessingTransform(weights.preprocessing), file };
}
