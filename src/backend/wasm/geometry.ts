/** Shapes as the wasm kernels read them, and the checks that keep a kernel inside its storages. */
import type { Pool2dAttrs, Shape } from '../backend.js';
import { ShapeError, formatShape } from '../../errors.js';
import { sizeOf, stridesOf } from '../shapes.js';

/** Adaptive average pooling as plain pooling, when each output bin covers a whole number of input rows and columns. */
export function evenBins(xShape: Shape, outSize: readonly [number, number]): Pool2dAttrs | null {
  if (xShape.length !== 4 || xShape[2] % outSize[0] !== 0 || xShape[3] % outSize[1] !== 0) return null;
  const kernel: [number, number] = [xShape[2] / outSize[0], xShape[3] / outSize[1]];
  return { kernel, stride: kernel, padding: [0, 0, 0, 0], ceilMode: false, countIncludePad: false };
}

/** [N, C, ...] as batch, channels and the product of the rest. */
export function channelLayout(op: string, shape: Shape): { batch: number; channels: number; inner: number } {
  if (shape.length < 2) throw new ShapeError(`${op}: expected [N, C, ...], got ${formatShape(shape)}`);
  return { batch: shape[0], channels: shape[1], inner: sizeOf(shape.slice(2)) };
}

/** The shape seen as [outer, length, inner] around `axis` (negative counts from the end). */
export function around(
  op: string,
  shape: Shape,
  axis: number,
): { outer: number; length: number; inner: number } {
  const rank = shape.length;
  if (!Number.isInteger(axis) || axis < -rank || axis >= rank) {
    throw new ShapeError(`${op}: axis ${axis} is out of range for shape ${formatShape(shape)}`);
  }
  const a = axis < 0 ? axis + rank : axis;
  return { outer: sizeOf(shape.slice(0, a)), length: shape[a], inner: sizeOf(shape.slice(a + 1)) };
}

/**
 * NumPy broadcasting as the wasm binary kernel reads it: the output shape with size-1 dimensions dropped and
 * neighbours that broadcast alike merged, and each input's strides, 0 along broadcast dimensions.
 */
export function broadcastGeometry(
  aShape: Shape,
  bShape: Shape,
  outShape: Shape,
): { shape: number[]; aStrides: number[]; bStrides: number[] } {
  const strides = (shape: Shape) => {
    const own = stridesOf(shape);
    const offset = outShape.length - shape.length;
    return outShape.map((_, i) => (i < offset || shape[i - offset] === 1 ? 0 : own[i - offset]));
  };
  const [fullA, fullB] = [strides(aShape), strides(bShape)];
  const shape: number[] = [];
  const aStrides: number[] = [];
  const bStrides: number[] = [];
  for (let d = 0; d < outShape.length; d++) {
    if (outShape[d] === 1) continue;
    const last = shape.length - 1;
    // Merge into the previous dimension when both inputs step through it contiguously (or both broadcast it).
    if (last >= 0 && aStrides[last] === fullA[d] * outShape[d] && bStrides[last] === fullB[d] * outShape[d]) {
      shape[last] *= outShape[d];
      aStrides[last] = fullA[d];
      bStrides[last] = fullB[d];
      continue;
    }
    shape.push(outShape[d]);
    aStrides.push(fullA[d]);
    bStrides.push(fullB[d]);
  }
  if (shape.length === 0) return { shape: [1], aStrides: [0], bStrides: [0] };
  return { shape, aStrides, bStrides };
}

/**
 * A reduction as the wasm kernel reads it: the input shape with size-1 dimensions dropped and neighbours merged that
 * are both reduced or both kept, and each dimension's stride in the output (0 along reduced axes).
 */
export function reduceGeometry(
  shape: Shape,
  axes: readonly number[],
): { shape: number[]; outStrides: number[] } {
  const outShape = shape.map((d, i) => (axes.includes(i) ? 1 : d));
  const full = stridesOf(outShape).map((s, i) => (axes.includes(i) ? 0 : s));
  const merged: number[] = [];
  const outStrides: number[] = [];
  for (let d = 0; d < shape.length; d++) {
    if (shape[d] === 1) continue;
    const last = merged.length - 1;
    if (last >= 0 && outStrides[last] === full[d] * shape[d]) {
      merged[last] *= shape[d];
      outStrides[last] = full[d];
      continue;
    }
    merged.push(shape[d]);
    outStrides.push(full[d]);
  }
  if (merged.length === 0) return { shape: [1], outStrides: [0] };
  return { shape: merged, outStrides };
}
