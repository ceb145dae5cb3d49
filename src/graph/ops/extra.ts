/**
 * Operators beyond the classic CNNs' set, cheap to build from convnets' ops and common in exported graphs:
 * reductions, Slice, Pow, comparisons, ConstantOfShape, Size and a few activations.
 */
import { formatShape } from '../../errors.js';
import {
  Tensor,
  abs,
  add,
  div,
  equal,
  exp,
  full,
  greater,
  less,
  log,
  max,
  maximum,
  mean,
  min,
  minimum,
  mul,
  neg,
  pow,
  relu,
  reshape,
  slice,
  sub,
  sum,
  tensor,
} from '../../tensor/index.js';
import { DataType, IntValues, type Value } from '../values.js';
import { checkSizeIntegers, checkValueSize } from './budget.js';
import { checkBroadcast } from './elementwise.js';
import {
  type OpContext,
  type OpFactory,
  axisIn,
  broadcastShape,
  floatInput,
  input,
  intBinary,
  intGatherAlong,
  intInput,
  malformed,
  product,
  toInts,
  unsupported,
} from './context.js';
import { checkShapeInput, gatherAlong } from './shape.js';

type Reduction = (x: Tensor, axes: number[], keepDims: boolean) => Tensor;

/**
 * ReduceSum takes its axes as an input from opset 13, the others from opset 18; before, an attribute. No axes
 * means every axis, unless noop_with_empty_axes.
 */
function reduce(run: Reduction, axesInputSince: number): OpFactory {
  return (ctx) => {
    const keepDims = ctx.attrs.int('keepdims', 1) !== 0;
    const noop = ctx.attrs.int('noop_with_empty_axes', 0) !== 0;
    const attribute = ctx.opset < axesInputSince ? ctx.attrs.ints('axes') : undefined;
    return (inputs) => {
      const x = floatInput(ctx, inputs, 0, 'data');
      const given =
        ctx.opset < axesInputSince
          ? attribute
          : inputs[1]
            ? toInts(ctx, inputs[1], 'axes').values
            : undefined;
      if ((given === undefined || given.length === 0) && noop) return [x];
      const axes =
        given === undefined || given.length === 0
          ? x.shape.map((_, i) => i)
          : given.map((a) => axisIn(ctx, a, x.rank));
      if (x.rank === 0) return [x];
      return [run(x, axes, keepDims)];
    };
  };
}

/** Positions along one axis that a Slice with these (already read) start, end and step keeps. */
function slicePositions(start: number, end: number, step: number, dim: number): number[] {
  const positions: number[] = [];
  if (step > 0) {
    const from = Math.min(Math.max(start < 0 ? start + dim : start, 0), dim);
    const to = Math.min(Math.max(end < 0 ? end + dim : end, 0), dim);
    for (let i = from; i < to; i += step) positions.push(i);
  } else {
    const from = Math.min(Math.max(start < 0 ? start + dim : start, -1), dim - 1);
    const to = Math.min(Math.max(end < 0 ? end + dim : end, -1), dim - 1);
    for (let i = from; i > to; i += step) positions.push(i);
  }
  return positions;
}

/** Slice with starts, ends, axes and steps as attributes (before opset 10) or inputs; any step but 0. */
const sliceOp: OpFactory = (ctx) => {
  const legacy = ctx.opset < 10;
  const attributes = legacy ? [ctx.attrs.ints('starts'), ctx.attrs.ints('ends'), ctx.attrs.ints('axes')] : [];
  return (inputs) => {
    let x = input(ctx, inputs, 0, 'data');
    const list = (i: number) =>
      inputs[i] ? toInts(ctx, inputs[i] as Value, `input ${i + 1}`).values : undefined;
    const [starts, ends, axesGiven] = legacy ? attributes : [list(1), list(2), list(3)];
    const steps = legacy ? undefined : list(4);
    if (starts === undefined || ends === undefined || starts.length !== ends.length) {
      malformed(ctx, 'needs starts and ends of equal length');
    }
    const rank = x.shape.length;
    const axes = (axesGiven ?? starts.map((_, i) => i)).map((a) => axisIn(ctx, a, rank));
    for (const [i, axis] of axes.entries()) {
      const step = steps?.[i] ?? 1;
      if (step === 0) malformed(ctx, 'a step is 0');
      const dim = x.shape[axis];
      const positions = slicePositions(starts[i], ends[i], step, dim);
      if (positions.length === dim && step === 1) continue;
      if (x instanceof IntValues) x = intGatherAlong(x, axis, positions);
      else {
        if (positions.length === 0) unsupported(ctx, 'an empty result', 'Slice to an empty tensor');
        const contiguous = positions.every((p, k) => p === positions[0] + k);
        x = contiguous
          ? slice(
              x,
              x.shape.map((_, d) => (d === axis ? positions[0] : 0)),
              x.shape.map((n, d) => (d === axis ? positions.length : n)),
            )
          : gatherAlong(x, axis, positions);
      }
    }
    return [x];
  };
};

/** Pow with a float base; an integer exponent is converted, as ONNX allows mixed types here. */
const powOp: OpFactory = (ctx) => (inputs) => {
  const base = input(ctx, inputs, 0, 'X');
  const exponent = input(ctx, inputs, 1, 'Y');
  if (base instanceof IntValues) {
    if (!(exponent instanceof IntValues))
      unsupported(ctx, 'an integer base with a float exponent', 'Pow int base');
    return [intBinary(ctx, base, exponent, (a, b) => Math.trunc(a ** b))];
  }
  const y =
    exponent instanceof IntValues ? tensor(Float32Array.from(exponent.values), exponent.shape) : exponent;
  const x = floatInput(ctx, [base], 0, 'X');
  checkBroadcast(ctx, x, y);
  return [pow(x, y)];
};

/** Equal, Greater, Less: bool results, as host integers. */
function comparison(
  floatOp: (a: Tensor, b: Tensor) => Tensor,
  intOp: (a: number, b: number) => boolean,
): OpFactory {
  return (ctx) => (inputs) => {
    const a = input(ctx, inputs, 0, 'A');
    const b = input(ctx, inputs, 1, 'B');
    if (a instanceof IntValues || b instanceof IntValues) {
      const result = intBinary(ctx, toInts(ctx, a, 'A'), toInts(ctx, b, 'B'), (x, y) =>
        intOp(x, y) ? 1 : 0,
      );
      return [new IntValues(result.shape, result.values, DataType.BOOL)];
    }
    checkValueSize(ctx, broadcastShape(ctx, a.shape, b.shape), 'integer', 'the comparison of its inputs');
    const result = floatOp(a, b);
    return [new IntValues(result.shape, Array.from(result.data()), DataType.BOOL)];
  };
}

const constantOfShape: OpFactory = (ctx) => {
  const value = ctx.attrs.tensor('value') ?? {
    kind: 'float' as const,
    dims: [1],
    values: Float32Array.of(0),
  };
  if (value.values.length !== 1) malformed(ctx, "attribute 'value' must hold one element");
  const kind = value.kind === 'int' ? 'integer' : 'tensor';
  const constant = ctx.constantInput(0);
  if (constant instanceof IntValues) checkShapeInput(ctx, constant.values, kind, "input 'input'");
  return (inputs) => {
    const shape = intInput(ctx, inputs, 0, 'input').values;
    checkSizeIntegers(ctx, "input 'input'", shape, 0);
    checkValueSize(ctx, shape, kind, `input 'input' ${formatShape(shape)}`);
    if (value.kind === 'int')
      return [new IntValues(shape, new Array<number>(product(shape)).fill(value.values[0]), value.dataType)];
    if (product(shape) === 0) unsupported(ctx, 'an empty result', 'ConstantOfShape empty');
    return [full(shape, value.values[0])];
  };
};

const size: OpFactory = (ctx) => (inputs) => [
  new IntValues([], [product(input(ctx, inputs, 0, 'data').shape)]),
];

function activation(build: (ctx: OpContext) => (x: Tensor) => Tensor): OpFactory {
  return (ctx) => {
    const run = build(ctx);
    return (inputs) => [run(floatInput(ctx, inputs, 0, 'X'))];
  };
}

/** x for x > 0, alpha·(eʸ − 1) below, written so that exp never sees a positive argument. */
const eluOf = (x: Tensor, alpha: number) => add(relu(x), mul(sub(exp(minimum(x, 0)), 1), alpha));

export const extraOps: Record<string, OpFactory> = {
  ReduceSum: reduce(sum, 13),
  ReduceMean: reduce(mean, 18),
  ReduceMax: reduce(max, 18),
  ReduceMin: reduce(min, 18),
  Slice: sliceOp,
  Pow: powOp,
  Equal: comparison(equal, (a, b) => a === b),
  Greater: comparison(greater, (a, b) => a > b),
  Less: comparison(less, (a, b) => a < b),
  ConstantOfShape: constantOfShape,
  Size: size,
  Elu: activation((ctx) => {
    const alpha = ctx.attrs.float('alpha', 1);
    return (x) => eluOf(x, alpha);
  }),
  Selu: activation((ctx) => {
    const alpha = ctx.attrs.float('alpha', 1.67326319217681884765625);
    const gamma = ctx.attrs.float('gamma', 1.05070102214813232421875);
    return (x) => mul(eluOf(x, alpha), gamma);
  }),
  HardSigmoid: activation((ctx) => {
    const alpha = ctx.attrs.float('alpha', 0.2);
    const beta = ctx.attrs.float('beta', 0.5);
    return (x) => maximum(minimum(add(mul(x, alpha), beta), 1), 0);
  }),
  // log(1 + eˣ) = relu(x) + log(1 + e^−|x|), stable for large |x|.
  Softplus: activation(() => (x) => add(relu(x), log(add(exp(neg(abs(x))), 1)))),
  Softsign: activation(() => (x) => div(x, add(abs(x), 1))),
  PRelu: (ctx) => (inputs) => {
    const x = floatInput(ctx, inputs, 0, 'X');
    let slope = floatInput(ctx, inputs, 1, 'slope');
    // Before opset 7 a 1-D slope holds one value per channel (axis 1), not NumPy-broadcast from the end.
    if (ctx.opset < 7 && slope.rank === 1 && x.rank > 2 && slope.size === x.shape[1]) {
      slope = reshape(slope, [slope.size, ...new Array<number>(x.rank - 2).fill(1)]);
    }
    checkBroadcast(ctx, x, slope);
    return [sub(relu(x), mul(slope, relu(neg(x))))];
  },
};
