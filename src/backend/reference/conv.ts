import type { Conv2dAttrs, Shape } from '../backend.js';
import { ShapeError, ValueError, formatShape } from '../../errors.js';
import {
  checkConvAttrs,
  checkConvOutputGradient,
  checkShape,
  conv2dOutputShape,
  convSpatialOutput,
  sizeOf,
} from '../shapes.js';
import { gemm } from './gemm.js';

/**
 * Convolution as matrix products (Chellapilla et al. 2006): the input is unrolled into columns, one per output
 * position, and each group's filters multiply them at once. Rows of the columns are ordered (c, ki, kj) with c
 * the input channel, so [groups, C/groups · kh · kw, ·] is also [C · kh · kw, ·]: groups need no reordering.
 */

/** Output positions o in [start, end) whose input coordinate o·stride + offset lies inside [0, size). */
function validRange(offset: number, stride: number, size: number, outSize: number): [number, number] {
  const start = Math.max(0, Math.ceil(-offset / stride));
  const end = Math.min(outSize, Math.floor((size - 1 - offset) / stride) + 1);
  return [start, Math.max(start, end)];
}

/**
 * Visits every (column row, input plane) pair of the unrolling: `copy(colStart, xStart, count, xStep)` moves
 * `count` elements between cols[colStart + t] and x[xStart + t·xStep]. Positions in the padding are skipped.
 */
function forEachColumnRun(
  xShape: Shape,
  kernel: readonly [number, number],
  attrs: Conv2dAttrs,
  copy: (colStart: number, xStart: number, count: number, xStep: number) => void,
): void {
  const [batch, channels, height, width] = xShape;
  const [kh, kw] = kernel;
  const [outH, outW] = convSpatialOutput(xShape, kernel, attrs);
  const [strideH, strideW] = attrs.stride;
  const [dilationH, dilationW] = attrs.dilation;
  const [top, , left] = attrs.padding;
  const columns = batch * outH * outW;
  for (let c = 0; c < channels; c++) {
    for (let ki = 0; ki < kh; ki++) {
      const offsetH = ki * dilationH - top;
      const [ohStart, ohEnd] = validRange(offsetH, strideH, height, outH);
      for (let kj = 0; kj < kw; kj++) {
        const offsetW = kj * dilationW - left;
        const [owStart, owEnd] = validRange(offsetW, strideW, width, outW);
        if (owEnd === owStart) continue;
        const rowStart = ((c * kh + ki) * kw + kj) * columns;
        for (let n = 0; n < batch; n++) {
          const plane = (n * channels + c) * height * width;
          for (let oh = ohStart; oh < ohEnd; oh++) {
            const ih = oh * strideH + offsetH;
            const colStart = rowStart + (n * outH + oh) * outW + owStart;
            const xStart = plane + ih * width + owStart * strideW + offsetW;
            copy(colStart, xStart, owEnd - owStart, strideW);
          }
        }
      }
    }
  }
}

/**
 * A [rows, columns] matrix of the unrolled convolution, or a ShapeError naming the convolution where a typed array
 * cannot hold it: the unrolling grows as channels × kernel × output positions, past the input and output themselves.
 */
function workspace(
  op: string,
  xShape: Shape,
  kernel: readonly [number, number],
  rows: number,
  columns: number,
): Float32Array {
  const what = `${op} on the reference backend, input ${formatShape(xShape)} and a ${kernel[0]}×${kernel[1]} kernel: its unrolled matrix`;
  return new Float32Array(checkShape([rows, columns], what));
}

function checkInput(xShape: Shape, kernel: readonly [number, number], attrs: Conv2dAttrs): void {
  if (xShape.length !== 4) throw new ShapeError(`im2col: input ${formatShape(xShape)} must be [N, C, H, W]`);
  checkConvAttrs(attrs);
  if (!kernel.every((k) => Number.isInteger(k) && k >= 1)) {
    throw new ValueError(`im2col: kernel [${kernel.join(', ')}] must be positive integers`);
  }
  if (xShape[1] % attrs.groups !== 0) {
    throw new ShapeError(`im2col: ${xShape[1]} input channels do not divide into ${attrs.groups} groups`);
  }
}

/** Columns [groups, C/groups · kh · kw, N · outH · outW] of an NCHW input; padding reads as zero. */
export function im2col(
  x: Float32Array,
  xShape: Shape,
  kernel: readonly [number, number],
  attrs: Conv2dAttrs,
): Float32Array {
  checkInput(xShape, kernel, attrs);
  const [outH, outW] = convSpatialOutput(xShape, kernel, attrs);
  const cols = workspace(
    'im2col',
    xShape,
    kernel,
    xShape[1] * kernel[0] * kernel[1],
    xShape[0] * outH * outW,
  );
  forEachColumnRun(xShape, kernel, attrs, (colStart, xStart, count, xStep) => {
    for (let t = 0; t < count; t++) cols[colStart + t] = x[xStart + t * xStep];
  });
  return cols;
}

/** The adjoint of im2col: sums each column entry back into the input position it was read from. */
export function col2im(
  cols: Float32Array,
  xShape: Shape,
  kernel: readonly [number, number],
  attrs: Conv2dAttrs,
  out: Float32Array = new Float32Array(sizeOf(xShape)),
): Float32Array {
  checkInput(xShape, kernel, attrs);
  forEachColumnRun(xShape, kernel, attrs, (colStart, xStart, count, xStep) => {
    for (let t = 0; t < count; t++) out[xStart + t * xStep] += cols[colStart + t];
  });
  return out;
}

/** [N, C, P] → [C, N·P]: the gradient of an output laid out as the rows a product of columns yields. */
function channelsFirst(y: Float32Array, batch: number, channels: number, plane: number): Float32Array {
  const rows = new Float32Array(y.length);
  for (let n = 0; n < batch; n++) {
    for (let c = 0; c < channels; c++) {
      rows.set(
        y.subarray((n * channels + c) * plane, (n * channels + c + 1) * plane),
        (c * batch + n) * plane,
      );
    }
  }
  return rows;
}

/** One product per group: group g of each operand starts g times that operand's per-group size in. */
function groupedGemm(
  groups: number,
  a: Float32Array,
  b: Float32Array,
  m: number,
  k: number,
  n: number,
  transposeA: boolean,
  transposeB: boolean,
  out: Float32Array,
): void {
  for (let g = 0; g < groups; g++)
    gemm(a, b, m, k, n, transposeA, transposeB, out, g * m * k, g * k * n, g * m * n);
}

/** Cross-correlation of an NCHW input with [C_out, C_in/groups, kh, kw] filters, plus an optional bias [C_out]. */
export function conv2d(
  x: Float32Array,
  xShape: Shape,
  w: Float32Array,
  wShape: Shape,
  bias: Float32Array | null,
  attrs: Conv2dAttrs,
): Float32Array {
  const yShape = conv2dOutputShape(xShape, wShape, attrs);
  const [batch, outChannels, outH, outW] = yShape;
  if (bias !== null && bias.length !== outChannels) {
    throw new ShapeError(`conv2d: bias has ${bias.length} values for ${outChannels} output channels`);
  }
  const { groups } = attrs;
  const groupOut = outChannels / groups;
  const depth = wShape[1] * wShape[2] * wShape[3];
  const plane = outH * outW;
  const columns = batch * plane;
  const cols = im2col(x, xShape, [wShape[2], wShape[3]], attrs);
  const rows = workspace('conv2d', xShape, [wShape[2], wShape[3]], outChannels, columns);
  groupedGemm(groups, w, cols, groupOut, depth, columns, false, false, rows);
  const y = new Float32Array(sizeOf(yShape));
  for (let n = 0; n < batch; n++) {
    for (let c = 0; c < outChannels; c++) {
      const shift = bias === null ? 0 : bias[c];
      const from = (c * batch + n) * plane;
      const to = (n * outChannels + c) * plane;
      for (let p = 0; p < plane; p++) y[to + p] = rows[from + p] + shift;
    }
  }
  return y;
}

/** dL/dx of conv2d: each group's Wᵀ · dY gives gradient columns, which col2im folds back onto the input. */
export function conv2dBackwardData(
  dy: Float32Array,
  dyShape: Shape,
  w: Float32Array,
  wShape: Shape,
  xShape: Shape,
  attrs: Conv2dAttrs,
): Float32Array {
  checkConvOutputGradient('conv2dBackwardData', xShape, wShape, dyShape, attrs);
  const [batch, outChannels, outH, outW] = dyShape;
  const { groups } = attrs;
  const groupOut = outChannels / groups;
  const depth = wShape[1] * wShape[2] * wShape[3];
  const columns = batch * outH * outW;
  const dyRows = channelsFirst(dy, batch, outChannels, outH * outW);
  const dcols = workspace('conv2dBackwardData', xShape, [wShape[2], wShape[3]], groups * depth, columns);
  groupedGemm(groups, w, dyRows, depth, groupOut, columns, true, false, dcols);
  return col2im(dcols, xShape, [wShape[2], wShape[3]], attrs);
}

/** dL/dw of conv2d: each group's dY · X_colᵀ, summed over the batch and every output position. */
export function conv2dBackwardFilter(
  x: Float32Array,
  xShape: Shape,
  dy: Float32Array,
  dyShape: Shape,
  wShape: Shape,
  attrs: Conv2dAttrs,
): Float32Array {
  checkConvOutputGradient('conv2dBackwardFilter', xShape, wShape, dyShape, attrs);
  const [batch, outChannels, outH, outW] = dyShape;
  const { groups } = attrs;
  const groupOut = outChannels / groups;
  const depth = wShape[1] * wShape[2] * wShape[3];
  const columns = batch * outH * outW;
  const cols = im2col(x, xShape, [wShape[2], wShape[3]], attrs);
  const dyRows = channelsFirst(dy, batch, outChannels, outH * outW);
  const dw = new Float32Array(sizeOf(wShape));
  groupedGemm(groups, dyRows, cols, groupOut, columns, depth, false, true, dw);
  return dw;
}
