export * from './portable.js';
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
  imageFileShape,
  imageFolder,
  sharpDecoder,
  type DecodedImage,
  type ImageDecoder,
  type ImageFolderOptions,
} from './datasets/image-folder.js';
export {
  ImageFileDataset,
  imageFiles,
  readImageFile,
  type ImageFilesOptions,
} from './datasets/image-files.js';
export { DataLoader, loader, type Batch, type LoaderOptions, type Sampler } from './loader.js';
