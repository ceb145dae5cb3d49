export {
  Optimizer,
  type OptimizerOptions,
  type OptimizerStateDict,
  type ParamGroup,
  type ParamGroupInput,
  type ParamState,
  type Params,
} from './optimizer.js';
export { SGD, sgd, type SGDOptions, type SGDState } from './sgd.js';
export { Adam, AdamW, adam, adamW, type AdamOptions, type AdamState } from './adam.js';
export {
  EpochSchedule,
  stepLR,
  multiStepLR,
  cosineAnnealingLR,
  linearWarmup,
  type AnyOptimizer,
  type LRScheduler,
  type EpochScheduleState,
  type StepLROptions,
  type MultiStepLROptions,
  type CosineAnnealingLROptions,
  type LinearWarmupOptions,
} from './schedules.js';
export {
  SequentialLR,
  sequentialLR,
  type SequentialLROptions,
  type SequentialLRState,
} from './sequential.js';
export {
  ReduceLROnPlateau,
  reduceLROnPlateau,
  type ReduceLROnPlateauOptions,
  type ReduceLROnPlateauState,
} from './plateau.js';
