import type { Conv2dAttrs } from '../../backend/backend.js';
import { conv2dOutputShape, sameShape } from '../../backend/shapes.js';
import { ShapeError, ValueError, formatShape } from '../../errors.js';
import { isGradEnabled, record } from '../autograd.js';
import { Tensor } from '../tensor.js';
import { activationGradient } from './activation.js';
import { backendOf, pair, wrap } from './common.js';
import { sum } from './reduce.js';
import { checkOptions } from '../../options.js';

/** One number for both spatial axes, or [height, width]. */
export type Pair = number | readonly [number, number];
/** Padding of a convolution: a number, [padH, padW], 'valid' (none) or 'same' (the input's size; stride 1 only). */
export type Padding = Pair | 'valid' | 'same';

/** Options of conv2d, as PyTorch's F.conv2d. */
export interface Conv2dOptions {
  stride?: Pair;
  /** A number, [padH, padW], 'valid' (none) or 'same' (output size = input size; stride 1 only, as PyTorch). */
  padding?: Padding;
  dilation?: Pair;
  groups?: number;
}

/** Resolves user-facing options to the kernel's attributes for a given kernel size. */
export function conv2dAttrs(kernel: readonly [number, number], options: Conv2dOptions = {}): Conv2dAttrs {
  checkOptions('conv2d', options, { stride: true, padding: true, dilation: true, groups: true });
  const stride = pair(options.stride ?? 1);
  const dilation = pair(options.dilation ?? 1);
  const groups = options.groups ?? 1;
  const padding = options.padding ?? 0;
  if (!Number.isInteger(groups) || groups < 1)
    throw new ShapeError(`conv2d: groups must be a positive integer, got ${groups}`);
  if ([...stride, ...dilation].some((v) => !Number.isInteger(v) || v < 1)) {
    throw new ShapeError(
      `conv2d: stride [${stride.join(', ')}] and dilation [${dilation.join(', ')}] must be positive integers`,
    );
  }
  let pads: [number, number, number, number];
  if (padding === 'valid') pads = [0, 0, 0, 0];
  else if (padding === 'same') {
    if (stride[0] !== 1 || stride[1] !== 1) throw new ValueError("conv2d: padding 'same' needs stride 1");
    // PyTorch puts the odd element of the total padding after (bottom/right).
    const total = [dilation[0] * (kernel[0] - 1), dilation[1] * (kernel[1] - 1)];
    const before = total.map((t) => Math.floor(t / 2));
    pads = [before[0], total[0] - before[0], before[1], total[1] - before[1]];
  } else {
    const [ph, pw] = pair(padding);
    if ([ph, pw].some((p) => !Number.isInteger(p) || p < 0))
      throw new ValueError(`conv2d: bad padding ${padding}`);
    pads = [ph, ph, pw, pw];
  }
  return { stride, padding: pads, dilation, groups };
}

/** 2-D cross-correlation over NCHW input with weight [out, in/groups, kH, kW], as PyTorch's conv2d. */
export function conv2d(
  x: Tensor,
  weight: Tensor,
  bias: Tensor | null = null,
  options: Conv2dOptions = {},
): Tensor {
  return conv2dFused(x, weight, bias, options, {});
}

/** What conv2dFused does after the convolution: add a tensor of the output's shape, then apply ReLU. */
export interface ConvFusion {
  add?: Tensor | null;
  relu?: boolean;
  /**
   * Dispose `add` in the call, letting the backend accumulate the output in its memory instead of copying it
   * (inference graphs do this with a residual nothing reads afterwards). Not while `add` needs a gradient.
   */
  consumeAdd?: boolean;
}

/**
 * relu(conv2d(x, weight, bias) + add) in one kernel, as inference graphs fuse a residual sum and an activation
 * into the convolution before them (one pass over the output instead of three). Differentiable.
 */
export function conv2dFused(
  x: Tensor,
  weight: Tensor,
  bias: Tensor | null,
  options: Conv2dOptions,
  fusion: ConvFusion,
): Tensor {
  if (weight.rank !== 4)
    throw new ShapeError(`conv2d expects a 4-D weight, got ${formatShape(weight.shape)}`);
  const attrs = conv2dAttrs([weight.shape[2], weight.shape[3]], options);
  const shape = conv2dOutputShape(x.shape, weight.shape, attrs);
  if (bias !== null && (bias.rank !== 1 || bias.size !== weight.shape[0])) {
    throw new ShapeError(
      `conv2d: bias ${formatShape(bias.shape)} does not match ${weight.shape[0]} output channels`,
    );
  }
  const add = fusion.add ?? null;
  if (add !== null && !sameShape(add.shape, shape)) {
    throw new ShapeError(
      `conv2d: the tensor to add is ${formatShape(add.shape)}, the output ${formatShape(shape)}`,
    );
  }
  const relu = fusion.relu ?? false;
  const consumeAdd = add !== null && (fusion.consumeAdd ?? false);
  if (consumeAdd && isGradEnabled() && add.requiresGrad) {
    throw new ValueError('conv2dFused: cannot consume a tensor to add that needs a gradient');
  }
  const inputs = [x, weight, ...(bias === null ? [] : [bias]), ...(add === null ? [] : [add])];
  const backend = backendOf('conv2d', inputs);
  const y = wrap(
    backend.conv2d(x.storage, x.shape, weight.storage, weight.shape, bias?.storage ?? null, attrs, {
      add: add?.storage ?? null,
      relu,
      addInPlace: consumeAdd,
      trainedWeights: isGradEnabled() && weight.requiresGrad,
    }),
    shape,
    backend,
  );
  if (consumeAdd) add.dispose();
  return record(
    relu || add !== null ? 'conv2dFused' : 'conv2d',
    y,
    inputs,
    (dy) => {
      // ReLU's gradient passes where its output is positive, which is where its input was.
      const dz = relu ? activationGradient('relu', y, y, dy) : dy;
      return [
        x.requiresGrad ? conv2dBackwardData(dz, weight, x.shape, attrs) : null,
        weight.requiresGrad ? conv2dBackwardFilter(x, dz, weight.shape, attrs) : null,
        ...(bias === null ? [] : [bias.requiresGrad ? sum(dz, [0, 2, 3]) : null]),
        ...(add === null ? [] : [add.requiresGrad ? dz : null]),
      ];
    },
    [],
    relu ? [x, weight, y] : [x, weight],
  );
}

/** dL/dx of a convolution (a transposed convolution of dy); not itself differentiable. */
export function conv2dBackwardData(
  dy: Tensor,
  weight: Tensor,
  xShape: readonly number[],
  attrs: Conv2dAttrs,
): Tensor {
  const backend = backendOf('conv2d backward-data', [dy, weight]);
  return wrap(
    backend.conv2dBackwardData(
      dy.storage,
      dy.shape,
      weight.storage,
      weight.shape,
      xShape,
      attrs,
      weight.requiresGrad,
    ),
    xShape,
    backend,
  );
}

/** dL/dW of a convolution; not itself differentiable. */
export function conv2dBackwardFilter(
  x: Tensor,
  dy: Tensor,
  wShape: readonly number[],
  attrs: Conv2dAttrs,
): Tensor {
  const backend = backendOf('conv2d backward-filter', [x, dy]);
  return wrap(
    backend.conv2dBackwardFilter(x.storage, x.shape, dy.storage, dy.shape, wShape, attrs),
    wShape,
    backend,
  );
}

/**
 * The im2col matrix the reference backend multiplies by the weight rows: shape
 * [groups, (C/groups)·kH·kW, N·outH·outW]; convolution is then W_row · X_col per group.
 */
export function im2col(x: Tensor, kernel: Pair, options: Conv2dOptions = {}): Tensor {
  const [kh, kw] = pair(kernel);
  const attrs = conv2dAttrs([kh, kw], options);
  const channels = x.shape[1];
  const [n, , outH, outW] = conv2dOutputShape(
    x.shape,
    [attrs.groups, channels / attrs.groups, kh, kw],
    attrs,
  );
  const backend = backendOf('im2col', [x]);
  const shape = [attrs.groups, (channels / attrs.groups) * kh * kw, n * outH * outW];
  return wrap(backend.im2col(x.storage, x.shape, [kh, kw], attrs), shape, backend);
}
