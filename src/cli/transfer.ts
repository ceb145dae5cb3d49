/**
 * The transfer-learning options of `convnets train`: start from pretrained weights (a file, a checkpoint directory
 * or a registry name), replace the head, freeze, train the head on cached features, unfreeze later. What they do is
 * the library's (train/transfer.ts, train.transfer); this file reads the options and reports.
 */
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { ValueError } from '../errors.js';
import type { Dataset, TransformSpec } from '../data/index.js';
import { cachedDownload, readWeightsFile, type WeightsFile } from '../io/index.js';
import * as models from '../models/index.js';
import type { Module } from '../nn/index.js';
import {
  WEIGHTS_FILE,
  freezeModel,
  headPath,
  replaceHead,
  resolveCheckpoint,
  transfer,
  type Callback,
  type EpochRecord,
} from '../train/index.js';
import { Generator } from '../tensor/index.js';
import { UsageError, type OptionValues } from './command.js';
import { requireFile } from './files.js';
import { choiceOption, numberOption } from './train-setup.js';

export const transferOptions = {
  weights: {
    value: 'W',
    help: 'start from these weights: a .pth, .safetensors, .onnx or Keras .h5 file, a checkpoint directory, or a registry name (resnet18:IMAGENET1K_V1)',
  },
  freeze: {
    value: 'all-but-head|none|PATH',
    help: 'freeze everything before the head, nothing, or every layer up to and including PATH (layer3)',
    default: 'all-but-head with --weights, else none',
  },
  head: {
    value: 'N',
    help: 'replace the head with a new one for N classes',
    default: "the data's class count",
  },
  'cache-features': { help: 'compute the frozen part once, save it in --out, and train the head on it' },
  'cache-augment': {
    value: 'N',
    help: 'with --cache-features: cache N augmented passes of the training set',
    default: '1 (no augmentation)',
  },
  'unfreeze-after': {
    value: 'E',
    help: 'after E epochs, unfreeze (see --unfreeze) with lower rates for lower layers',
  },
  unfreeze: {
    value: 'next|all',
    help: 'what --unfreeze-after opens: the last frozen stage, or everything',
    default: 'all',
  },
  'fine-tune': {
    help: "fastai's fine_tune: the head alone for one epoch, then everything (--unfreeze-after 1)",
  },
} as const;

export type TransferValues = OptionValues<typeof transferOptions>;

/** Whether any transfer option was given, so `convnets train` takes the transfer path. */
export function wantsTransfer(values: TransferValues): boolean {
  return Object.keys(transferOptions).some((name) => values[name as keyof TransferValues] !== undefined);
}

/** A weights option resolved to a file, with the class names and preprocessing published with it (registry names). */
export interface WeightsSource {
  file: string;
  published: models.PublishedWeights | null;
}

/** --weights: a registry name is downloaded into the cache (with a progress bar), a directory is a checkpoint. */
export async function resolveWeights(spec: string): Promise<WeightsSource> {
  if (models.isWeightsName(spec) && !(await stat(spec).catch(() => null))) {
    const published = models.publishedWeights(spec);
    return { file: await cachedDownload(published), published };
  }
  const found = await stat(spec).catch(() => null);
  if (found?.isDirectory()) {
    const file = join(await resolveCheckpoint(spec), WEIGHTS_FILE);
    if (!(await stat(file).catch(() => null))?.isFile())
      throw new ValueError(
        `--weights ${spec}: is a directory, not a file or a checkpoint (it has no ${WEIGHTS_FILE})`,
      );
    return { file, published: null };
  }
  await requireFile(spec, '--weights');
  return { file: spec, published: null };
}

/** The builder options a file that names its model (Keras .h5) asks for; an error when it names another model. */
export function builderOptionsFor(file: WeightsFile, arch: string, path: string): Record<string, unknown> {
  if (file.model === null) return {};
  if (file.model.name !== arch)
    throw new ValueError(
      `${path}: holds the weights of ${file.model.name}, not ${arch}; use --arch ${file.model.name}`,
    );
  return file.model.options;
}

/**
 * The model with the weights loaded: built with as many classes as the weights' head has (read from the file), so
 * every key loads strictly; the head is replaced afterwards. A file without the head (Keras's `include_top=False`)
 * loads everything below it, and the head starts from its initialisation.
 */
export async function modelWithWeights(
  name: string,
  modelOptions: Record<string, unknown>,
  source: WeightsSource,
): Promise<Module> {
  const file = await readWeightsFile(source.file);
  const state = file.tensors;
  try {
    const options = { ...modelOptions, ...builderOptionsFor(file, name, source.file) };
    const head = headPath(models.get(name, { ...options, numClasses: 2 }), models.info(name).head);
    const headWeight = state.get(`${head}.weight`);
    const numClasses = headWeight?.shape[0] ?? models.info(name).numClasses;
    const model = models.get(name, { ...options, numClasses });
    const headless = ![...state.keys()].some((key) => key.startsWith(`${head}.`));
    model.loadStateDict(state, {
      strict: true,
      optional: (key) => key.endsWith('num_batches_tracked') || (headless && key.startsWith(`${head}.`)),
    });
    return model;
  } catch (error) {
    if (error instanceof ValueError || (error as Error).name === 'ShapeError')
      (error as Error).message = `${source.file}: not the weights of ${name}: ${(error as Error).message}`;
    throw error;
  } finally {
    for (const t of state.values()) t.dispose();
  }
}

export interface TransferPlan {
  headPath: string;
  numClasses: number;
  freeze: string;
  frozen: string[];
  cacheFeatures: boolean;
  cacheAugment: number;
  unfreezeAfter: number | undefined;
  unfreeze: 'next' | 'all';
}

/** Reads and checks the transfer options against the run's epochs and data. */
export function transferPlan(
  model: Module,
  modelName: string,
  values: TransferValues,
  epochs: number,
  dataClasses: number,
): TransferPlan {
  const head = headPath(model, models.info(modelName).head);
  const numClasses = numberOption('head', values.head, dataClasses, { integer: true, min: 1 });
  if (numClasses !== dataClasses)
    throw new UsageError(`--head ${numClasses} does not fit the data's ${dataClasses} classes`);
  const cacheAugment = numberOption('cache-augment', values['cache-augment'], 1, { integer: true, min: 1 });
  if (values['cache-augment'] !== undefined && values['cache-features'] !== true)
    throw new UsageError('--cache-augment goes with --cache-features');
  if (values['fine-tune'] === true && values['unfreeze-after'] !== undefined)
    throw new UsageError('--fine-tune is --unfreeze-after 1: give one of them');
  const unfreezeAfter =
    values['fine-tune'] === true
      ? 1
      : values['unfreeze-after'] === undefined
        ? undefined
        : numberOption('unfreeze-after', values['unfreeze-after'], 0, { integer: true, min: 0 });
  if (unfreezeAfter !== undefined && unfreezeAfter >= epochs)
    throw new UsageError(`--unfreeze-after ${unfreezeAfter} leaves nothing to fine-tune in ${epochs} epochs`);
  const freeze =
    typeof values.freeze === 'string'
      ? values.freeze
      : values.weights !== undefined
        ? 'all-but-head'
        : 'none';
  if (values['cache-features'] === true && freeze !== 'all-but-head')
    throw new UsageError('--cache-features needs everything below the head frozen (--freeze all-but-head)');
  return {
    headPath: head,
    numClasses,
    freeze,
    frozen: [],
    cacheFeatures: values['cache-features'] === true,
    cacheAugment,
    unfreezeAfter,
    unfreeze: choiceOption('unfreeze', values.unfreeze, 'all', ['next', 'all']),
  };
}

/** Replaces the head when its class count differs from the data's (or --head asks), then freezes. */
export function applyPlan(model: Module, plan: TransferPlan, seed: number): string {
  const head = model.get(plan.headPath) as { outFeatures?: number };
  const replaced = head.outFeatures !== plan.numClasses;
  if (replaced) replaceHead(model, plan.numClasses, { path: plan.headPath, generator: new Generator(seed) });
  plan.frozen = freezeModel(model, plan.freeze, { head: plan.headPath });
  const trainable = model.numParameters({ trainableOnly: true });
  return (
    `${replaced ? `new head ${plan.headPath} for ${plan.numClasses} classes; ` : ''}` +
    `frozen: ${plan.frozen.length === 0 ? 'nothing' : plan.frozen.join(', ')}; ${trainable.toLocaleString('en-US')} of ${model.numParameters().toLocaleString('en-US')} parameters train`
  );
}

/** Trains through train.transfer (cached features, unfreezing); the model's head and freezing are already set. */
export async function trainTransfer(
  model: Module,
  plan: TransferPlan,
  run: {
    trainSet: Dataset;
    validation: Dataset | undefined;
    transform: TransformSpec | undefined;
    evalTransform: TransformSpec | undefined;
    out: string;
    epochs: number;
    lr: number;
    batchSize: number;
    optimizer: 'sgd' | 'adam';
    momentum: number;
    weightDecay: number;
    seed: number;
    workers: number;
    callbacks: readonly Callback[];
    message: (line: string) => void;
  },
): Promise<EpochRecord[]> {
  const started = performance.now();
  const result = await transfer(model, run.trainSet, {
    epochs: run.epochs,
    numClasses: false,
    head: plan.headPath,
    freeze: plan.freeze,
    validation: run.validation,
    transform: run.transform,
    evalTransform: run.evalTransform,
    cacheFeatures: plan.cacheFeatures ? { dir: run.out, copies: plan.cacheAugment } : undefined,
    unfreezeAfter: plan.unfreezeAfter,
    unfreeze: plan.unfreeze,
    lr: run.lr,
    optimizer: run.optimizer,
    momentum: run.momentum,
    weightDecay: run.weightDecay,
    batchSize: run.batchSize,
    seed: run.seed,
    workers: run.workers,
    callbacks: run.callbacks,
  });
  if (result.featureCache !== null)
    run.message(
      `features ${result.featureCache.reused ? 'read from' : 'computed and saved in'} ${result.featureCache.train}` +
        ` (${((performance.now() - started) / 1000).toFixed(1)} s in all)`,
    );
  if (result.unfrozen.length > 0)
    run.message(`unfrozen after epoch ${plan.unfreezeAfter}: ${result.unfrozen.join(', ')}`);
  return result.history;
}
