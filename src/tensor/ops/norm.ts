import type { LrnAttrs } from '../../backend/backend.js';
import { ShapeError, ValueError, formatShape } from '../../errors.js';
import { isReadByBackward, noGrad, record, recordRecompute, withValuesOf } from '../autograd.js';
import { Tensor } from '../tensor.js';
import { add, axpby, div, mul, sqrt, sub } from './arithmetic.js';
import { relu } from './activation.js';
import { backendOf, wrap } from './common.js';
import { sum } from './reduce.js';
import { reshape } from './shape.js';
import { checkOptions } from '../../options.js';

/** Options of localResponseNorm, as PyTorch's. */
export interface LocalResponseNormOptions {
  alpha?: number;
  beta?: number;
  k?: number;
}

/**
 * PyTorch's LocalResponseNorm over `size` neighbouring channels (AlexNet used size 5, alpha 1e-4, beta 0.75,
 * k 2): b = a / (k + alpha/size · Σ a²)^beta.
 */
export function localResponseNorm(x: Tensor, size: number, options: LocalResponseNormOptions = {}): Tensor {
  checkOptions('localResponseNorm', options, { alpha: true, beta: true, k: true });
  if (x.rank < 3)
    throw new ShapeError(`localResponseNorm expects [N, C, ...] input, got ${formatShape(x.shape)}`);
  if (!Number.isInteger(size) || size < 1)
    throw new ValueError(`localResponseNorm: size must be a positive integer, got ${size}`);
  const attrs: LrnAttrs = {
    size,
    alpha: options.alpha ?? 1e-4,
    beta: options.beta ?? 0.75,
    k: options.k ?? 1,
  };
  const backend = backendOf('localResponseNorm', [x]);
  const y = wrap(backend.lrn(x.storage, x.shape, attrs), x.shape, backend);
  return record('localResponseNorm', y, [x], (dy) => [
    wrap(backend.lrnBackward(x.storage, dy.storage, x.shape, attrs), x.shape, backend),
  ]);
}

/** Options of batchNorm. */
export interface BatchNormOptions {
  training: boolean;
  /** Weight of the new batch statistic in the running averages (PyTorch's 0.1). */
  momentum?: number;
  eps?: number;
  /** A ReLU on the output, in the same kernels where the backend fuses them in training (default false). */
  relu?: boolean;
}

/**
 * Batch normalisation over N (and H, W) per channel of [N, C] or [N, C, H, W] input. In training it uses batch
 * statistics and updates the running averages in place (variance unbiased, as PyTorch); in evaluation it uses them.
 */
export function batchNorm(
  x: Tensor,
  gamma: Tensor,
  beta: Tensor,
  runningMean: Tensor | null,
  runningVar: Tensor | null,
  options: BatchNormOptions,
): Tensor {
  checkOptions('batchNorm', options, { training: true, momentum: true, eps: true, relu: true });
  const eps = options.eps ?? 1e-5;
  if (x.rank !== 2 && x.rank !== 4)
    throw new ShapeError(`batchNorm expects [N, C] or [N, C, H, W] input, got ${formatShape(x.shape)}`);
  const channels = x.shape[1];
  for (const [name, t] of [
    ['weight', gamma],
    ['bias', beta],
    ['running_mean', runningMean],
    ['running_var', runningVar],
  ] as const) {
    if (t !== null && (t.rank !== 1 || t.size !== channels)) {
      throw new ShapeError(
        `batchNorm: input ${formatShape(x.shape)} has ${channels} channels but ${name} is ${formatShape(t.shape)}`,
      );
    }
  }
  const backend = backendOf('batchNorm', [x, gamma, beta]);
  if (!options.training) {
    if (runningMean === null || runningVar === null)
      throw new ValueError('batchNorm: evaluation needs running statistics');
    const y = batchNormInference(x, gamma, beta, runningMean, runningVar, eps);
    return options.relu === true ? reluOfIntermediate(y) : y;
  }
  const perChannel = x.size / channels;
  if (perChannel < 2)
    throw new ValueError(
      `batchNorm: training needs more than one value per channel, got input ${formatShape(x.shape)}`,
    );
  const relu = options.relu === true;
  const result = backend.batchNormTraining(x.storage, x.shape, gamma.storage, beta.storage, eps, relu);
  const mean = wrap(result.mean, [channels], backend);
  const variance = wrap(result.variance, [channels], backend);
  const mask =
    result.reluMask === null ? null : new Tensor(result.reluMask, [result.reluMask.size], 'int32', backend);
  if (runningMean !== null && runningVar !== null) {
    const momentum = options.momentum ?? 0.1;
    // One kernel each, rounding as the two products and their sum apart would; assign takes the result over.
    noGrad(() => {
      runningMean.assign(axpby(1 - momentum, runningMean, momentum, mean));
      runningVar.assign(
        axpby(1 - momentum, runningVar, (momentum * perChannel) / (perChannel - 1), variance),
      );
    });
  }
  const out = wrap(result.y, x.shape, backend);
  // A fused ReLU's gradient reads the mask the backend kept, else the output itself.
  const readsOutput = relu && mask === null;
  const y = record(
    relu ? 'batchNormRelu' : 'batchNorm',
    out,
    [x, gamma, beta],
    (dy) => {
      const grads = backend.batchNormBackward(
        x.storage,
        dy.storage,
        x.shape,
        gamma.storage,
        mean.storage,
        variance.storage,
        eps,
        !relu ? null : mask === null ? { y: out.storage } : { mask: mask.storage },
      );
      return [
        wrap(grads.dx, x.shape, backend),
        wrap(grads.dgamma, [channels], backend),
        wrap(grads.dbeta, [channels], backend),
      ];
    },
    mask === null ? [mean, variance] : [mean, variance, mask],
    readsOutput ? [x, gamma, out] : [x, gamma],
  );
  if (y.node === null) [mean, variance, mask].forEach((t) => t?.dispose());
  // The same normalisation again from the input, which the rule keeps anyway: the training kernel once more, whose
  // statistics come out the same, as its output does bit for bit (evaluation's kernel with the stored statistics
  // need not round alike).
  else
    recordRecompute(y, () =>
      withValuesOf(x, (input) => {
        const again = backend.batchNormTraining(
          input.storage,
          x.shape,
          gamma.storage,
          beta.storage,
          eps,
          relu,
        );
        for (const kept of [again.mean, again.variance, again.reluMask])
          if (kept !== null) backend.release(kept);
        return wrap(again.y, x.shape, backend);
      }),
    );
  return y;
}

/** A ReLU of y, an intermediate the caller made, which goes once read unless a recorded rule reads it. */
function reluOfIntermediate(y: Tensor): Tensor {
  const activated = relu(y);
  if (!isReadByBackward(y)) y.releaseValues();
  return activated;
}

/** Evaluation mode: a fixed per-channel affine map, whose gradient is written with ops. */
function batchNormInference(
  x: Tensor,
  gamma: Tensor,
  beta: Tensor,
  mean: Tensor,
  variance: Tensor,
  eps: number,
): Tensor {
  const backend = backendOf('batchNorm', [x, gamma, beta, mean, variance]);
  const y = wrap(
    backend.batchNormInference(
      x.storage,
      x.shape,
      gamma.storage,
      beta.storage,
      mean.storage,
      variance.storage,
      eps,
    ),
    x.shape,
    backend,
  );
  const channelShape = x.shape.map((d, i) => (i === 1 ? d : 1));
  const axes = x.shape.map((_, i) => i).filter((i) => i !== 1);
  return record(
    'batchNorm',
    y,
    [x, gamma, beta],
    (dy) => {
      const invStd = reshape(div(1, sqrt(add(variance, eps))), channelShape);
      // A frozen BatchNorm's weight and bias need no gradient: no pass over the activation for them.
      return [
        x.requiresGrad ? mul(dy, mul(reshape(gamma, channelShape), invStd)) : null,
        gamma.requiresGrad ? sum(mul(dy, mul(sub(x, reshape(mean, channelShape)), invStd)), axes) : null,
        beta.requiresGrad ? sum(dy, axes) : null,
      ];
    },
    [mean, variance],
  );
}
