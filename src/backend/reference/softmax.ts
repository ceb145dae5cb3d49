import type { Shape } from '../backend.js';
import { ShapeError, formatShape } from '../../errors.js';
import { sizeOf } from '../shapes.js';

/** The shape seen as [outer, length, inner] around `axis` (negative counts from the end). */
function around(op: string, shape: Shape, axis: number): { outer: number; length: number; inner: number } {
  const rank = shape.length;
  if (!Number.isInteger(axis) || axis < -rank || axis >= rank) {
    throw new ShapeError(`${op}: axis ${axis} is out of range for shape ${formatShape(shape)}`);
  }
  const a = axis < 0 ? axis + rank : axis;
  return { outer: sizeOf(shape.slice(0, a)), length: shape[a], inner: sizeOf(shape.slice(a + 1)) };
}

/**
 * Softmax (or log-softmax when `log`) along `axis`, shifted by the maximum so no exponent overflows. The
 * `inner` values sharing an outer index are processed side by side, so every loop reads contiguously.
 */
export function softmax(x: Float32Array, shape: Shape, axis: number, log: boolean): Float32Array {
  const { outer, length, inner } = around('softmax', shape, axis);
  const y = new Float32Array(x.length);
  const max = new Float64Array(inner);
  const sum = new Float64Array(inner);
  for (let o = 0; o < outer; o++) {
    const base = o * length * inner;
    max.fill(-Infinity);
    sum.fill(0);
    for (let a = 0; a < length; a++) {
      for (let i = 0; i < inner; i++) max[i] = Math.max(max[i], x[base + a * inner + i]);
    }
    for (let a = 0; a < length; a++) {
      for (let i = 0; i < inner; i++) sum[i] += Math.exp(x[base + a * inner + i] - max[i]);
    }
    for (let a = 0; a < length; a++) {
      for (let i = 0; i < inner; i++) {
        const shifted = x[base + a * inner + i] - max[i];
        y[base + a * inner + i] = log ? shifted - Math.log(sum[i]) : Math.exp(shifted) / sum[i];
      }
    }
  }
  return y;
}

/**
 * dL/dx from the forward's output y: y · (dy − Σ dy·y) for softmax, dy − exp(y) · Σ dy for log-softmax, the
 * sums running along `axis`.
 */
export function softmaxBackward(
  y: Float32Array,
  dy: Float32Array,
  shape: Shape,
  axis: number,
  log: boolean,
): Float32Array {
  const { outer, length, inner } = around('softmaxBackward', shape, axis);
  const dx = new Float32Array(y.length);
  const sum = new Float64Array(inner);
  for (let o = 0; o < outer; o++) {
    const base = o * length * inner;
    sum.fill(0);
    for (let a = 0; a < length; a++) {
      for (let i = 0; i < inner; i++) {
        const at = base + a * inner + i;
        sum[i] += log ? dy[at] : dy[at] * y[at];
      }
    }
    for (let a = 0; a < length; a++) {
      for (let i = 0; i < inner; i++) {
        const at = base + a * inner + i;
        dx[at] = log ? dy[at] - Math.exp(y[at]) * sum[i] : y[at] * (dy[at] - sum[i]);
      }
    }
  }
  return dx;
}
