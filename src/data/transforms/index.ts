export * from './spec.js';
export {
  makeTransform,
  randomCropOffset,
  randomResizedCropWindow,
  randomErasingWindow,
  randomAffineParameters,
} from './build.js';
export {
  computePcaLighting,
  pcaOffset,
  symmetricEigen3,
  addChannelOffsets,
  type PcaLighting,
} from './color.js';
export {
  elasticDisplacement,
  elasticWarp,
  gaussianKernel,
  gaussianSmooth,
  type Displacement,
} from './elastic.js';
export { sampleBilinear, type Outside } from './sampler.js';
export * as functional from './functional.js';
