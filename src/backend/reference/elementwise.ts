import type { ActivationOp, BinaryOp, Shape, UnaryOp } from '../backend.js';
import { sizeOf, stridesOf } from '../shapes.js';

const LECUN_A = 1.7159;
const LECUN_S = 2 / 3;

type Scalar1 = (x: number) => number;
type Scalar2 = (a: number, b: number) => number;

const unaryFunctions: Record<UnaryOp, Scalar1> = {
  neg: (x) => -x,
  abs: Math.abs,
  exp: Math.exp,
  log: Math.log,
  sqrt: Math.sqrt,
  square: (x) => x * x,
  reciprocal: (x) => 1 / x,
  relu: (x) => (x > 0 ? x : 0),
  sigmoid: (x) => 1 / (1 + Math.exp(-x)),
  tanh: Math.tanh,
  scaledTanh: (x) => LECUN_A * Math.tanh(LECUN_S * x),
  sign: Math.sign,
};

/** d y / d x of each activation, from its input x and output y. */
const activationDerivatives: Record<ActivationOp, Scalar2> = {
  relu: (x) => (x > 0 ? 1 : 0),
  sigmoid: (_x, y) => y * (1 - y),
  tanh: (_x, y) => 1 - y * y,
  scaledTanh: (_x, y) => LECUN_S * (LECUN_A - (y * y) / LECUN_A),
};

const binaryFunctions: Record<BinaryOp, Scalar2> = {
  add: (a, b) => a + b,
  sub: (a, b) => a - b,
  mul: (a, b) => a * b,
  div: (a, b) => a / b,
  maximum: (a, b) => (a >= b ? a : b),
  minimum: (a, b) => (a <= b ? a : b),
  pow: Math.pow,
  equal: (a, b) => (a === b ? 1 : 0),
  greater: (a, b) => (a > b ? 1 : 0),
  less: (a, b) => (a < b ? 1 : 0),
};

export function unary(op: UnaryOp, x: Float32Array): Float32Array {
  const f = unaryFunctions[op];
  const y = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) y[i] = f(x[i]);
  return y;
}

export function activationBackward(
  op: ActivationOp,
  x: Float32Array,
  y: Float32Array,
  dy: Float32Array,
): Float32Array {
  const derivative = activationDerivatives[op];
  const dx = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) dx[i] = dy[i] * derivative(x[i], y[i]);
  return dx;
}

/** Strides of `shape` seen through `outShape`'s broadcast: 0 along broadcast dimensions. */
function broadcastStrides(shape: Shape, outShape: Shape): number[] {
  const own = stridesOf(shape);
  const offset = outShape.length - shape.length;
  return outShape.map((_, i) => (i < offset || shape[i - offset] === 1 ? 0 : own[i - offset]));
}

export function binary(
  op: BinaryOp,
  a: Float32Array,
  aShape: Shape,
  b: Float32Array,
  bShape: Shape,
  outShape: Shape,
): Float32Array {
  const f = binaryFunctions[op];
  const size = sizeOf(outShape);
  const out = new Float32Array(size);
  if (a.length === size && b.length === size) {
    for (let i = 0; i < size; i++) out[i] = f(a[i], b[i]);
    return out;
  }
  if (b.length === 1) {
    const scalar = b[0];
    for (let i = 0; i < size; i++) out[i] = f(a[i % a.length], scalar);
    if (a.length === size) return out;
  }
  const rank = outShape.length;
  const aStrides = broadcastStrides(aShape, outShape);
  const bStrides = broadcastStrides(bShape, outShape);
  const index = new Array<number>(rank).fill(0);
  let ai = 0;
  let bi = 0;
  for (let i = 0; i < size; i++) {
    out[i] = f(a[ai], b[bi]);
    for (let d = rank - 1; d >= 0; d--) {
      index[d]++;
      ai += aStrides[d];
      bi += bStrides[d];
      if (index[d] < outShape[d]) break;
      ai -= aStrides[d] * outShape[d];
      bi -= bStrides[d] * outShape[d];
      index[d] = 0;
    }
  }
  return out;
}
