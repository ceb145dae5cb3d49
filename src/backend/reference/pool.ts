import type { Pool2dAttrs, PoolKind, Shape } from '../backend.js';
import { ShapeError, ValueError, formatShape } from '../../errors.js';
import { checkPoolOutputGradient, pool2dOutputShape, sizeOf } from '../shapes.js';

/** Where each output row (or column) reads: the window clipped to the input, and its size clipped to the padding. */
interface Windows {
  start: Int32Array;
  end: Int32Array;
  /** Window size after clipping to the padded input only: PyTorch's divisor when padding counts. */
  padded: Int32Array;
}

function windows(
  outSize: number,
  inSize: number,
  kernel: number,
  stride: number,
  before: number,
  after: number,
): Windows {
  const start = new Int32Array(outSize);
  const end = new Int32Array(outSize);
  const padded = new Int32Array(outSize);
  for (let o = 0; o < outSize; o++) {
    const first = o * stride - before;
    // A ceil-mode window may run past the padded input; PyTorch clips it there first.
    const last = Math.min(first + kernel, inSize + after);
    padded[o] = last - first;
    start[o] = Math.max(first, 0);
    end[o] = Math.min(last, inSize);
  }
  return { start, end, padded };
}

function geometry(xShape: Shape, attrs: Pool2dAttrs): { yShape: number[]; rows: Windows; cols: Windows } {
  const yShape = pool2dOutputShape(xShape, attrs);
  const [top, bottom, left, right] = attrs.padding;
  return {
    yShape,
    rows: windows(yShape[2], xShape[2], attrs.kernel[0], attrs.stride[0], top, bottom),
    cols: windows(yShape[3], xShape[3], attrs.kernel[1], attrs.stride[1], left, right),
  };
}

/** Average pooling's divisor for one window, exactly as PyTorch's avg_pool2d computes it. */
function divisor(rows: Windows, cols: Windows, oh: number, ow: number, countIncludePad: boolean): number {
  if (countIncludePad) return rows.padded[oh] * cols.padded[ow];
  return (rows.end[oh] - rows.start[oh]) * (cols.end[ow] - cols.start[ow]);
}

/**
 * Max or average pooling. Max pooling also returns, per output, the flat index ih·W + iw of the chosen input
 * within its (n, c) plane (padding never wins; NaN does, as in PyTorch); −1 and −∞ where a window holds only
 * padding. A window clipped to nothing averages to 0.
 */
export function pool2d(
  kind: PoolKind,
  x: Float32Array,
  xShape: Shape,
  attrs: Pool2dAttrs,
): { y: Float32Array; argmax: Int32Array | null } {
  const { yShape, rows, cols } = geometry(xShape, attrs);
  const [batch, channels, height, width] = xShape;
  const [, , outH, outW] = yShape;
  const y = new Float32Array(sizeOf(yShape));
  const argmax = kind === 'max' ? new Int32Array(y.length) : null;
  for (let plane = 0; plane < batch * channels; plane++) {
    const xPlane = plane * height * width;
    for (let oh = 0; oh < outH; oh++) {
      for (let ow = 0; ow < outW; ow++) {
        const o = (plane * outH + oh) * outW + ow;
        if (argmax !== null) {
          // Start from the window's first real element, as PyTorch does, so an all −∞ window still has an argmax.
          const empty = rows.start[oh] >= rows.end[oh] || cols.start[ow] >= cols.end[ow];
          let bestIndex = empty ? -1 : rows.start[oh] * width + cols.start[ow];
          let best = empty ? -Infinity : x[xPlane + bestIndex];
          for (let ih = rows.start[oh]; ih < rows.end[oh]; ih++) {
            for (let iw = cols.start[ow]; iw < cols.end[ow]; iw++) {
              const v = x[xPlane + ih * width + iw];
              if (v > best || Number.isNaN(v)) {
                best = v;
                bestIndex = ih * width + iw;
              }
            }
          }
          y[o] = best;
          argmax[o] = bestIndex;
        } else {
          let sum = 0;
          for (let ih = rows.start[oh]; ih < rows.end[oh]; ih++) {
            for (let iw = cols.start[ow]; iw < cols.end[ow]; iw++) sum += x[xPlane + ih * width + iw];
          }
          const count = divisor(rows, cols, oh, ow, attrs.countIncludePad);
          y[o] = rows.start[oh] < rows.end[oh] && cols.start[ow] < cols.end[ow] ? sum / count : 0;
        }
      }
    }
  }
  return { y, argmax };
}

/** dL/dx of pool2d: max pooling routes each gradient to its argmax; averaging spreads it over the window. */
export function pool2dBackward(
  kind: PoolKind,
  dy: Float32Array,
  dyShape: Shape,
  xShape: Shape,
  attrs: Pool2dAttrs,
  argmax: Int32Array | null,
): Float32Array {
  const { yShape, rows, cols } = geometry(xShape, attrs);
  checkPoolOutputGradient(dyShape, yShape, xShape);
  const [batch, channels, height, width] = xShape;
  const [, , outH, outW] = yShape;
  const dx = new Float32Array(sizeOf(xShape));
  if (kind === 'max') {
    if (argmax === null || argmax.length !== dy.length) {
      throw new ValueError(`pool2dBackward: max pooling needs the forward's argmax, one index per output`);
    }
    const plane = outH * outW;
    for (let o = 0; o < dy.length; o++) {
      if (argmax[o] >= 0) dx[Math.floor(o / plane) * height * width + argmax[o]] += dy[o];
    }
    return dx;
  }
  for (let plane = 0; plane < batch * channels; plane++) {
    const xPlane = plane * height * width;
    for (let oh = 0; oh < outH; oh++) {
      for (let ow = 0; ow < outW; ow++) {
        const share =
          dy[(plane * outH + oh) * outW + ow] / divisor(rows, cols, oh, ow, attrs.countIncludePad);
        for (let ih = rows.start[oh]; ih < rows.end[oh]; ih++) {
          for (let iw = cols.start[ow]; iw < cols.end[ow]; iw++) dx[xPlane + ih * width + iw] += share;
        }
      }
    }
  }
  return dx;
}

/** PyTorch's adaptive bins: output i averages inputs floor(i·in/out) up to ceil((i + 1)·in/out). */
function bins(inSize: number, outSize: number): { start: Int32Array; end: Int32Array } {
  const start = new Int32Array(outSize);
  const end = new Int32Array(outSize);
  for (let i = 0; i < outSize; i++) {
    start[i] = Math.floor((i * inSize) / outSize);
    end[i] = Math.ceil(((i + 1) * inSize) / outSize);
  }
  return { start, end };
}

function checkAdaptive(op: string, xShape: Shape, outSize: readonly [number, number]): void {
  if (xShape.length !== 4) throw new ShapeError(`${op}: input ${formatShape(xShape)} must be [N, C, H, W]`);
  if (!outSize.every((s) => Number.isInteger(s) && s >= 1)) {
    throw new ValueError(`${op}: output size [${outSize.join(', ')}] must be positive integers`);
  }
}

/** Average over PyTorch's adaptive bins, giving [N, C, outH, outW] whatever the input's size. */
export function adaptiveAvgPool2d(
  x: Float32Array,
  xShape: Shape,
  outSize: readonly [number, number],
): Float32Array {
  checkAdaptive('adaptiveAvgPool2d', xShape, outSize);
  const [batch, channels, height, width] = xShape;
  const [outH, outW] = outSize;
  const rows = bins(height, outH);
  const cols = bins(width, outW);
  const y = new Float32Array(batch * channels * outH * outW);
  for (let plane = 0; plane < batch * channels; plane++) {
    const xPlane = plane * height * width;
    for (let oh = 0; oh < outH; oh++) {
      for (let ow = 0; ow < outW; ow++) {
        let sum = 0;
        for (let ih = rows.start[oh]; ih < rows.end[oh]; ih++) {
          for (let iw = cols.start[ow]; iw < cols.end[ow]; iw++) sum += x[xPlane + ih * width + iw];
        }
        const count = (rows.end[oh] - rows.start[oh]) * (cols.end[ow] - cols.start[ow]);
        y[(plane * outH + oh) * outW + ow] = sum / count;
      }
    }
  }
  return y;
}

/** dL/dx of adaptiveAvgPool2d; the output size is read from dyShape. */
export function adaptiveAvgPool2dBackward(dy: Float32Array, dyShape: Shape, xShape: Shape): Float32Array {
  const [batch, channels, height, width] = xShape;
  if (dyShape.length !== 4 || dyShape[0] !== batch || dyShape[1] !== channels) {
    throw new ShapeError(
      `adaptiveAvgPool2dBackward: output gradient ${formatShape(dyShape)} does not fit input ${formatShape(xShape)}`,
    );
  }
  checkAdaptive('adaptiveAvgPool2dBackward', xShape, [dyShape[2], dyShape[3]]);
  const [, , outH, outW] = dyShape;
  const rows = bins(height, outH);
  const cols = bins(width, outW);
  const dx = new Float32Array(sizeOf(xShape));
  for (let plane = 0; plane < batch * channels; plane++) {
    const xPlane = plane * height * width;
    for (let oh = 0; oh < outH; oh++) {
      for (let ow = 0; ow < outW; ow++) {
        const count = (rows.end[oh] - rows.start[oh]) * (cols.end[ow] - cols.start[ow]);
        const share = dy[(plane * outH + oh) * outW + ow] / count;
        for (let ih = rows.start[oh]; ih < rows.end[oh]; ih++) {
          for (let iw = cols.start[ow]; iw < cols.end[ow]; iw++) dx[xPlane + ih * width + iw] += share;
        }
      }
    }
  }
  return dx;
}
