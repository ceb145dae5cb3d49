/**
 * train.fit and train.evaluate: the training loop. Each step runs inside scope(), so a step leaves no storage
 * behind; the model is in training mode for the steps and in evaluation mode, under noGrad, for validation.
 */
import { ConvnetsError, ValueError } from '../errors.js';
import type { Batch, DataLoader } from '../data/loader.js';
import { callWithAuxiliary, lossWithAuxiliary } from '../nn/auxiliary.js';
import type { Module } from '../nn/module.js';
import type { AnyOptimizer, LRScheduler } from '../optim/index.js';
import {
  add,
  crossEntropy,
  mul,
  noGrad,
  reshape,
  scope,
  sqrt,
  square,
  sum,
  withRecompute,
  type Tensor,
} from '../tensor/index.js';
import { loadCheckpoint, readCheckpointState, saveCheckpoint } from './checkpoint.js';
import type { EpochRecord } from './history.js';
import { ClassificationMetrics, type EvaluationResult } from './metrics.js';
import { checkTtaOptions, logMeanSoftmax, logProbabilitiesWithTta, type TtaOptions } from './tta.js';
import { checkpointMeta } from './trained.js';
import { StepReplay, type StepOutputs } from './step-replay.js';
import type { StepInfo } from './progress.js';
import { checkOptions } from '../options.js';

/** A loss from a batch's logits and labels; crossEntropy by default. */
export type LossFn = (logits: Tensor, labels: Tensor) => Tensor;

/** Where a training step falls: its epoch and its step within the epoch, both from 1. */
export interface StepPosition {
  epoch: number;
  step: number;
  steps: number;
}

/** Hooks fit calls while it trains. */
export interface Callback {
  /**
   * After backward, before gradient clipping and the optimizer's update: each parameter's .grad holds this
   * step's gradient (read it, do not keep it: it is released with the step).
   */
  onGradients?(position: StepPosition): void;
  /** Called after every training step. */
  onStep?(info: StepInfo): void;
  /** After each epoch, once its checkpoint (if any) is written. */
  onEpochEnd?(record: EpochRecord, history: readonly EpochRecord[]): void | Promise<void>;
}

/** How fit trains. */
export interface FitOptions {
  /** Total epochs; when resuming, training continues up to this count. */
  epochs: number;
  optimizer: AnyOptimizer;
  /** Stepped once per epoch, after the epoch. */
  schedule?: LRScheduler;
  validation?: DataLoader;
  callbacks?: readonly Callback[];
  /** Rescales the gradients so that their global L2 norm is at most this (torch's clip_grad_norm_). */
  clipGradNorm?: number;
  /** Default crossEntropy. */
  lossFn?: LossFn;
  /** Called after every training step (the progress display uses it). */
  onStep?: (info: StepInfo) => void;
  /** Writes a checkpoint here after every epoch. */
  checkpointDir?: string;
  /** Continues from the checkpoint in this directory (often the same as checkpointDir). */
  resumeFrom?: string;
  /**
   * Kept in the checkpoint's state.json, over what fit records itself (checkpointMeta: the registered model and
   * options, the data's image shape and class names, the test-time transform), so loadTrained can rebuild it.
   */
  meta?: Record<string, unknown>;
  /**
   * Stops training at the next step boundary once aborted (a save under way is finished first), throwing
   * TrainingStopped; the last complete checkpoint stays the current one.
   */
  signal?: AbortSignal;
  /**
   * Computes again in backward() what is cheap to compute rather than keeping it through the forward (a ReLU's
   * output after a BatchNorm; setRecompute): less memory for a little more time. Default: the process-wide setting,
   * off unless setRecompute turned it on.
   */
  recompute?: boolean;
}

/**
 * A checkpoint written for another model would fail on thousands of keys: where both name their model (meta.model,
 * as `convnets train` writes it), say which two they are instead.
 */
async function checkSameModel(dir: string, meta: Record<string, unknown> | undefined): Promise<void> {
  const written = (await readCheckpointState(dir)).meta.model;
  if (typeof meta?.model === 'string' && typeof written === 'string' && written !== meta.model)
    throw new ValueError(
      `fit: the checkpoint in ${dir} was written for ${written}, not ${meta.model}; resume it with ${written}, or train ${meta.model} into another directory`,
    );
}

/** fit or evaluate stopped because its signal was aborted. */
export class TrainingStopped extends ConvnetsError {
  constructor(
    message: string,
    /** The signal's reason (e.g. 'SIGINT'). */
    readonly reason: unknown,
    /** The epochs of the last complete checkpoint in checkpointDir; null where none was written or resumed. */
    readonly checkpointEpoch: number | null = null,
  ) {
    super(message);
  }
}

/** Scales every gradient by min(1, maxNorm / total norm); returns the norm before clipping. */
function clipGradients(params: readonly Tensor[], maxNorm: number): number {
  const grads = params.map((p) => p.grad).filter((g): g is Tensor => g !== null);
  if (grads.length === 0) return 0;
  const total = sqrt(grads.map((g) => sum(square(g))).reduce((a, b) => add(a, b))).item();
  const factor = maxNorm / (total + 1e-6);
  if (factor < 1) for (const g of grads) g.assign(mul(g, factor));
  return total;
}

function checkLoader(what: string, loader: unknown): asserts loader is DataLoader {
  if (typeof (loader as DataLoader)?.setEpoch !== 'function') {
    throw new ValueError(`fit: ${what} must be a data.loader(...)`);
  }
}

/**
 * Logits for a batch, or log(mean softmax) where it is seen through several views: [N, K, C, H, W] batches
 * (fiveCrop/tenCrop transforms) average over their K crops, and `tta` over the views it cuts from [N, C, H, W].
 * Probabilities are averaged, as for an Ensemble, so that views and members combine the same way.
 */
function evaluationLogits(model: Module, images: Tensor, tta: TtaOptions): Tensor {
  if (images.rank !== 5)
    return (tta.tta ?? 'none') === 'none' ? model.call(images) : logProbabilitiesWithTta(model, images, tta);
  if ((tta.tta ?? 'none') !== 'none')
    throw new ValueError(
      `evaluate: tta '${tta.tta}' on batches the loader already cut into ${images.shape[1]} crops; use one or the other`,
    );
  const [n, k, ...chw] = images.shape;
  const logits = model.call(reshape(images, [n * k, ...chw]));
  return logMeanSoftmax(reshape(logits, [n, k, logits.shape[1]]), 1);
}

function numClassesOf(loader: DataLoader): number {
  return loader.dataset.numClasses;
}

/** Options of evaluate: the loss it reports, a signal that stops it, and test-time augmentation. */
export interface EvaluateOptions extends TtaOptions {
  lossFn?: LossFn;
  signal?: AbortSignal;
}

/**
 * Loss, top-1/top-5, per-class accuracy and confusion matrix of `model` over one pass of `loader`; with `tta`,
 * of its softmax outputs averaged over the views of each image (the loss is that of the averaged probabilities).
 */
export async function evaluate(
  model: Module,
  loader: DataLoader,
  options: EvaluateOptions = {},
): Promise<EvaluationResult> {
  checkOptions('train.evaluate', options, { lossFn: true, signal: true, tta: true, cropSize: true });
  checkLoader('the loader', loader);
  const tta = { tta: options.tta, cropSize: options.cropSize };
  // A wrong mode or crop size fails here, before the first batch is loaded.
  checkTtaOptions(tta);
  const lossFn = options.lossFn ?? ((logits, labels) => crossEntropy(logits, labels));
  const wasTraining = model.training;
  model.eval();
  const metrics = new ClassificationMetrics(numClassesOf(loader));
  try {
    for await (const batch of loader) {
      if (options.signal !== undefined) await signalsDelivered();
      if (options.signal?.aborted) {
        disposeBatch(batch);
        throw new TrainingStopped(
          `evaluate: stopped (${String(options.signal.reason)}) after ${metrics.samples} images`,
          options.signal.reason,
        );
      }
      try {
        noGrad(() =>
          scope(() => {
            const logits = evaluationLogits(model, batch.images, tta);
            const loss = lossFn(logits, batch.labels).item();
            metrics.update(logits.data(), batch.labels.data(), loss);
          }),
        );
      } finally {
        disposeBatch(batch);
      }
    }
  } finally {
    model.train(wasTraining);
  }
  if (metrics.samples === 0) throw new ValueError('evaluate: the loader gave no samples');
  return metrics.result();
}

/**
 * One turn of the event loop. A loader without workers hands out batches through promises alone, which never let
 * the loop run, so a process signal would wait for the end of the epoch.
 */
const signalsDelivered = () => new Promise<void>((resolve) => setImmediate(resolve));

function disposeBatch(batch: Batch): void {
  batch.images.dispose();
  batch.labels.dispose();
}

interface StepResult {
  loss: number;
  logits: Float32Array;
}

/**
 * Trains `model` on `loader` for `options.epochs` epochs and returns the history (one record per epoch, those of
 * a resumed run included). A non-finite loss stops training with a ValueError naming the epoch and step, before
 * that step's update: the last checkpoint written stays the last good one. An aborted `signal` stops it the same
 * way at the next step boundary, with TrainingStopped.
 */
export async function fit(model: Module, loader: DataLoader, options: FitOptions): Promise<EpochRecord[]> {
  checkOptions('train.fit', options, {
    epochs: true,
    optimizer: true,
    schedule: true,
    validation: true,
    callbacks: true,
    clipGradNorm: true,
    lossFn: true,
    onStep: true,
    checkpointDir: true,
    resumeFrom: true,
    meta: true,
    signal: true,
    recompute: true,
  });
  checkLoader('the training loader', loader);
  if (options.validation !== undefined) checkLoader('validation', options.validation);
  const { epochs, optimizer, schedule, clipGradNorm } = options;
  if (!Number.isInteger(epochs) || epochs < 1)
    throw new ValueError(`fit: epochs must be an integer ≥ 1, got ${epochs}`);
  if (clipGradNorm !== undefined && !(clipGradNorm > 0))
    throw new ValueError(`fit: clipGradNorm must be > 0, got ${clipGradNorm}`);
  if (options.recompute !== undefined && typeof options.recompute !== 'boolean')
    throw new ValueError(`fit: recompute must be true or false, got ${String(options.recompute)}`);
  const lossFn = options.lossFn ?? ((logits, labels) => crossEntropy(logits, labels));
  const callbacks = options.callbacks ?? [];
  const params = model.parameters();
  const history: EpochRecord[] = [];
  let startEpoch = 0;
  let lastCheckpoint: number | null = null;
  if (options.resumeFrom !== undefined) {
    await checkSameModel(options.resumeFrom, options.meta);
    const state = await loadCheckpoint(options.resumeFrom, { model, optimizer, schedule });
    if (state.loaderSeed !== null && state.loaderSeed !== loader.seed) {
      throw new ValueError(
        `fit: the checkpoint in ${options.resumeFrom} was trained with loader seed ${state.loaderSeed}, this loader has ${loader.seed}; build the loader with { seed: ${state.loaderSeed} } to resume exactly`,
      );
    }
    startEpoch = state.epoch;
    lastCheckpoint = state.epoch;
    history.push(...state.history);
  }

  let position: StepPosition = { epoch: 0, step: 0, steps: 0 };
  const runStep = (images: Tensor, labels: Tensor): StepOutputs =>
    scope(() => {
      optimizer.zeroGrad();
      // A model with auxiliary classifiers (GoogLeNet's) adds their weighted losses to the main one.
      const outputs = callWithAuxiliary(model, images);
      const loss = lossWithAuxiliary(outputs, labels, lossFn);
      loss.backward();
      for (const callback of callbacks) callback.onGradients?.(position);
      if (clipGradNorm !== undefined) clipGradients(params, clipGradNorm);
      optimizer.step();
      return { loss, logits: outputs.logits };
    });
  // Replayed from a recording once steps repeat, unless something is to run between backward and the update.
  const replayable = clipGradNorm === undefined && callbacks.every((callback) => !callback.onGradients);
  const replay = replayable ? new StepReplay(model, optimizer, runStep) : null;
  const trainStep = (batch: Batch, at: StepPosition): StepResult =>
    withRecompute(options.recompute, () => {
      position = at;
      const { loss, logits } = replay?.run(batch.images, batch.labels) ?? runStep(batch.images, batch.labels);
      const result = { loss: loss.item(), logits: Float32Array.from(logits.data()) };
      loss.dispose();
      logits.dispose();
      return result;
    });

  const { signal, checkpointDir } = options;
  const kept = () =>
    checkpointDir === undefined
      ? 'no checkpoint was asked for'
      : lastCheckpoint === null
        ? `no checkpoint was written yet in ${checkpointDir}`
        : `the last good checkpoint (epoch ${lastCheckpoint}) is kept in ${checkpointDir}`;
  const stopped = (epoch: number, step: number, steps: number) =>
    new TrainingStopped(
      `fit: stopped by ${String(signal?.reason)} ${step === 0 ? `at the start of epoch ${epoch + 1}` : `in epoch ${epoch + 1} after step ${step} of ${steps}`}; ${kept()}`,
      signal?.reason,
      checkpointDir === undefined ? null : lastCheckpoint,
    );

  for (let epoch = startEpoch; epoch < epochs; epoch++) {
    const started = performance.now();
    const lr = optimizer.lr;
    const metrics = new ClassificationMetrics(numClassesOf(loader));
    const steps = loader.length;
    model.train();
    loader.setEpoch(epoch);
    let step = 0;
    try {
      for await (const batch of loader) {
        if (signal !== undefined) await signalsDelivered();
        if (signal?.aborted) {
          disposeBatch(batch);
          throw stopped(epoch, step, steps);
        }
        step++;
        let result: StepResult;
        const labels = Int32Array.from(batch.labels.data());
        try {
          result = trainStep(batch, { epoch: epoch + 1, step, steps });
        } finally {
          disposeBatch(batch);
        }
        if (!Number.isFinite(result.loss)) {
          throw new ValueError(
            `fit: the loss is ${result.loss} at epoch ${epoch + 1}, step ${step} of ${steps}; training stopped after that step's update (${kept()}). Try a lower learning rate or clipGradNorm.`,
          );
        }
        metrics.update(result.logits, labels, result.loss);
        const info: StepInfo = {
          epoch: epoch + 1,
          epochs,
          step,
          steps,
          loss: metrics.loss,
          top1: metrics.top1,
          images: metrics.samples,
          seconds: (performance.now() - started) / 1000,
        };
        options.onStep?.(info);
        for (const callback of callbacks) callback.onStep?.(info);
      }
    } finally {
      // The recording pins the memory of every block the step used: evaluation starts from a free pool.
      replay?.release();
    }
    const trainSeconds = (performance.now() - started) / 1000;
    // Stopped before the epoch is saved, validation included: its checkpoint would be incomplete.
    if (signal?.aborted) throw stopped(epoch, step, steps);
    let validation: EvaluationResult | null = null;
    try {
      if (options.validation) validation = await evaluate(model, options.validation, { lossFn, signal });
    } catch (error) {
      throw error instanceof TrainingStopped ? stopped(epoch, step, steps) : error;
    }
    schedule?.step();
    const record: EpochRecord = {
      epoch: epoch + 1,
      trainLoss: metrics.loss,
      trainTop1: metrics.top1,
      valLoss: validation?.loss ?? null,
      valTop1: validation?.top1 ?? null,
      valTop5: validation?.top5 ?? null,
      lr,
      seconds: (performance.now() - started) / 1000,
      imagesPerSecond: metrics.samples / trainSeconds,
    };
    history.push(record);
    // A save under way when the signal comes is finished: the next step boundary stops training.
    if (checkpointDir !== undefined) {
      await saveCheckpoint(checkpointDir, {
        model,
        optimizer,
        schedule,
        epoch: epoch + 1,
        history,
        loaderSeed: loader.seed,
        meta: { ...checkpointMeta(model, loader, options.validation), ...options.meta },
      });
      lastCheckpoint = epoch + 1;
    }
    for (const callback of callbacks) await callback.onEpochEnd?.(record, history);
  }
  return history;
}
