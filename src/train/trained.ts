/**
 * What a training run leaves, ready to use: loadTrained rebuilds the model a checkpoint's meta names, loads its
 * weights and says how to prepare an input the way training did. `convnets train` writes the meta; eval, predict
 * and any later verb read it through here.
 */
import { stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { ValueError } from '../errors.js';
import {
  FASHION_MNIST_CLASSES,
  fashionMnist,
  transforms,
  type Dataset,
  type Split,
  type TransformSpec,
} from '../data/index.js';
// The registry only: training knows no particular model; the entry points load every family into it.
import * as models from '../models/registry.js';
import type { Module } from '../nn/module.js';
import {
  loadCheckpoint,
  readCheckpointState,
  resolveCheckpoint,
  type CheckpointState,
} from './checkpoint.js';

/** A data set training knows: how to load it, its images' [C, H, W], class names and pixel statistics. */
export interface TrainingData {
  /** The split's dataset. */
  load(split: Split): Dataset;
  imageShape: readonly [number, number, number];
  classNames: readonly string[];
  /** Mean and standard deviation of the training pixels (in [0, 1]). */
  mean: number;
  std: number;
}

/** The data sets training knows by name (`convnets train --data`). */
export const TRAINING_DATA: Record<string, TrainingData> = {
  'fashion-mnist': {
    load: (split) => fashionMnist({ split }),
    imageShape: [1, 28, 28],
    classNames: FASHION_MNIST_CLASSES,
    mean: 0.286,
    std: 0.353,
  },
};

/** The TRAINING_DATA entry of a name; an error lists the known ones. */
export function trainingData(name: string): TrainingData {
  const data = TRAINING_DATA[name];
  if (data === undefined)
    throw new ValueError(
      `unknown data '${name}': known data sets are ${Object.keys(TRAINING_DATA).join(', ')}`,
    );
  return data;
}

/**
 * Zero padding from 28 up to `inputSize`, a random crop with padding 4 and flips when augmenting, then the data
 * set's normalisation; with augment 'none' it is the test-time transform.
 */
export function trainingTransform(
  data: string,
  inputSize: number,
  augment: 'none' | 'crop-flip',
): TransformSpec {
  const { mean, std, imageShape } = trainingData(data);
  const steps: TransformSpec[] = [];
  if (inputSize > imageShape[1]) steps.push(transforms.pad((inputSize - imageShape[1]) / 2));
  if (augment === 'crop-flip')
    steps.push(transforms.randomCrop(inputSize, { padding: 4 }), transforms.randomHorizontalFlip());
  steps.push(transforms.normalize([mean], [std]));
  return transforms.compose(steps);
}

/** The part of a checkpoint's meta that `convnets train` writes. */
export interface TrainedMeta {
  /** A registered model name and the options it was built with. */
  model: string;
  modelOptions: Record<string, unknown>;
  /** The TRAINING_DATA entry it was trained on, and the input side images were padded to. */
  data: string;
  size: number;
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
  classNames: readonly string[];
  /** The test-time transform: padding to the model's input and the training data's normalisation. */
  transform: TransformSpec;
}

/** A training run's directory or checkpoint directory; a file inside one (its weights.safetensors) names it too. */
async function checkpointDirectory(path: string): Promise<string> {
  const info = await stat(path).catch(() => null);
  if (info === null) throw new ValueError(`${path}: no such file or directory`);
  return info.isDirectory() ? path : dirname(path);
}

/** Loads the model a `convnets train` run (or a fit with the same meta) wrote in `path`, ready to evaluate. */
export async function loadTrained(path: string): Promise<Trained> {
  const dir = await resolveCheckpoint(await checkpointDirectory(path));
  const meta = (await readCheckpointState(dir)).meta as Partial<TrainedMeta>;
  if (typeof meta.model !== 'string' || typeof meta.size !== 'number' || typeof meta.data !== 'string') {
    throw new ValueError(
      `${dir}: the checkpoint does not name its model and data (not written by convnets train)`,
    );
  }
  const data = trainingData(meta.data);
  const model = models.get(meta.model, meta.modelOptions ?? {});
  const state = await loadCheckpoint(dir, { model });
  model.eval();
  return {
    model,
    meta: meta as TrainedMeta,
    epoch: state.epoch,
    state,
    dir,
    imageShape: data.imageShape,
    classNames: data.classNames,
    transform: trainingTransform(meta.data, meta.size, 'none'),
  };
}
