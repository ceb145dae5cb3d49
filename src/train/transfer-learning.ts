/**
 * train.transfer: someone else's network on your own data in one call. A new head for your classes, the rest frozen
 * (or frozen up to a layer, or not at all); optionally the head trained on cached features; optionally, after some
 * epochs, more layers unfrozen with learning rates that shrink away from the head (fastai's fine_tune).
 */
import { ValueError } from '../errors.js';
import type { Dataset } from '../data/portable.js';
import { loader, type DataLoader } from '../data/loader.js';
import type { TransformSpec } from '../data/transforms/spec.js';
import type { Module } from '../nn/index.js';
import { adam, sgd, type AnyOptimizer } from '../optim/index.js';
import { Generator } from '../tensor/index.js';
import { cachedFeatures, HeadOnFeatures } from './feature-cache.js';
import { fit, type Callback } from './fit.js';
import type { EpochRecord } from './history.js';
import {
  discriminativeGroups,
  freezeModel,
  headPath,
  onlyHeadTrains,
  replaceHead,
  unfreezeMore,
  type FreezeSpec,
} from './transfer.js';
import { checkOptions } from '../options.js';

/** How transfer replaces the head, freezes, trains and unfreezes. */
export interface TransferOptions {
  /** Total epochs, those after unfreezing included. */
  epochs: number;
  /** Classes of the new head; default the training set's. false keeps the model's head as it is. */
  numClasses?: number | false;
  /** The head's path; default the model's last Linear (pass ModelInfo.head where a model declares one). */
  head?: string;
  /** Default 'all-but-head'. */
  freeze?: FreezeSpec;
  validation?: Dataset;
  /** Training transform (augmentation); default none. */
  transform?: TransformSpec;
  /** Transform for validation and for cached features without augmentation; default none. */
  evalTransform?: TransformSpec;
  /**
   * Train the head on the frozen part's outputs, computed once and kept in `dir` (the first `unfreezeAfter` epochs,
   * or all). `copies` > 1 caches that many augmented passes of the training set through `transform`.
   */
  cacheFeatures?: { dir: string; copies?: number };
  /** Unfreeze more after this many epochs: the next stage ('next', default) or everything ('all'). */
  unfreezeAfter?: number;
  unfreeze?: 'next' | 'all';
  /** Learning rate of the head; the lowest unfrozen group gets lr / lrRatio after unfreezing (default 100). */
  lr?: number;
  lrRatio?: number;
  optimizer?: 'sgd' | 'adam';
  momentum?: number;
  weightDecay?: number;
  batchSize?: number;
  seed?: number;
  workers?: number;
  callbacks?: readonly Callback[];
}

/** What transfer did: the history of both phases, what it froze and unfroze, the feature files. */
export interface TransferResult {
  history: EpochRecord[];
  /** The paths frozen at the start, and those unfrozen later. */
  frozen: string[];
  unfrozen: string[];
  /** The feature files, and whether they were read back from an earlier run. */
  featureCache: { train: string; validation: string | null; reused: boolean } | null;
}

function makeOptimizer(
  params: Parameters<typeof sgd>[0],
  options: TransferOptions,
  lr: number,
): AnyOptimizer {
  const weightDecay = options.weightDecay ?? 0;
  return options.optimizer === 'adam'
    ? adam(params, { lr, weightDecay })
    : sgd(params, { lr, momentum: options.momentum ?? 0.9, weightDecay });
}

/** Training epochs continue each other's numbering across the two phases. */
function renumber(records: readonly EpochRecord[], before: number): EpochRecord[] {
  return records.map((record) => ({ ...record, epoch: record.epoch + before }));
}

/**
 * Transfer learning on `model` (weights already loaded): replaces its head, freezes, trains, and optionally
 * unfreezes and fine-tunes; returns the history of both phases.
 */
export async function transfer(
  model: Module,
  trainSet: Dataset,
  options: TransferOptions,
): Promise<TransferResult> {
  checkOptions('train.transfer', options, {
    epochs: true,
    numClasses: true,
    head: true,
    freeze: true,
    validation: true,
    transform: true,
    evalTransform: true,
    cacheFeatures: true,
    unfreezeAfter: true,
    unfreeze: true,
    lr: true,
    lrRatio: true,
    optimizer: true,
    momentum: true,
    weightDecay: true,
    batchSize: true,
    seed: true,
    workers: true,
    callbacks: true,
  });
  const { epochs } = options;
  if (!Number.isInteger(epochs) || epochs < 1)
    throw new ValueError(`transfer: epochs must be an integer ≥ 1, got ${epochs}`);
  const unfreezeAfter = options.unfreezeAfter ?? epochs;
  if (!Number.isInteger(unfreezeAfter) || unfreezeAfter < 0 || unfreezeAfter > epochs)
    throw new ValueError(`transfer: unfreezeAfter must be an integer in 0..${epochs}, got ${unfreezeAfter}`);
  const seed = options.seed ?? 0;
  const lr = options.lr ?? (options.optimizer === 'adam' ? 1e-3 : 0.01);
  const batchSize = options.batchSize ?? 64;
  const head = headPath(model, options.head);
  if (options.numClasses !== false) {
    replaceHead(model, options.numClasses ?? trainSet.numClasses, {
      path: head,
      generator: new Generator(seed),
    });
  }
  const frozen = freezeModel(model, options.freeze ?? 'all-but-head', { head });
  const validationLoader = (dataset: Dataset | undefined): DataLoader | undefined =>
    dataset === undefined
      ? undefined
      : loader(dataset, { batchSize, transform: options.evalTransform, seed, workers: options.workers });
  const history: EpochRecord[] = [];
  let featureCache: TransferResult['featureCache'] = null;

  if (unfreezeAfter > 0) {
    if (options.cacheFeatures !== undefined) {
      if (!onlyHeadTrains(model, head))
        throw new ValueError(
          `transfer: cached features need everything below the head '${head}' frozen (freeze: 'all-but-head')`,
        );
      const { dir, copies = 1 } = options.cacheFeatures;
      const common = { dir, head, batchSize, seed };
      const train = await cachedFeatures(model, trainSet, {
        ...common,
        split: 'train',
        copies,
        transform: copies > 1 ? options.transform : options.evalTransform,
      });
      const validation =
        options.validation === undefined
          ? null
          : await cachedFeatures(model, options.validation, {
              ...common,
              split: 'validation',
              transform: options.evalTransform,
            });
      featureCache = { train: train.file, validation: validation?.file ?? null, reused: train.reused };
      const headOnly = new HeadOnFeatures(model.get(head));
      history.push(
        ...(await fit(headOnly, loader(train.dataset, { batchSize, shuffle: true, seed }), {
          epochs: unfreezeAfter,
          optimizer: makeOptimizer(headOnly.parameters(), options, lr),
          validation: validation === null ? undefined : loader(validation.dataset, { batchSize, seed }),
          callbacks: options.callbacks,
        })),
      );
    } else {
      history.push(
        ...(await fit(model, trainLoader(trainSet, options, batchSize, seed), {
          epochs: unfreezeAfter,
          optimizer: makeOptimizer(
            model.parameters().filter((p) => p.requiresGrad),
            options,
            lr,
          ),
          validation: validationLoader(options.validation),
          callbacks: options.callbacks,
        })),
      );
    }
  }
  let unfrozen: string[] = [];
  if (unfreezeAfter < epochs) {
    unfrozen = unfreezeMore(model, options.unfreeze ?? 'next');
    const groups = discriminativeGroups(model, lr, options.lrRatio ?? 100);
    const tuned = await fit(model, trainLoader(trainSet, options, batchSize, seed + 1), {
      epochs: epochs - unfreezeAfter,
      optimizer: makeOptimizer(
        groups.map(({ params, lr: groupLr }) => ({ params, lr: groupLr })),
        options,
        lr,
      ),
      validation: validationLoader(options.validation),
      callbacks: options.callbacks,
    });
    history.push(...renumber(tuned, unfreezeAfter));
  }
  return { history, frozen, unfrozen, featureCache };
}

function trainLoader(
  dataset: Dataset,
  options: TransferOptions,
  batchSize: number,
  seed: number,
): DataLoader {
  return loader(dataset, {
    batchSize,
    shuffle: true,
    seed,
    transform: options.transform,
    workers: options.workers,
  });
}
