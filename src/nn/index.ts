export {
  Module,
  observeCalls,
  type Parameter,
  type NumParametersOptions,
  type ModuleCall,
  type CallObserver,
  type ForwardHook,
} from './module.js';
export {
  callWithAuxiliary,
  hasAuxiliaryOutputs,
  lossWithAuxiliary,
  type AuxiliaryOutput,
  type OutputsWithAuxiliary,
  type WithAuxiliaryOutputs,
} from './auxiliary.js';
export {
  keyMismatch,
  type StateDict,
  type LoadStateDictOptions,
  type LoadStateDictResult,
} from './state-dict.js';
export * as init from './init.js';
export { Conv2d, type Conv2dLayerOptions } from './layers/conv.js';
export { Linear, Identity, Flatten, type LinearOptions } from './layers/linear.js';
export {
  MaxPool2d,
  AvgPool2d,
  AdaptiveAvgPool2d,
  type MaxPool2dOptions,
  type AvgPool2dOptions,
} from './layers/pool.js';
export {
  BatchNorm1d,
  BatchNorm2d,
  LocalResponseNorm,
  type BatchNormLayerOptions,
} from './layers/normalization.js';
export { ReLU, Sigmoid, Tanh, ScaledTanh, Dropout, type DropoutLayerOptions } from './layers/activation.js';
export { Upsample } from './layers/upsample.js';
export { Sequential } from './layers/container.js';
