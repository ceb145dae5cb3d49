/**
 * What of data/ runs in any JavaScript runtime, browsers included: in-memory datasets, transforms, collation into
 * tensors and the seeds behind them. index.ts adds what needs Node: the file readers and the loader's workers.
 */
export type { Dataset, DatasetSpec, Fetched, Sample } from './datasets/dataset.js';
export {
  ArrayDataset,
  ByteImageDataset,
  Subset,
  arrayDataset,
  datasetFromSpec,
  permutation,
  randomSplit,
  splitValidation,
} from './datasets/dataset.js';
export { chwImage, type ChwImage } from './image.js';
export * as transforms from './transforms/index.js';
export type { TransformSpec } from './transforms/spec.js';
export { computePcaLighting, type PcaLighting } from './transforms/color.js';
export { toBatch, imageToTensor } from './collate.js';
export type { SampleTransform } from './batch.js';
export { deriveSeed, sampleGenerator, shuffleGenerator } from './seed.js';
