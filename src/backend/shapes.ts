import { ShapeError, ValueError, formatShape } from '../errors.js';
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

/** [N, C_out, outH, outW] of a convolution; throws a ShapeError naming both shapes when they do not fit. */
export function conv2dOutputShape(xShape: Shape, wShape: Shape, attrs: Conv2dAttrs): number[] {
  const what = `conv2d: input ${formatShape(xShape)}, weight ${formatShape(wShape)}`;
  if (xShape.length !== 4 || wShape.length !== 4) {
    throw new ShapeError(`${what}: input must be [N, C, H, W] and weight [C_out, C_in/groups, kH, kW]`);
  }
  checkConvAttrs(attrs);
  const [, channels] = xShape;
  const [outChannels, groupChannels, kh, kw] = wShape;
  const { groups } = attrs;
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

export function checkConvAttrs(attrs: Conv2dAttrs): void {
  const { stride, dilation, padding, groups } = attrs;
  const positive = (v: number) => Number.isInteger(v) && v >= 1;
  if (!stride.every(positive) || !dilation.every(positive) || !positive(groups)) {
    throw new ValueError(
      `conv2d: stride [${stride.join(', ')}], dilation [${dilation.join(', ')}] and groups ${groups} ` +
        'must be positive integers',
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

/** [N, C, outH, outW] of a pooling window sliding over an NCHW input. */
export function pool2dOutputShape(xShape: Shape, attrs: Pool2dAttrs): number[] {
  const what = `pool2d: input ${formatShape(xShape)}, kernel [${attrs.kernel.join(', ')}]`;
  if (xShape.length !== 4) throw new ShapeError(`${what}: input must be [N, C, H, W]`);
  const positive = (v: number) => Number.isInteger(v) && v >= 1;
  if (!attrs.kernel.every(positive) || !attrs.stride.every(positive)) {
    throw new ValueError(`${what}: kernel and stride [${attrs.stride.join(', ')}] must be positive integers`);
  }
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
