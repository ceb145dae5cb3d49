/**
 * What a training run leaves, ready to use: loadTrained rebuilds the model a checkpoint's meta names, loads its
 * weights and says how to prepare an input the way training did. Both train.fit and `convnets train` write that
 * meta (checkpointMeta); eval, predict, export and any later verb read it through here.
 */
import { stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { FormatError, ValueError } from '../errors.js';
import { loadSafetensors } from '../io/safetensors.js';
import { FASHION_MNIST_CLASSES, transforms, type DataLoader, type TransformSpec } from '../data/index.js';
// The registry only: training knows no particular model; the entry points load every family into it.
import * as models from '../models/registry.js';
import type { Module } from '../nn/module.js';
import { Generator } from '../tensor/random.js';
import type { Tensor } from '../tensor/tensor.js';
import {
  loadCheckpoint,
  readCheckpointState,
  resolveCheckpoint,
  type CheckpointState,
} from './checkpoint.js';
import { FASHION_MNIST } from './data-source.js';
import { planPreprocessing, testTransform, type Preprocessing } from './preprocessing.js';

type Shape3 = [number, number, number];

/** Fashion-MNIST's pixel statistics over its 60,000 training images (in [0, 1]). */
export const FASHION_MNIST_STATISTICS = { mean: [0.286], std: [0.353] } as const;

/** A checkpoint's meta: what model, on what data, prepared how. */
export interface TrainedMeta {
  /** A registered model name and the options it was built with. */
  model: string;
  modelOptions: Record<string, unknown>;
  /** --data's value (fashion-mnist or a path); absent for a fit whose loader came from elsewhere. */
  data?: string;
  /** The model's input side (square inputs; kept for readers of older checkpoints). */
  size?: number;
  classNames?: string[];
  /** [C, H, W] of the data's images before `transform`. */
  imageShape?: Shape3;
  /** The test-time transform, from an image of imageShape to the model's input. */
  transform?: TransformSpec;
  /** The channel, size and normalisation rules `convnets train` chose (see preprocessing.ts). */
  preprocessing?: Preprocessing;
  [key: string]: unknown;
}

/** A trained model as loadTrained gives it back. */
export interface Trained {
  /** The model with the checkpoint's weights, in evaluation mode. */
  model: Module;
  meta: TrainedMeta;
  /** Epochs done. */
  epoch: number;
  state: CheckpointState;
  /** The directory the checkpoint's files were read from. */
  dir: string;
  /** What raw images are decoded to before `transform`, and their class names. */
  imageShape: readonly [number, number, number];
  /** What the model takes: `transform`'s output. */
  inputShape: readonly [number, number, number];
  classNames: readonly string[];
  /** The test-time transform: channels, size and normalisation as in training. */
  transform: TransformSpec;
  /** The rules behind `transform` where `convnets train` wrote them (predict describes them). */
  preprocessing: Preprocessing | null;
}

/** A training run's directory or checkpoint directory; a file inside one (its weights.safetensors) names it too. */
async function checkpointDirectory(path: string): Promise<string> {
  const info = await stat(path).catch(() => null);
  if (info === null) throw new ValueError(`${path}: no such file or directory`);
  return info.isDirectory() ? path : dirname(path);
}

/**
 * The test-time form of a training transform: random crops become centre crops, random resized crops a resize,
 * flips, rotations, warps and colour shifts are left out.
 */
export function testTimeTransform(spec: TransformSpec): TransformSpec | null {
  switch (spec.kind) {
    case 'compose': {
      const steps = spec.transforms.map(testTimeTransform).filter((s): s is TransformSpec => s !== null);
      return transforms.compose(steps);
    }
    case 'randomCrop':
      return transforms.centerCrop(spec.size);
    case 'randomResizedCrop':
      return transforms.resize(spec.size);
    case 'randomHorizontalFlip':
    case 'randomVerticalFlip':
    case 'randomRotation':
    case 'randomAffine':
    case 'elasticTransform':
    case 'colorShift':
    case 'pcaLighting':
      return null;
    default:
      return spec;
  }
}

/**
 * What fit records of a run it is not told: the registered model and options the model was built with, the
 * training data's image shape and class names, and the test-time transform (the validation loader's, or the
 * training loader's without its random steps).
 */
export function checkpointMeta(
  model: Module,
  train: DataLoader,
  validation?: DataLoader,
): Partial<TrainedMeta> {
  const built = models.builtWith(model);
  const transform =
    validation?.transformSpec ??
    (train.transformSpec === null ? transforms.compose([]) : testTimeTransform(train.transformSpec));
  return {
    ...(built === undefined ? {} : { model: built.name, modelOptions: built.options }),
    imageShape: [...train.dataset.shape],
    classNames: [...train.dataset.classNames],
    ...(transform === null ? {} : { transform }),
  };
}

/** The preprocessing of a `convnets train` checkpoint written before checkpoints recorded it: Fashion-MNIST's. */
function legacyPreprocessing(meta: TrainedMeta, dir: string): Preprocessing | null {
  if (meta.transform !== undefined || meta.preprocessing !== undefined) return meta.preprocessing ?? null;
  if (meta.data !== FASHION_MNIST || typeof meta.size !== 'number')
    throw new ValueError(
      `${dir}: the checkpoint does not say how its inputs were prepared (no transform in its meta)`,
    );
  return planPreprocessing([1, 28, 28], [1, meta.size, meta.size], FASHION_MNIST_STATISTICS);
}

/**
 * A single-file checkpoint: a safetensors file of weights whose metadata holds format 'convnets-checkpoint', the
 * epoch and the checkpoint's meta as JSON (the browser page's download, the page's shipped weights); null for any
 * other file, which names its directory as before.
 */
async function singleFileCheckpoint(
  path: string,
): Promise<{ state: CheckpointState; weights: Map<string, Tensor> } | null> {
  if (!path.endsWith('.safetensors') || !(await stat(path).catch(() => null))?.isFile()) return null;
  const { tensors, metadata } = await loadSafetensors(path);
  if (metadata.format !== 'convnets-checkpoint' || metadata.meta === undefined) {
    for (const t of tensors.values()) t.dispose();
    return null;
  }
  let meta: unknown;
  try {
    meta = JSON.parse(metadata.meta);
  } catch (error) {
    throw new FormatError(`${path}: its metadata's meta is not JSON (${(error as Error).message})`);
  }
  const epoch = Number(metadata.epoch);
  if (!Number.isInteger(epoch) || typeof meta !== 'object' || meta === null)
    throw new FormatError(
      `${path}: a single-file checkpoint needs an integer epoch and a meta object in its metadata`,
    );
  const state: CheckpointState = {
    format: 'convnets-checkpoint',
    version: 1,
    epoch,
    optimizer: null,
    schedule: null,
    rng: 0,
    loaderSeed: null,
    history: [],
    meta: meta as Record<string, unknown>,
  };
  return { state, weights: tensors };
}

/**
 * Loads the model a checkpoint (written by fit or by `convnets train`, or a single-file checkpoint) names, ready to
 * evaluate.
 */
export async function loadTrained(path: string): Promise<Trained> {
  const single = await singleFileCheckpoint(path);
  const dir = single === null ? await resolveCheckpoint(await checkpointDirectory(path)) : path;
  const meta = (single?.state ?? (await readCheckpointState(dir))).meta as Partial<TrainedMeta>;
  if (typeof meta.model !== 'string') {
    throw new ValueError(
      `${dir}: the checkpoint does not name its model (save it through train.fit with a model from the zoo, or convnets train)`,
    );
  }
  const full = { modelOptions: {}, ...meta } as TrainedMeta;
  const preprocessing = legacyPreprocessing(full, dir);
  const transform = preprocessing === null ? full.transform! : testTransform(preprocessing);
  const imageShape = preprocessing?.imageShape ?? full.imageShape;
  if (imageShape === undefined)
    throw new ValueError(`${dir}: the checkpoint does not record its image shape`);
  const model = models.get(full.model, full.modelOptions);
  const state = single === null ? await loadCheckpoint(dir, { model }) : single.state;
  if (single !== null) {
    try {
      model.loadStateDict(single.weights);
    } finally {
      for (const t of single.weights.values()) t.dispose();
    }
  }
  model.eval();
  return {
    model,
    meta: full,
    epoch: state.epoch,
    state,
    dir,
    imageShape,
    inputShape: preprocessing?.inputShape ?? outputShape(transform, imageShape),
    classNames: full.classNames ?? (full.data === FASHION_MNIST ? FASHION_MNIST_CLASSES : []),
    transform,
    preprocessing,
  };
}

/** The shape `transform` makes of an image of `shape` (run once on a blank image; the transforms are cheap). */
function outputShape(transform: TransformSpec, shape: readonly [number, number, number]): Shape3 {
  const [channels, height, width] = shape;
  const blank = { data: new Float32Array(channels * height * width), channels, height, width };
  const [out] = transforms.makeTransform(transform)(blank, new Generator(0));
  return [out.channels, out.height, out.width];
}
