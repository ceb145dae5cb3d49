import { ShapeError, formatShape } from '../errors.js';
import type { Conv2dAttrs, Pool2dAttrs, Shape } from './backend.js';

export function sizeOf(shape: Shape): number {
  let size = 1;
  for (const d of shape) size *= d;
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

/** [N, outChannels, outH, outW] of a convolution; validates ranks, channels and groups. */
export function conv2dShape(xShape: Shape, wShape: Shape, attrs: Conv2dAttrs): number[] {
  if (xShape.length !== 4) throw new ShapeError(`conv2d expects a 4-D input [N, C, H, W], got ${formatShape(xShape)}`);
  if (wShape.length !== 4) throw new ShapeError(`conv2d expects a 4-D weight [out, in/groups, kH, kW], got ${formatShape(wShape)}`);
  const [n, c, h, w] = xShape;
  const [outChannels, inPerGroup, kh, kw] = wShape;
  const { groups, stride, padding, dilation } = attrs;
  if (c !== inPerGroup * groups) {
    throw new ShapeError(
      `conv2d: input ${formatShape(xShape)} has ${c} channels but weight ${formatShape(wShape)} with groups=${groups} expects ${inPerGroup * groups}`,
    );
  }
  if (outChannels % groups !== 0) {
    throw new ShapeError(`conv2d: ${outChannels} output channels do not divide into groups=${groups}`);
  }
  try {
    const outH = outputSize(h, kh, stride[0], padding[0], { dilation: dilation[0], paddingAfter: padding[1] });
    const outW = outputSize(w, kw, stride[1], padding[2], { dilation: dilation[1], paddingAfter: padding[3] });
    return [n, outChannels, outH, outW];
  } catch (e) {
    if (e instanceof ShapeError) e.message = `conv2d: input ${formatShape(xShape)}, weight ${formatShape(wShape)}: ${e.message}`;
    throw e;
  }
}

/** [N, C, outH, outW] of a pooling window. */
export function pool2dShape(xShape: Shape, attrs: Pool2dAttrs, what = 'pool2d'): number[] {
  if (xShape.length !== 4) throw new ShapeError(`${what} expects a 4-D input [N, C, H, W], got ${formatShape(xShape)}`);
  const [n, c, h, w] = xShape;
  const { kernel, stride, padding, ceilMode } = attrs;
  if (padding[0] > kernel[0] / 2 || padding[2] > kernel[1] / 2) {
    throw new ShapeError(`${what}: padding ${padding[0]}×${padding[2]} exceeds half the ${kernel[0]}×${kernel[1]} kernel`);
  }
  try {
    const outH = outputSize(h, kernel[0], stride[0], padding[0], { paddingAfter: padding[1], ceilMode });
    const outW = outputSize(w, kernel[1], stride[1], padding[2], { paddingAfter: padding[3], ceilMode });
    return [n, c, outH, outW];
  } catch (e) {
    if (e instanceof ShapeError) e.message = `${what}: input ${formatShape(xShape)}: ${e.message}`;
    throw e;
  }
}
