export type { Dataset, DatasetSpec, Sample } from './datasets/dataset.js';
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
export {
  FASHION_MNIST_CLASSES,
  FASHION_MNIST_DIR,
  MNIST_CLASSES,
  fashionMnist,
  idxDataset,
  mnist,
  parseIdx,
  readIdxImages,
  readIdxLabels,
  type IdxArray,
  type Split,
} from './datasets/idx.js';
export {
  CIFAR10_CLASSES,
  cifar10,
  cifar100,
  readCifarBatches,
  type CifarReadOptions,
} from './datasets/cifar.js';
export {
  imageFolder,
  sharpDecoder,
  type DecodedImage,
  type ImageDecoder,
  type ImageFolderOptions,
} from './datasets/image-folder.js';
export { chwImage, type ChwImage } from './image.js';
export * as transforms from './transforms/index.js';
export type { TransformSpec } from './transforms/spec.js';
export { computePcaLighting, type PcaLighting } from './transforms/color.js';
export { toBatch, imageToTensor } from './collate.js';
export { DataLoader, loader, type Batch, type LoaderOptions } from './loader.js';
export type { SampleTransform } from './batch.js';
export { deriveSeed, sampleGenerator, shuffleGenerator } from './seed.js';
