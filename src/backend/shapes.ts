import { ShapeError, ValueError, formatShape } from '../errors.js';
import type { Conv2dAttrs, Pool2dAttrs, Shape } from './backend.js';
import { checkOptions } from '../options.js';

export function sizeOf(shape: Shape): number {
  let size = 1;
  for (const d of shape) size *= d;
  return size;
}

/** The most elements a tensor may hold: V8's longest typed array on 64-bit hosts (Node 20, Chrome). */
export const MAX_TENSOR_ELEMENTS = 2 ** 32;

/**
 * The element count of a shape given to `op`, or a ShapeError naming both when a dimension is not a non-negative
 * integer (NaN, 2.5, −1, Infinity) or the shape holds more than a typed array can.
 */
export function checkShape(shape: Shape, op: string): number {
  const bad = shape.find((d) => !Number.isSafeInteger(d) || d < 0);
  if (bad !== undefined) {
    throw new ShapeError(
      `${op}: shape ${formatShape(shape)}: dimension ${bad} is not a non-negative integer`,
    );
  }
  const size = sizeOf(shape);
  if (size > MAX_TENSOR_ELEMENTS) {
    throw new ShapeError(
      `${op}: shape ${formatShape(shape)} holds ${size} elements, more than a typed array can (${MAX_TENSOR_ELEMENTS})`,
    );
  }
  return size;
}

/** Row-major strides, in elements. */
export function stridesOf(shape: Shape): number[] {
  const strides = new Array<number>(shape.length);
  let stride = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    strides[i] = stride;
    stride *= shape[i];
  }
  return strides;
}

export function sameShape(a: Shape, b: Shape): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** NumPy broadcasting of two shapes; `what` names the operation in the error. */
export function broadcastShapes(a: Shape, b: Shape, what: string): number[] {
  const rank = Math.max(a.length, b.length);
  const out = new Array<number>(rank);
  for (let i = 0; i < rank; i++) {
    const da = a[a.length - rank + i] ?? 1;
    const db = b[b.length - rank + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) {
      throw new ShapeError(`${what}: shapes ${formatShape(a)} and ${formatShape(b)} do not broadcast`);
    }
    out[i] = da === 1 ? db : da;
  }
  return out;
}

export interface OutputSizeOptions {
  dilation?: number;
  ceilMode?: boolean;
  /** Throw when the window does not fit evenly instead of flooring as PyTorch does. */
  strict?: boolean;
  /** Padding after, when it differs from padding before. */
  paddingAfter?: number;
}

/**
 * Spatial output size of a convolution or pooling window: (n + 2p − f)/s + 1, with the effective
 * kernel f = d·(k − 1) + 1. Throws a ShapeError when the window does not fit in the padded input.
 */
export function outputSize(
  input: number,
  kernel: number,
  stride = 1,
  padding = 0,
  options: OutputSizeOptions = {},
): number {
  checkOptions('outputSize', options, { dilation: true, ceilMode: true, strict: true, paddingAfter: true });
  const dilation = options.dilation ?? 1;
  const paddingAfter = options.paddingAfter ?? padding;
  const effectiveKernel = dilation * (kernel - 1) + 1;
  const span = input + padding + paddingAfter - effectiveKernel;
  const rule =
    `(n + 2p − f)/s + 1 with n=${input}, p=${padding === paddingAfter ? padding : `${padding}+${paddingAfter} (before+after)`}, ` +
    `f=${effectiveKernel}${dilation > 1 ? ` (kernel ${kernel}, dilation ${dilation})` : ''}, s=${stride}`;
  if (span < 0) {
    throw new ShapeError(`kernel larger than the padded input: ${rule} gives an output below 1`);
  }
  if (options.strict && span % stride !== 0) {
    throw new ShapeError(`window does not fit evenly: ${rule} = ${span / stride + 1}, not an integer`);
  }
  let out = (options.ceilMode ? Math.ceil(span / stride) : Math.floor(span / stride)) + 1;
  // PyTorch's ceil mode: the last window must start inside the input or its left padding.
  if (options.ceilMode && (out - 1) * stride >= input + padding) out--;
  return out;
}

/**
 * [N, C_out, outH, outW] of a convolution; throws a ShapeError naming both shapes and the attribute when they cannot
 * work: no input or output channels, a zero-size kernel, groups that do not divide the channels, an output below 1.
 */
export function conv2dOutputShape(xShape: Shape, wShape: Shape, attrs: Conv2dAttrs): number[] {
  const what = `conv2d: input ${formatShape(xShape)}, weight ${formatShape(wShape)}`;
  if (xShape.length !== 4 || wShape.length !== 4) {
    throw new ShapeError(`${what}: input must be [N, C, H, W] and weight [C_out, C_in/groups, kH, kW]`);
  }
  const [, channels] = xShape;
  const [outChannels, groupChannels, kh, kw] = wShape;
  const { groups } = attrs;
  if (channels === 0)
    throw new ShapeError(`${what}: the input has 0 channels; a convolution needs at least 1`);
  if (outChannels === 0)
    throw new ShapeError(`${what}: the weight has 0 output channels; at least 1 is needed`);
  if (kh === 0 || kw === 0) throw new ShapeError(`${what}: kernel size [${kh}, ${kw}] must be at least 1`);
  checkConvAttrs(attrs);
  if (channels !== groupChannels * groups) {
    throw new ShapeError(
      `${what}: input has ${channels} channels but the weight expects ${groupChannels} × ${groups} groups = ` +
        `${groupChannels * groups}`,
    );
  }
  if (outChannels % groups !== 0) {
    throw new ShapeError(`${what}: ${outChannels} output channels do not divide into ${groups} groups`);
  }
  try {
    return [xShape[0], outChannels, ...convSpatialOutput(xShape, [kh, kw], attrs)];
  } catch (error) {
    if (error instanceof ShapeError) throw new ShapeError(`${what}: ${error.message}`);
    throw error;
  }
}

/** Stride, dilation and groups must be positive integers (ShapeError), padding non-negative integers (ValueError). */
export function checkConvAttrs(attrs: Conv2dAttrs): void {
  const { stride, dilation, padding, groups } = attrs;
  const positive = (v: number) => Number.isInteger(v) && v >= 1;
  const bad = [
    ['stride', stride],
    ['dilation', dilation],
    ['groups', [groups]],
  ].find(([, values]) => !(values as readonly number[]).every(positive));
  if (bad !== undefined) {
    throw new ShapeError(
      `conv2d: ${bad[0]} [${(bad[1] as readonly number[]).join(', ')}] must be positive integers`,
    );
  }
  if (!padding.every((p) => Number.isInteger(p) && p >= 0)) {
    throw new ValueError(`conv2d: padding [${padding.join(', ')}] must be non-negative integers`);
  }
}

export function convSpatialOutput(
  xShape: Shape,
  kernel: readonly [number, number],
  attrs: Conv2dAttrs,
): [number, number] {
  const [top, bottom, left, right] = attrs.padding;
  return [
    outputSize(xShape[2], kernel[0], attrs.stride[0], top, {
      dilation: attrs.dilation[0],
      paddingAfter: bottom,
    }),
    outputSize(xShape[3], kernel[1], attrs.stride[1], left, {
      dilation: attrs.dilation[1],
      paddingAfter: right,
    }),
  ];
}

/**
 * [N, C, outH, outW] of a pooling window sliding over an NCHW input; `op` names the pooling in errors. A kernel or
 * stride below 1, an input without channels or an output below 1 is a ShapeError naming it.
 */
export function pool2dOutputShape(xShape: Shape, attrs: Pool2dAttrs, op = 'pool2d'): number[] {
  const what = `${op}: input ${formatShape(xShape)}, kernel [${attrs.kernel.join(', ')}]`;
  if (xShape.length !== 4) throw new ShapeError(`${what}: input must be [N, C, H, W]`);
  const positive = (v: number) => Number.isInteger(v) && v >= 1;
  if (!attrs.kernel.every(positive)) throw new ShapeError(`${what}: kernel size must be positive integers`);
  if (!attrs.stride.every(positive)) {
    throw new ShapeError(`${what}: stride [${attrs.stride.join(', ')}] must be positive integers`);
  }
  if (xShape[1] === 0) throw new ShapeError(`${what}: the input has 0 channels; pooling needs at least 1`);
  if (!attrs.padding.every((p) => Number.isInteger(p) && p >= 0)) {
    throw new ValueError(`${what}: padding [${attrs.padding.join(', ')}] must be non-negative integers`);
  }
  const [top, bottom, left, right] = attrs.padding;
  // PyTorch's rule: a window must never lie wholly in the padding.
  if (top > attrs.kernel[0] / 2 || left > attrs.kernel[1] / 2) {
    throw new ValueError(`${what}: padding [${top}, ${left}] exceeds half the kernel`);
  }
  const { ceilMode } = attrs;
  try {
    return [
      xShape[0],
      xShape[1],
      outputSize(xShape[2], attrs.kernel[0], attrs.stride[0], top, { ceilMode, paddingAfter: bottom }),
      outputSize(xShape[3], attrs.kernel[1], attrs.stride[1], left, { ceilMode, paddingAfter: right }),
    ];
  } catch (error) {
    if (error instanceof ShapeError) throw new ShapeError(`${what}: ${error.message}`);
    throw error;
  }
}

/** A convolution's backward kernels: the output gradient must have the forward output's shape. */
export function checkConvOutputGradient(
  op: string,
  xShape: Shape,
  wShape: Shape,
  dyShape: Shape,
  attrs: Conv2dAttrs,
): void {
  const yShape = conv2dOutputShape(xShape, wShape, attrs);
  if (!sameShape(yShape, dyShape)) {
    throw new ShapeError(
      `${op}: output gradient ${formatShape(dyShape)} does not match the output ${formatShape(yShape)} ` +
        `of input ${formatShape(xShape)} and weight ${formatShape(wShape)}`,
    );
  }
}

/** pool2dBackward: the output gradient must have the forward output's shape, yShape. */
export function checkPoolOutputGradient(dyShape: Shape, yShape: Shape, xShape: Shape): void {
  if (!sameShape(dyShape, yShape)) {
    throw new ShapeError(
      `pool2dBackward: output gradient ${formatShape(dyShape)} does not match the output ` +
        `${formatShape(yShape)} of input ${formatShape(xShape)}`,
    );
  }
}
