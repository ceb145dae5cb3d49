/**
 * What `convnets train` and its sibling verbs share: each model's training defaults (kept in its ModelInfo), the
 * data sets with an optional limit, and strict parsing of option values.
 */
import { availableParallelism } from 'node:os';
import { ShapeError, ValueError } from '../errors.js';
import { UsageError } from './command.js';
import {
  arrayDataset,
  computePcaLighting,
  splitValidation,
  Subset,
  type Dataset,
  type PcaLighting,
  type TransformSpec,
} from '../data/index.js';
import * as models from '../models/index.js';
import { noGrad, zeros } from '../tensor/index.js';
import {
  FASHION_MNIST_STATISTICS,
  augmentTransforms,
  channelStatistics,
  dataKind,
  evenlySpaced,
  formatAugment,
  parseAugment,
  planPreprocessing,
  readSamples,
  describeData,
  resolveData,
  testTransform,
  trainTransform,
  type AugmentItem,
  type DataSource,
  type Preprocessing,
  type Trained,
  type TrainedMeta,
} from '../train/index.js';

/** A model's training settings: its ModelInfo's `training`, or defaults derived from its input size. */
export interface TrainingSettings extends Omit<models.TrainingDefaults, 'augment'> {
  augment: string;
  /** 'model': tuned and kept in its ModelInfo; 'generic': derived from its input size (see defaultsFor). */
  origin: 'model' | 'generic';
}

/**
 * The settings `convnets train` starts from: the model's own (ModelInfo.training, tuned on 28×28 grey images), or,
 * for a model without them, these generic ones: its published input size, SGD with momentum 0.9, learning rate
 * 0.01, a cosine schedule over 10 epochs; batch 128, weight decay 5e-4 and crop:4,flip for inputs under 128 pixels
 * (the CIFAR recipe), batch 32, weight decay 1e-4 and resized-crop,flip for larger ones (torchvision's ImageNet
 * recipe).
 */
export function defaultsFor(model: string): TrainingSettings {
  const info = models.info(model);
  if (info.training !== undefined) return { ...info.training, origin: 'model' };
  const side = info.inputShape[1];
  const large = side >= 128;
  return {
    inputSize: side,
    modelOptions: {},
    epochs: 10,
    batchSize: large ? 32 : 128,
    optimizer: 'sgd',
    lr: 0.01,
    momentum: 0.9,
    weightDecay: large ? 1e-4 : 5e-4,
    schedule: 'cosine',
    augment: large ? 'resized-crop,flip' : 'crop-flip',
    origin: 'generic',
  };
}

/** The first `limit` samples of `dataset` (all of them without a limit). */
export function limited(dataset: Dataset, limit?: number): Dataset {
  if (limit === undefined || limit >= dataset.length) return dataset;
  return new Subset(
    dataset,
    Array.from({ length: limit }, (_, i) => i),
  );
}

export interface PlanOptions {
  data: string;
  seed: number;
  /** Fraction (or count) of the training set (after --limit) held out for validation; 0 for none. */
  valSplit: number;
  /** The model's input side; default: see inputSide. */
  inputSize?: number;
  augment?: string;
  limit?: number;
  testLimit?: number;
  cacheDir?: string;
  /** Per-channel mean and std pretrained weights expect (RGB); default: the training images' statistics. */
  normalisation?: { mean: readonly number[]; std: readonly number[] };
}

/** A seeded validation split: `valSplit` of the first `limit` training images (all where null), by the run's seed. */
export interface ValidationSplit {
  valSplit: number;
  limit: number | null;
}

/** Everything a training run is made of, decided before anything is built. */
export interface TrainingPlan {
  name: string;
  settings: TrainingSettings;
  modelOptions: Record<string, unknown>;
  source: DataSource;
  preprocessing: Preprocessing;
  augment: AugmentItem[];
  pca: PcaLighting | undefined;
  train: Dataset;
  /** Null with --val-split 0 and no validation set in the data. */
  validation: Dataset | null;
  /** Where validation came from: the data's own, or a seeded split. */
  validationOrigin: 'data' | 'split' | 'none';
  /** The seeded split's rule, recorded in the checkpoint so that `eval --split val` can cut it again. */
  validationSplit: ValidationSplit | null;
  test: Dataset | null;
  trainTransform: TransformSpec;
  testTransform: TransformSpec;
}

/** Whether the builder takes `inChannels` (the CIFAR ResNets): then it is set to the data's channels. */
const takesInChannels = (settings: TrainingSettings, info: models.ModelInfo) =>
  'inChannels' in settings.modelOptions || info.family === 'cifar-resnet';

/**
 * The model's input side: --input-size; else the model's tuned inputSize when the images are 28 pixels (the size
 * those defaults were tuned for); else the input size the model was published with.
 */
function inputSide(
  settings: TrainingSettings,
  info: models.ModelInfo,
  imageSide: number | null,
  given?: number,
) {
  if (given !== undefined) return given;
  if (settings.origin === 'model' && imageSide === 28) return settings.inputSize;
  return info.inputShape[1];
}

export async function planTraining(name: string, options: PlanOptions): Promise<TrainingPlan> {
  const info = models.info(name);
  const settings = defaultsFor(name);
  const folder = dataKind(options.data) === 'image-folder';
  const ownChannels = takesInChannels(settings, info);
  // An image folder is decoded straight to the model's input size: RGB for a model that takes any channels.
  const folderSide = inputSide(settings, info, null, options.inputSize);
  const source = resolveData(options.data, {
    folderShape: [ownChannels ? 3 : info.inputShape[0], folderSide, folderSide],
    cacheDir: options.cacheDir,
  });
  const [imageChannels, imageSide] = source.imageShape;
  const size = folder ? folderSide : inputSide(settings, info, imageSide, options.inputSize);
  const channels = ownChannels ? imageChannels : info.inputShape[0];
  const numClasses = source.classNames.length;
  const modelOptions: Record<string, unknown> = {
    ...settings.modelOptions,
    ...(ownChannels ? { inChannels: channels } : {}),
    numClasses,
    seed: options.seed,
  };
  checkModelTakes(name, modelOptions, [channels, size, size], numClasses, source);

  // --limit takes the first N training images; the validation split, when there is one, comes out of those.
  let train: Dataset = limited(source.train, options.limit);
  let validation: Dataset | null = source.validation;
  let validationOrigin: TrainingPlan['validationOrigin'] = validation === null ? 'none' : 'data';
  if (validation === null && options.valSplit > 0) {
    const split = splitValidation(train, { validation: options.valSplit, seed: options.seed });
    train = split.train;
    validation = split.validation;
    validationOrigin = 'split';
  }
  const test = source.test === null ? null : limited(source.test, options.testLimit);

  // The weights' own normalisation; Fashion-MNIST's fixed statistics (the main job's, unchanged); else those of
  // the images trained on.
  const statistics =
    options.normalisation?.mean.length === channels
      ? options.normalisation
      : source.kind === 'fashion-mnist'
        ? {
            mean: Array<number>(channels).fill(FASHION_MNIST_STATISTICS.mean[0]),
            std: Array<number>(channels).fill(FASHION_MNIST_STATISTICS.std[0]),
          }
        : await channelStatistics(train, channels);
  const preprocessing = planPreprocessing(source.imageShape, [channels, size, size], statistics);

  const augment = parseAugment(options.augment ?? settings.augment);
  const pca = augment.some((item) => item.name === 'pca') ? await pcaOf(train, preprocessing) : undefined;
  const augmentSpecs = augmentTransforms(augment, { inputShape: preprocessing.inputShape, pca });
  return {
    name,
    settings,
    modelOptions,
    source,
    preprocessing,
    augment,
    pca,
    train,
    validation,
    validationOrigin,
    validationSplit:
      validationOrigin === 'split' ? { valSplit: options.valSplit, limit: options.limit ?? null } : null,
    test,
    trainTransform: trainTransform(preprocessing, augmentSpecs),
    testTransform: testTransform(preprocessing),
  };
}

/** AlexNet's PCA of RGB values, over up to 1,000 training images evenly spaced; RGB images and model only. */
async function pcaOf(train: Dataset, preprocessing: Preprocessing): Promise<PcaLighting> {
  if (preprocessing.inputShape[0] !== 3 || train.shape[0] !== 3)
    throw new ValueError(
      `--augment pca needs RGB images and an RGB model; here the images have ${train.shape[0]} channel(s), the model takes ${preprocessing.inputShape[0]}`,
    );
  const images = await readSamples(train, evenlySpaced(train.length, 1000));
  const size = images[0]?.length ?? 0;
  const values = new Float32Array(images.length * size);
  images.forEach((image, i) => values.set(image, i * size));
  return computePcaLighting(
    arrayDataset(values, new Int32Array(images.length), train.shape, { classNames: ['image'] }),
  );
}

/**
 * Builds the model once and runs one blank input through it, so a model that cannot take the data says why in one
 * line before anything is written.
 */
function checkModelTakes(
  name: string,
  modelOptions: Record<string, unknown>,
  inputShape: readonly [number, number, number],
  numClasses: number,
  source: DataSource,
): void {
  const shape = `${inputShape[0]}×${inputShape[1]}×${inputShape[2]}`;
  let outputs: number;
  try {
    const model = models.get(name, modelOptions);
    model.eval();
    outputs = noGrad(() => {
      const input = zeros([1, ...inputShape]);
      const logits = model.call(input);
      const count = logits.shape[1];
      input.dispose();
      logits.dispose();
      return count;
    });
  } catch (error) {
    if (!(error instanceof ShapeError || error instanceof ValueError)) throw error;
    throw new ValueError(
      `${name} cannot take ${source.spec}'s images at ${shape} (${error.message.split('\n')[0]}); try --input-size`,
    );
  }
  if (outputs !== numClasses)
    throw new ValueError(
      `${name} gives ${outputs} outputs, but ${source.spec} has ${numClasses} classes (the model does not take numClasses)`,
    );
}

/** What `convnets train` keeps in each checkpoint's meta (loadTrained reads it). */
export function trainedMeta(plan: TrainingPlan, seed: number): TrainedMeta {
  return {
    model: plan.name,
    modelOptions: plan.modelOptions,
    data: plan.source.spec,
    size: plan.preprocessing.inputShape[1],
    seed,
    classNames: [...plan.source.classNames],
    imageShape: [...plan.preprocessing.imageShape],
    preprocessing: plan.preprocessing,
    transform: plan.testTransform,
    augment: formatAugment(plan.augment),
    validation: plan.validationSplit ?? plan.validationOrigin,
    ...(plan.pca === undefined ? {} : { pca: plan.pca }),
  };
}

/** The split a checkpoint of train's held out, when it did not record it: the default, a seeded tenth of all. */
const UNRECORDED_SPLIT: ValidationSplit = { valSplit: 0.1, limit: null };

/**
 * The validation images a checkpoint's run held out of `source`: the data's own, or its seeded split cut again
 * by the rule the checkpoint records (for one that records none, train's default, and `assumed` says so).
 */
export function checkpointValidationSet(
  trained: Trained,
  source: DataSource,
): { validation: Dataset; assumed: boolean } {
  const recorded = trained.meta.validation as ValidationSplit | 'data' | 'none' | undefined;
  if (recorded === 'none')
    throw new ValueError(`${trained.dir} was trained with no validation split (--val-split 0)`);
  if (recorded === 'data') {
    if (source.validation === null)
      throw new ValueError(
        `${trained.dir} was validated on its data's own set, and ${describeData(source)} has none`,
      );
    return { validation: source.validation, assumed: false };
  }
  const { valSplit, limit } = recorded ?? UNRECORDED_SPLIT;
  const seed = typeof trained.meta.seed === 'number' ? trained.meta.seed : 1;
  const split = splitValidation(limited(source.train, limit ?? undefined), { validation: valSplit, seed });
  return { validation: split.validation, assumed: recorded === undefined };
}

/**
 * `data` and the transform to the model's input: the checkpoint's own where the images come as in training, else
 * the same channel, size and normalisation rules from this data's image shape.
 */
export function checkpointData(trained: Trained, data: string) {
  const source = resolveData(data, { folderShape: trained.imageShape });
  const same = source.imageShape.join() === trained.imageShape.join();
  if (same) return { source, transform: trained.transform };
  if (trained.preprocessing === null)
    throw new ValueError(
      `${trained.dir} was trained on ${trained.imageShape.join('×')} images, ${data}'s are ${source.imageShape.join('×')}, and the checkpoint does not record its normalisation`,
    );
  const { inputShape, mean, std } = trained.preprocessing;
  return {
    source,
    transform: testTransform(planPreprocessing(source.imageShape, inputShape, { mean, std })),
  };
}

/** checkpointData with the data's test set, which it must have. */
export function checkpointTestSet(trained: Trained, data: string) {
  const { source, transform } = checkpointData(trained, data);
  if (source.test === null)
    throw new ValueError(`${describeData(source)} has no test set (eval measures a model on test data)`);
  return { source, test: source.test, transform };
}

/** Strict number parsing for options: `--epochs 3x` is an error, not 3. */
export function numberOption(
  name: string,
  value: string | boolean | undefined,
  fallback: number,
  { integer = false, min = 0 } = {},
): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (
    typeof value !== 'string' ||
    value.trim() === '' ||
    !Number.isFinite(n) ||
    (integer && !Number.isInteger(n)) ||
    n < min
  ) {
    throw new UsageError(
      `--${name} must be ${integer ? 'an integer' : 'a number'} ≥ ${min}, got '${String(value)}'`,
    );
  }
  return n;
}

/** --workers: loader threads, at most one per core (os.availableParallelism()), never oversubscribing. */
export function workersOption(value: string | boolean | undefined, fallback: number): number {
  const cores = availableParallelism();
  const workers = numberOption('workers', value, fallback, { integer: true });
  if (workers > cores)
    throw new UsageError(
      `--workers must be at most ${cores} (the cores this machine offers), got ${workers}`,
    );
  return workers;
}

export function choiceOption<T extends string>(
  name: string,
  value: string | boolean | undefined,
  fallback: T,
  choices: readonly T[],
): T {
  if (value === undefined) return fallback;
  if (typeof value !== 'string' || !choices.includes(value as T)) {
    throw new UsageError(`--${name} must be one of ${choices.join(', ')}, got '${String(value)}'`);
  }
  return value as T;
}
