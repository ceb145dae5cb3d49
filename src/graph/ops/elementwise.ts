/** Elementwise operators: arithmetic with NumPy broadcasting, activations, Clip. */
import { formatShape } from '../../errors.js';
import {
  Tensor,
  abs,
  add,
  div,
  exp,
  log,
  maximum,
  minimum,
  mul,
  neg,
  reciprocal,
  relu,
  reshape,
  sigmoid,
  sqrt,
  sub,
  tanh,
} from '../../tensor/index.js';
import { IntValues, type Value } from '../values.js';
import { checkValueSize } from './budget.js';
import {
  type OpContext,
  type OpFactory,
  broadcastShape,
  floatInput,
  input,
  intBinary,
  malformed,
  scalarOf,
  toInts,
  unsupported,
} from './context.js';

type FloatBinary = (a: Tensor, b: Tensor) => Tensor;
type IntBinary = (a: number, b: number) => number;

/**
 * Before opset 7, broadcasting was opt-in (`broadcast` = 1) and B could be aligned at `axis` of A instead of at
 * the end; from 7 on it is always NumPy's. Returns B reshaped so that NumPy's rule gives the legacy result.
 */
function legacyBroadcast(ctx: OpContext): (aShape: readonly number[], b: Value) => Value {
  const broadcast = ctx.attrs.int('broadcast', 0);
  const axis = ctx.attrs.int('axis');
  if (broadcast === 0 || axis === undefined) return (_a, b) => b;
  return (aShape, b) => {
    const start = axis < 0 ? axis + aShape.length : axis;
    const trailing = aShape.length - start - b.shape.length;
    if (start < 0 || trailing < 0)
      malformed(ctx, `legacy broadcast axis ${axis} does not fit ${formatShape(aShape)}`);
    const shape = [...b.shape, ...new Array<number>(trailing).fill(1)];
    return b instanceof IntValues ? new IntValues(shape, b.values, b.dataType) : reshape(b, shape);
  };
}

function binary(floatOp: FloatBinary, intOp: IntBinary): OpFactory {
  return (ctx) => {
    const align = legacyBroadcast(ctx);
    return (inputs) => {
      const a = input(ctx, inputs, 0, 'A');
      const b = align(a.shape, input(ctx, inputs, 1, 'B'));
      if (a instanceof IntValues || b instanceof IntValues) {
        if (!(a instanceof IntValues && b instanceof IntValues))
          malformed(ctx, 'inputs mix integer and float data');
        return [intBinary(ctx, a, b, intOp)];
      }
      if (a.dtype !== 'float32' || b.dtype !== 'float32') {
        unsupported(ctx, 'int32 tensor arithmetic', `${ctx.node.opType} on int32 tensors`);
      }
      checkBroadcast(ctx, a, b);
      return [floatOp(a, b)];
    };
  };
}

/** Checks the tensor two inputs broadcast to before it is made. */
export function checkBroadcast(ctx: OpContext, a: Tensor, b: Tensor): void {
  const shape = broadcastShape(ctx, a.shape, b.shape);
  checkValueSize(
    ctx,
    shape,
    'tensor',
    `broadcasting inputs ${formatShape(a.shape)} and ${formatShape(b.shape)}`,
  );
}

function unary(op: (x: Tensor) => Tensor): OpFactory {
  return (ctx) => (inputs) => [op(floatInput(ctx, inputs, 0, 'X'))];
}

/** Variadic Max, Min, Sum: folded pairwise with broadcasting. */
function variadic(floatOp: FloatBinary, intOp: IntBinary): OpFactory {
  return (ctx) => (inputs) => {
    if (inputs.length === 0) malformed(ctx, 'needs at least one input');
    const first = input(ctx, inputs, 0, 'data_0');
    if (first instanceof IntValues) {
      let y = first;
      for (let i = 1; i < inputs.length; i++)
        y = intBinary(ctx, y, toInts(ctx, input(ctx, inputs, i, `data_${i}`), `data_${i}`), intOp);
      return [y];
    }
    let y = floatInput(ctx, inputs, 0, 'data_0');
    for (let i = 1; i < inputs.length; i++) {
      const next = floatInput(ctx, inputs, i, `data_${i}`);
      checkBroadcast(ctx, y, next);
      y = floatOp(y, next);
    }
    return [y];
  };
}

/** x where x ≥ 0, alpha·x elsewhere: relu(x) − alpha·relu(−x), exact in float32 and differentiable. */
const leakyRelu: OpFactory = (ctx) => {
  const alpha = ctx.attrs.float('alpha', 0.01);
  return (inputs) => {
    const x = floatInput(ctx, inputs, 0, 'X');
    return [sub(relu(x), mul(relu(neg(x)), alpha))];
  };
};

/** Bounds as attributes before opset 11, as optional inputs from 11 on; absent bounds do not clip. */
const clip: OpFactory = (ctx) => {
  const legacy = ctx.opset < 11;
  const minAttr = legacy ? ctx.attrs.float('min') : undefined;
  const maxAttr = legacy ? ctx.attrs.float('max') : undefined;
  return (inputs) => {
    const x = input(ctx, inputs, 0, 'input');
    const low = legacy ? minAttr : inputs[1] ? scalarOf(inputs[1]) : undefined;
    const high = legacy ? maxAttr : inputs[2] ? scalarOf(inputs[2]) : undefined;
    if (x instanceof IntValues) {
      const values = x.values.map((v) => Math.min(Math.max(v, low ?? -Infinity), high ?? Infinity));
      return [new IntValues(x.shape, values, x.dataType)];
    }
    let y = floatInput(ctx, inputs, 0, 'input');
    // As NumPy's clip: the lower bound first, so min > max gives max everywhere.
    if (low !== undefined) y = maximum(y, low);
    if (high !== undefined) y = minimum(y, high);
    return [y];
  };
};

export const elementwiseOps: Record<string, OpFactory> = {
  Add: binary(add, (a, b) => a + b),
  Sub: binary(sub, (a, b) => a - b),
  Mul: binary(mul, (a, b) => a * b),
  // Integer division truncates, as ONNX's reference (C semantics).
  Div: binary(div, (a, b) => Math.trunc(a / b)),
  Relu: unary(relu),
  Sigmoid: unary(sigmoid),
  Tanh: unary(tanh),
  LeakyRelu: leakyRelu,
  Clip: clip,
  Neg: unary(neg),
  Abs: unary(abs),
  Exp: unary(exp),
  Log: unary(log),
  Sqrt: unary(sqrt),
  Reciprocal: unary(reciprocal),
  Max: variadic(maximum, Math.max),
  Min: variadic(minimum, Math.min),
  Sum: variadic(add, (a, b) => a + b),
};
