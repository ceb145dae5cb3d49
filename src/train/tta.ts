/**
 * Test-time augmentation: a batch seen through several views (mirror images, corner and centre crops), the
 * model's softmax outputs averaged over the views. Views are cut from tensors already on the backend, so the
 * loader keeps giving plain [N, C, H, W] batches and one option turns TTA on or off.
 */
import { ShapeError, ValueError, formatShape } from '../errors.js';
import { roundHalfEven } from '../data/transforms/functional.js';
import { checkOptions } from '../options.js';
import {
  add,
  concat,
  exp,
  log,
  logSoftmax,
  max,
  noGrad,
  scope,
  slice,
  sub,
  sum,
  unsqueeze,
  type Tensor,
} from '../tensor/index.js';

/** The test-time augmentations evaluate, predict and the CLI's --tta take. */
export const TTA_MODES = ['none', 'flip', 'five-crop', 'ten-crop'] as const;
/** One of TTA_MODES. */
export type TtaMode = (typeof TTA_MODES)[number];

/** Which views to average over, and the size of the crops. */
export interface TtaOptions {
  /** 'flip': the image and its mirror image; 'five-crop': four corners and the centre; 'ten-crop': both. */
  tta?: TtaMode;
  /** The crops' [height, width] (one number: square), for five-crop and ten-crop; at most the image's size. */
  cropSize?: number | readonly [number, number];
}

/** Views each image is seen through: 1, 2, 5 or 10. */
export function viewCount(mode: TtaMode): number {
  return { none: 1, flip: 2, 'five-crop': 5, 'ten-crop': 10 }[mode];
}

function checkMode(mode: unknown): TtaMode {
  if (!TTA_MODES.includes(mode as TtaMode))
    throw new ValueError(`tta must be one of ${TTA_MODES.join(', ')}, got '${String(mode)}'`);
  return mode as TtaMode;
}

function cropPair(mode: TtaMode, cropSize: TtaOptions['cropSize']): [number, number] {
  if (cropSize === undefined) throw new ValueError(`tta '${mode}' needs a cropSize`);
  const [height, width] = typeof cropSize === 'number' ? [cropSize, cropSize] : cropSize;
  if (![height, width].every((side) => Number.isInteger(side) && side >= 1))
    throw new ValueError(`tta '${mode}': cropSize must be positive integers, got ${String(cropSize)}`);
  return [height, width];
}

/** Throws a ValueError for an unknown mode or a crop mode without a valid cropSize; returns the mode. */
export function checkTtaOptions(options: TtaOptions): TtaMode {
  checkOptions('train.tta', options, { tta: true, cropSize: true });
  const mode = checkMode(options.tta ?? 'none');
  if (mode === 'five-crop' || mode === 'ten-crop') cropPair(mode, options.cropSize);
  return mode;
}

/** images [N, C, H, W] mirrored left to right. */
export function horizontalFlip(images: Tensor): Tensor {
  const [n, c, h, w] = images.shape;
  // Column slices in reverse order: exact for every value, NaN and infinities included.
  return concat(
    Array.from({ length: w }, (_, x) => slice(images, [0, 0, 0, w - 1 - x], [n, c, h, 1])),
    3,
  );
}

/** Top-left, top-right, bottom-left, bottom-right and centre crops (torchvision's five_crop order and centre). */
function fiveCrops(images: Tensor, height: number, width: number, mode: TtaMode): Tensor[] {
  const [n, c, h, w] = images.shape;
  if (height > h || width > w)
    throw new ShapeError(
      `tta '${mode}': crop ${height}×${width} is larger than the image ${h}×${w} (input ${formatShape(images.shape)})`,
    );
  const size = [n, c, height, width];
  const centreTop = roundHalfEven((h - height) / 2);
  const centreLeft = roundHalfEven((w - width) / 2);
  return [
    [0, 0],
    [0, w - width],
    [h - height, 0],
    [h - height, w - width],
    [centreTop, centreLeft],
  ].map(([top, left]) => slice(images, [0, 0, top, left], size));
}

/**
 * The views of images [N, C, H, W] that `mode` averages over, each [N, C, h, w], in torchvision's ten_crop
 * order: the image's views, then its mirror image's.
 */
export function ttaViews(images: Tensor, options: TtaOptions = {}): Tensor[] {
  const mode = checkTtaOptions(options);
  if (images.rank !== 4)
    throw new ShapeError(`tta '${mode}': expected images [N, C, H, W], got ${formatShape(images.shape)}`);
  switch (mode) {
    case 'none':
      return [images];
    case 'flip':
      return [images, horizontalFlip(images)];
    case 'five-crop':
      return fiveCrops(images, ...cropPair(mode, options.cropSize), mode);
    case 'ten-crop': {
      const [height, width] = cropPair(mode, options.cropSize);
      return [
        ...fiveCrops(images, height, width, mode),
        ...fiveCrops(horizontalFlip(images), height, width, mode),
      ];
    }
  }
}

/**
 * log(mean over `axis` of softmax(logits)): the log-probabilities of the averaged prediction, computed as a
 * log-sum-exp so that a class every view rules out stays finite. Its softmax is the averaged probabilities, so it
 * stands in for logits wherever they are taken (crossEntropy gives the negative log of the averaged probability).
 */
export function logMeanSoftmax(logits: Tensor, axis: number, classAxis = -1): Tensor {
  const logProbabilities = logSoftmax(logits, classAxis);
  const largest = max(logProbabilities, axis, true);
  const logSum = log(sum(exp(sub(logProbabilities, largest)), axis, true));
  const views = logits.shape[axis < 0 ? logits.rank + axis : axis];
  return sum(sub(add(largest, logSum), Math.log(views)), axis);
}

/** A module, or anything that maps images [N, C, H, W] to logits [N, classes]. */
export interface Classifier {
  /** Logits [N, classes] of images [N, C, H, W]. */
  call(images: Tensor): Tensor;
}

/**
 * log(mean softmax) of `model` over the TTA views of images [N, C, H, W]: [N, classes]. Each view runs on its
 * own, its activations released before the next, so ten-crop needs the memory of one view, not ten.
 */
export function logProbabilitiesWithTta(model: Classifier, images: Tensor, options: TtaOptions = {}): Tensor {
  return scope(() => {
    const views = ttaViews(images, options);
    const logits = views.map((view) => scope(() => unsqueeze(model.call(view), 0)));
    return logMeanSoftmax(concat(logits, 0), 0);
  });
}

/**
 * The probabilities `model` (one network or an Ensemble) gives images [N, C, H, W], averaged over the TTA
 * views: [N, classes], each row summing to 1. Runs under noGrad; set the model to evaluation mode first.
 */
export function predict(model: Classifier, images: Tensor, options: TtaOptions = {}): Tensor {
  return noGrad(() => scope(() => exp(logProbabilitiesWithTta(model, images, options))));
}
