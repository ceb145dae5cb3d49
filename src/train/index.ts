export {
  FASHION_MNIST_STATISTICS,
  checkpointMeta,
  loadTrained,
  testTimeTransform,
  type Trained,
  type TrainedMeta,
} from './trained.js';
export {
  FASHION_MNIST,
  dataKind,
  describeData,
  resolveData,
  type DataKind,
  type DataSource,
  type DataSourceOptions,
} from './data-source.js';
export {
  PAD_LIMIT,
  channelStatistics,
  describePreprocessing,
  evenlySpaced,
  planPreprocessing,
  readSamples,
  testTransform,
  trainTransform,
  type Preprocessing,
} from './preprocessing.js';
export {
  AUGMENT_HELP,
  augmentTransforms,
  formatAugment,
  parseAugment,
  type AugmentContext,
  type AugmentItem,
} from './augment.js';
export {
  fit,
  evaluate,
  TrainingStopped,
  type Callback,
  type EvaluateOptions,
  type FitOptions,
  type LossFn,
  type StepPosition,
} from './fit.js';
export { ClassificationMetrics, formatConfusion, type EvaluationResult } from './metrics.js';
export {
  HISTORY_COLUMNS,
  historyToCsv,
  historyToJson,
  saveHistory,
  writeText,
  type EpochRecord,
} from './history.js';
export { historyChart, lineChart, niceTicks, type ChartPanel, type ChartSeries } from './chart.js';
export {
  ProgressDisplay,
  formatDuration,
  formatEpoch,
  type ProgressOptions,
  type StepInfo,
} from './progress.js';
export {
  MANIFEST_FILE,
  OPTIMIZER_FILE,
  STATE_FILE,
  WEIGHTS_FILE,
  loadCheckpoint,
  readCheckpointState,
  resolveCheckpoint,
  saveCheckpoint,
  type CheckpointState,
  type SaveCheckpointOptions,
  type Trainable,
} from './checkpoint.js';
export {
  TTA_MODES,
  checkTtaOptions,
  horizontalFlip,
  logMeanSoftmax,
  logProbabilitiesWithTta,
  predict,
  ttaViews,
  viewCount,
  type Classifier,
  type TtaMode,
  type TtaOptions,
} from './tta.js';
export { Ensemble } from './ensemble.js';
export { GradNormLogger, weightLayers, type GradNormOptions, type GradNormRecord } from './grad-norms.js';
export {
  discriminativeGroups,
  freezeBefore,
  freezeModel,
  headPath,
  onlyHeadTrains,
  replaceHead,
  unfreezeMore,
  type FreezeSpec,
  type LearningRateGroup,
} from './transfer.js';
export {
  cachedFeatures,
  HeadOnFeatures,
  type CachedFeatures,
  type FeatureCacheOptions,
} from './feature-cache.js';
export { transfer, type TransferOptions, type TransferResult } from './transfer-learning.js';
export { pretrained, preprocessingTransform, type Pretrained } from './pretrained.js';
export { StepReplay, type StepOutputs, type TrainingStep } from './step-replay.js';
