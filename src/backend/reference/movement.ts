import type { ReduceOp, Shape, TypedArray } from '../backend.js';
import { sizeOf, stridesOf } from '../shapes.js';

/** Calls visit(outIndex, inIndex) for every element of a strided view walked in row-major order. */
function walk(
  shape: Shape,
  inStrides: readonly number[],
  inOffset: number,
  visit: (out: number, inp: number) => void,
): void {
  const rank = shape.length;
  const size = sizeOf(shape);
  const index = new Array<number>(rank).fill(0);
  let inp = inOffset;
  for (let out = 0; out < size; out++) {
    visit(out, inp);
    for (let d = rank - 1; d >= 0; d--) {
      index[d]++;
      inp += inStrides[d];
      if (index[d] < shape[d]) break;
      inp -= inStrides[d] * shape[d];
      index[d] = 0;
    }
  }
}

function like(x: TypedArray, size: number): TypedArray {
  return x instanceof Int32Array ? new Int32Array(size) : new Float32Array(size);
}

export function reduce(op: ReduceOp, x: Float32Array, shape: Shape, axes: readonly number[]): Float32Array {
  const outShape = shape.map((d, i) => (axes.includes(i) ? 1 : d));
  const out = new Float32Array(sizeOf(outShape));
  const outStrides = stridesOf(outShape).map((s, i) => (axes.includes(i) ? 0 : s));
  if (op === 'sum') {
    const sums = new Float64Array(out.length);
    const index = indexMap(shape, outStrides);
    for (let i = 0; i < x.length; i++) sums[index[i]] += x[i];
    out.set(sums);
    return out;
  }
  out.fill(op === 'max' ? -Infinity : Infinity);
  const index = indexMap(shape, outStrides);
  for (let i = 0; i < x.length; i++) {
    const o = index[i];
    const v = x[i];
    if (op === 'max' ? v > out[o] || Number.isNaN(v) : v < out[o] || Number.isNaN(v)) out[o] = v;
  }
  return out;
}

/** For each input element in row-major order, its offset under `strides` (used to map inputs to reduced outputs). */
function indexMap(shape: Shape, strides: readonly number[]): Int32Array {
  const map = new Int32Array(sizeOf(shape));
  walk(shape, strides, 0, (out, mapped) => {
    map[out] = mapped;
  });
  return map;
}

export function permute(x: TypedArray, shape: Shape, perm: readonly number[]): TypedArray {
  const strides = stridesOf(shape);
  const outShape = perm.map((p) => shape[p]);
  const out = like(x, x.length);
  walk(
    outShape,
    perm.map((p) => strides[p]),
    0,
    (o, i) => {
      out[o] = x[i];
    },
  );
  return out;
}

export function slice(
  x: TypedArray,
  shape: Shape,
  begin: readonly number[],
  size: readonly number[],
): TypedArray {
  const strides = stridesOf(shape);
  const offset = begin.reduce((sum, b, d) => sum + b * strides[d], 0);
  const out = like(x, sizeOf(size));
  walk(size, strides, offset, (o, i) => {
    out[o] = x[i];
  });
  return out;
}

export function pad(
  x: TypedArray,
  shape: Shape,
  before: readonly number[],
  after: readonly number[],
  value: number,
): TypedArray {
  const outShape = shape.map((d, i) => d + before[i] + after[i]);
  const outStrides = stridesOf(outShape);
  const out = like(x, sizeOf(outShape)).fill(value);
  const offset = before.reduce((sum, b, d) => sum + b * outStrides[d], 0);
  // Walk the input; map each element to its place in the output.
  walk(shape, outStrides, offset, (i, o) => {
    out[o] = x[i];
  });
  return out;
}

export function concat(xs: readonly TypedArray[], shapes: readonly Shape[], axis: number): TypedArray {
  const outer = sizeOf(shapes[0].slice(0, axis));
  const chunks = shapes.map((s) => sizeOf(s.slice(axis)));
  const total = chunks.reduce((a, b) => a + b, 0);
  const out = like(xs[0], outer * total);
  for (let o = 0; o < outer; o++) {
    let at = o * total;
    xs.forEach((x, k) => {
      out.set(x.subarray(o * chunks[k], (o + 1) * chunks[k]), at);
      at += chunks[k];
    });
  }
  return out;
}
