import type { BinaryOp, DType, UnaryOp } from '../../backend/backend.js';
import { broadcastShapes, sameShape } from '../../backend/shapes.js';
import { ShapeError, formatShape } from '../../errors.js';
import { isRecomputable, record, recordRecompute, withValuesOf } from '../autograd.js';
import { full, scalar } from '../creation.js';
import { Tensor } from '../tensor.js';
import { backendOf, wrap } from './common.js';
import { activationGradient } from './activation.js';
import { sum } from './reduce.js';
import { reshape } from './shape.js';

type Operand = Tensor | number;

/** dL/da and dL/db before un-broadcasting; null where the op has no gradient. */
type BinaryRule = (a: Tensor, b: Tensor, y: Tensor, dy: Tensor) => [Tensor, Tensor];

const binaryGradients: Record<BinaryOp, BinaryRule | null> = {
  add: (_a, _b, _y, dy) => [dy, dy],
  sub: (_a, _b, _y, dy) => [dy, neg(dy)],
  mul: (a, b, _y, dy) => [mul(dy, b), mul(dy, a)],
  div: (_a, b, y, dy) => [div(dy, b), neg(div(mul(dy, y), b))],
  // Ties split the gradient equally, as PyTorch's maximum and minimum do.
  maximum: (a, b, _y, dy) => [mul(dy, winShare(a, b)), mul(dy, winShare(b, a))],
  minimum: (a, b, _y, dy) => [mul(dy, winShare(b, a)), mul(dy, winShare(a, b))],
  pow: (a, b, y, dy) => [mul(dy, mul(b, pow(a, sub(b, 1)))), mul(dy, mul(y, log(a)))],
  equal: null,
  greater: null,
  less: null,
};

type UnaryRule = (x: Tensor, y: Tensor, dy: Tensor) => Tensor;

const unaryGradients: Record<UnaryOp, UnaryRule | null> = {
  neg: (_x, _y, dy) => neg(dy),
  abs: (x, _y, dy) => mul(dy, sign(x)),
  exp: (_x, y, dy) => mul(dy, y),
  log: (x, _y, dy) => div(dy, x),
  sqrt: (_x, y, dy) => div(dy, mul(y, 2)),
  square: (x, _y, dy) => mul(dy, mul(x, 2)),
  reciprocal: (_x, y, dy) => neg(mul(dy, square(y))),
  // Where the output is positive is where the input was: the rule reads the output only (see unaryReads).
  relu: (_x, y, dy) => activationGradient('relu', y, y, dy),
  sigmoid: (x, y, dy) => activationGradient('sigmoid', x, y, dy),
  tanh: (x, y, dy) => activationGradient('tanh', x, y, dy),
  scaledTanh: (x, y, dy) => activationGradient('scaledTanh', x, y, dy),
  sign: null,
};

/** The values a unary rule reads, where not both its input and output: a forward may release the others. */
const unaryReads: Partial<Record<UnaryOp, (x: Tensor, y: Tensor) => Tensor[]>> = {
  neg: () => [],
  relu: (_x, y) => [y],
};

/** Binary rules that read none of their operands' values, only their shapes. */
const shapeOnlyBinary: ReadonlySet<BinaryOp> = new Set(['add', 'sub']);

/** 1 where a > b, ½ where a = b, 0 where a < b. */
function winShare(a: Tensor, b: Tensor): Tensor {
  return add(greater(a, b), mul(equal(a, b), 0.5));
}

/** A number as a scalar tensor on the other operand's backend (which need not be the active one). */
function asTensor(value: Operand, other: Operand): Tensor {
  if (typeof value !== 'number') return value;
  return typeof other === 'number' ? scalar(value) : full([], value, { backend: other.backend });
}

/** The values as `dtype` (float32 to int32 truncates toward zero), cut from the graph: PyTorch's `x.to(dtype)`. */
export function cast(x: Tensor, dtype: DType): Tensor {
  const backend = backendOf('cast', [x], true);
  return new Tensor(backend.cast(x.storage, x.shape, dtype), x.shape, dtype, backend);
}

/** Sums a broadcast gradient back down to the shape of the input it flowed from. */
export function sumToShape(g: Tensor, shape: readonly number[]): Tensor {
  if (sameShape(g.shape, shape)) return g;
  const offset = g.rank - shape.length;
  const axes: number[] = [];
  g.shape.forEach((d, i) => {
    if (i < offset || (shape[i - offset] === 1 && d !== 1)) axes.push(i);
  });
  return reshape(sum(g, axes, true), shape);
}

/** A binary elementwise op by name, broadcasting its operands; records its gradient. */
export function binaryOp(op: BinaryOp, left: Operand, right: Operand): Tensor {
  const a = asTensor(left, right);
  const b = asTensor(right, left);
  const backend = backendOf(op, [a, b]);
  const outShape = broadcastShapes(a.shape, b.shape, op);
  const y = wrap(backend.binary(op, a.storage, a.shape, b.storage, b.shape, outShape), outShape, backend);
  const rule = binaryGradients[op];
  if (rule === null) return y;
  return record(
    op,
    y,
    [a, b],
    (dy) => {
      const [da, db] = rule(a, b, y, dy);
      return [sumToShape(da, a.shape), sumToShape(db, b.shape)];
    },
    [],
    shapeOnlyBinary.has(op) ? [] : [a, b, y],
  );
}

/** A unary elementwise op by name; records its gradient. */
export function unaryOp(op: UnaryOp, x: Tensor): Tensor {
  const backend = backendOf(op, [x]);
  const y = wrap(backend.unary(op, x.storage, x.shape), x.shape, backend);
  const rule = unaryGradients[op];
  if (rule === null) return y;
  record(op, y, [x], (dy) => [rule(x, y, dy)], [], unaryReads[op]?.(x, y) ?? [x, y]);
  // An elementwise function of values backward() can compute again can be computed again too (a ReLU after a
  // BatchNorm).
  if (isRecomputable(x))
    recordRecompute(y, () =>
      withValuesOf(x, (input) => wrap(backend.unary(op, input.storage, x.shape), x.shape, backend)),
    );
  return y;
}

/**
 * alpha·x + beta·y for x and y of one shape, in one kernel (BLAS's axpby): what an optimizer's update does to every
 * parameter, without a scalar tensor and a kernel per product.
 */
export function axpby(alpha: number, x: Tensor, beta: number, y: Tensor): Tensor {
  if (!sameShape(x.shape, y.shape)) {
    throw new ShapeError(`axpby: x ${formatShape(x.shape)} and y ${formatShape(y.shape)} differ`);
  }
  const backend = backendOf('axpby', [x, y]);
  const out = wrap(backend.axpby(alpha, x.storage, beta, y.storage, x.shape), x.shape, backend);
  return record('axpby', out, [x, y], (dy) => [mul(dy, alpha), mul(dy, beta)]);
}

/** a + b, broadcasting; a number counts as a tensor of one value. */
export const add = (a: Operand, b: Operand): Tensor => binaryOp('add', a, b);
/** a − b, broadcasting. */
export const sub = (a: Operand, b: Operand): Tensor => binaryOp('sub', a, b);
/** a · b, elementwise, broadcasting. */
export const mul = (a: Operand, b: Operand): Tensor => binaryOp('mul', a, b);
/** a / b, broadcasting. */
export const div = (a: Operand, b: Operand): Tensor => binaryOp('div', a, b);
/** a^b, elementwise, broadcasting. */
export const pow = (a: Operand, b: Operand): Tensor => binaryOp('pow', a, b);
/** The larger of a and b, elementwise, broadcasting. */
export const maximum = (a: Operand, b: Operand): Tensor => binaryOp('maximum', a, b);
/** The smaller of a and b, elementwise, broadcasting. */
export const minimum = (a: Operand, b: Operand): Tensor => binaryOp('minimum', a, b);
/** 1 where a = b, else 0; no gradient. */
export const equal = (a: Operand, b: Operand): Tensor => binaryOp('equal', a, b);
/** 1 where a > b, else 0; no gradient. */
export const greater = (a: Operand, b: Operand): Tensor => binaryOp('greater', a, b);
/** 1 where a < b, else 0; no gradient. */
export const less = (a: Operand, b: Operand): Tensor => binaryOp('less', a, b);

/** −x, elementwise. */
export const neg = (x: Tensor): Tensor => unaryOp('neg', x);
/** |x|, elementwise. */
export const abs = (x: Tensor): Tensor => unaryOp('abs', x);
/** e^x, elementwise. */
export const exp = (x: Tensor): Tensor => unaryOp('exp', x);
/** The natural logarithm, elementwise. */
export const log = (x: Tensor): Tensor => unaryOp('log', x);
/** √x, elementwise. */
export const sqrt = (x: Tensor): Tensor => unaryOp('sqrt', x);
/** x², elementwise. */
export const square = (x: Tensor): Tensor => unaryOp('square', x);
/** 1 / x, elementwise. */
export const reciprocal = (x: Tensor): Tensor => unaryOp('reciprocal', x);
/** −1, 0 or 1 by the sign of x; no gradient. */
export const sign = (x: Tensor): Tensor => unaryOp('sign', x);
