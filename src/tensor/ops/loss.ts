import { ShapeError, ValueError, formatShape } from '../../errors.js';
import { Tensor } from '../tensor.js';
import { add, mul, neg, square, sub } from './arithmetic.js';
import { backendOf, wrap } from './common.js';
import { checkLabels } from './labels.js';
import { mean, sum } from './reduce.js';
import { logSoftmax } from './softmax.js';
import { checkOptions } from '../../options.js';

/** How a loss reduces over the batch: the mean, the sum, or one value per sample. */
export type Reduction = 'mean' | 'sum' | 'none';

/** Options of crossEntropy, as PyTorch's F.cross_entropy. */
export interface CrossEntropyOptions {
  /** Mixes the one-hot target with the uniform distribution, ε/C on every class (Szegedy et al. 2016). */
  labelSmoothing?: number;
  reduction?: Reduction;
}

function reduce(loss: Tensor, reduction: Reduction): Tensor {
  if (reduction === 'none') return loss;
  return reduction === 'sum' ? sum(loss) : mean(loss);
}

/** float32 [N, numClasses] rows with a 1 at each int32 label; labels outside [0, numClasses) are an error. */
export function oneHot(labels: Tensor, numClasses: number): Tensor {
  checkLabels('oneHot', labels, numClasses);
  const backend = backendOf('oneHot', [labels], true);
  return wrap(backend.oneHot(labels.storage, labels.size, numClasses), [labels.size, numClasses], backend);
}

/** Negative log-likelihood of int32 labels under log-probabilities [N, C]. */
export function nllLoss(logProbabilities: Tensor, labels: Tensor, reduction: Reduction = 'mean'): Tensor {
  checkBatch('nllLoss', logProbabilities, labels);
  const picked = sum(mul(logProbabilities, oneHot(labels, logProbabilities.shape[1])), 1);
  return reduce(neg(picked), reduction);
}

/** Softmax cross-entropy from logits [N, C] and int32 labels [N], as PyTorch's F.cross_entropy. */
export function crossEntropy(logits: Tensor, labels: Tensor, options: CrossEntropyOptions = {}): Tensor {
  checkOptions('crossEntropy', options, { labelSmoothing: true, reduction: true });
  checkBatch('crossEntropy', logits, labels);
  const smoothing = options.labelSmoothing ?? 0;
  if (!(smoothing >= 0 && smoothing <= 1))
    throw new ValueError(`crossEntropy: labelSmoothing must be in [0, 1], got ${smoothing}`);
  const classes = logits.shape[1];
  const logp = logSoftmax(logits, 1);
  const target =
    smoothing === 0
      ? oneHot(labels, classes)
      : add(mul(oneHot(labels, classes), 1 - smoothing), smoothing / classes);
  return reduce(neg(sum(mul(logp, target), 1)), options.reduction ?? 'mean');
}

/** Mean squared error, as PyTorch's F.mse_loss. */
export function mseLoss(prediction: Tensor, target: Tensor, reduction: Reduction = 'mean'): Tensor {
  if (prediction.shape.join() !== target.shape.join()) {
    throw new ShapeError(
      `mseLoss: prediction ${formatShape(prediction.shape)} and target ${formatShape(target.shape)} differ`,
    );
  }
  return reduce(square(sub(prediction, target)), reduction);
}

/** Scores [N, C] and N valid int32 labels. */
function checkBatch(op: string, scores: Tensor, labels: Tensor): void {
  if (scores.rank !== 2 || labels.rank !== 1 || labels.shape[0] !== scores.shape[0]) {
    throw new ShapeError(
      `${op}: expected scores [N, C] and labels [N], got ${formatShape(scores.shape)} and ${formatShape(labels.shape)}`,
    );
  }
  checkLabels(op, labels, scores.shape[1]);
}
