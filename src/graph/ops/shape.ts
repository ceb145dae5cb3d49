/**
 * Operators that move data without arithmetic: Flatten, Reshape, Concat, Pad, Identity, Constant, Shape, Gather,
 * Unsqueeze, Squeeze, Transpose. Each works on float tensors (with gradients) and on integer host values, which
 * is what shape arithmetic (Shape → Gather → Unsqueeze → Concat → Reshape) produces.
 */
import { MAX_TENSOR_ELEMENTS } from '../../backend/shapes.js';
import { formatShape } from '../../errors.js';
import {
  Tensor,
  broadcastTo,
  concat,
  full,
  pad,
  permute,
  reshape,
  slice,
  tensor,
} from '../../tensor/index.js';
import { DataType, IntValues, arrayToValue, dataTypeName, type Value } from '../values.js';
import { checkAtLeast, checkSizeIntegers, checkValueSize, kindOf, type ValueKind } from './budget.js';
import {
  type OpContext,
  type OpFactory,
  axisIn,
  broadcastShape,
  input,
  intBinary,
  intConcat,
  intGatherAlong,
  intInput,
  intPermute,
  malformed,
  product,
  scalarOf,
  toInts,
  unsupported,
} from './context.js';

/** The same values under another shape, for either kind of value. */
export function reshapeValue(v: Value, shape: readonly number[]): Value {
  if (v instanceof IntValues) return new IntValues(shape, v.values, v.dataType);
  return reshape(v, shape);
}

const identity: OpFactory = () => (inputs) => [inputs[0] as Value];

const flatten: OpFactory = (ctx) => {
  const axis = ctx.attrs.int('axis', 1);
  return (inputs) => {
    const x = input(ctx, inputs, 0, 'input');
    const rank = x.shape.length;
    const a = axis < 0 ? axis + rank : axis;
    if (a < 0 || a > rank) malformed(ctx, `axis ${axis} is out of range for rank ${rank}`);
    return [reshapeValue(x, [product(x.shape.slice(0, a)), product(x.shape.slice(a))])];
  };
};

/** ONNX's Reshape rule: 0 copies the input's dimension (unless allowzero), −1 is inferred from the rest. */
export function resolveReshape(
  ctx: OpContext,
  inputShape: readonly number[],
  requested: readonly number[],
  allowZero: boolean,
): number[] {
  const shape = requested.map((d, i) => {
    if (d === 0 && !allowZero) {
      if (i >= inputShape.length)
        malformed(ctx, `shape ${formatShape(requested)}: no input dimension ${i} to copy`);
      return inputShape[i];
    }
    return d;
  });
  const size = product(inputShape);
  const inferred = shape.filter((d) => d === -1).length;
  const known = product(shape.filter((d) => d !== -1));
  if (inferred > 1 || shape.some((d) => d < -1 || !Number.isInteger(d))) {
    malformed(ctx, `shape ${formatShape(requested)} is not a valid target`);
  }
  if (inferred === 1) {
    if (known === 0 || size % known !== 0) {
      malformed(ctx, `cannot reshape ${formatShape(inputShape)} to ${formatShape(requested)}`);
    }
    return shape.map((d) => (d === -1 ? size / known : d));
  }
  if (known !== size)
    malformed(ctx, `cannot reshape ${formatShape(inputShape)} to ${formatShape(requested)}`);
  return shape;
}

const reshapeOp: OpFactory = (ctx) => {
  const allowZero = ctx.attrs.int('allowzero', 0) !== 0;
  // Before opset 5 the target shape was an attribute.
  const shapeAttribute = ctx.opset < 5 ? ctx.attrs.ints('shape') : undefined;
  ctx.attrs.ignore('consumed_inputs');
  const what = shapeAttribute === undefined ? "input 'shape'" : "attribute 'shape'";
  const constant = ctx.constantInput(1);
  const known = shapeAttribute ?? (constant instanceof IntValues ? constant.values : []);
  checkSizeIntegers(ctx, what, known, -1);
  return (inputs) => {
    const x = input(ctx, inputs, 0, 'data');
    const requested = shapeAttribute ?? intInput(ctx, inputs, 1, 'shape').values;
    checkSizeIntegers(ctx, what, requested, -1);
    return [reshapeValue(x, resolveReshape(ctx, x.shape, requested, allowZero))];
  };
};

const concatOp: OpFactory = (ctx) => {
  const axis = ctx.attrs.int('axis', ctx.opset < 4 ? 1 : NaN);
  if (Number.isNaN(axis)) malformed(ctx, "attribute 'axis' is required");
  return (inputs) => {
    const values = inputs.filter((v): v is Value => v !== null);
    if (values.length === 0) malformed(ctx, 'needs at least one input');
    const a = axisIn(ctx, axis, values[0].shape.length);
    const joined = values[0].shape.map((d, i) =>
      i === a ? values.reduce((n, v) => n + (v.shape[a] ?? 0), 0) : d,
    );
    checkValueSize(ctx, joined, kindOf(values[0]), `${values.length} inputs joined along axis ${a}`);
    if (values.every((v) => v instanceof IntValues)) return [intConcat(ctx, values as IntValues[], a)];
    if (values.some((v) => v instanceof IntValues)) malformed(ctx, 'inputs mix integer and float data');
    // Empty inputs add nothing; convnets' concat needs every dimension positive.
    const tensors = (values as Tensor[]).filter((t) => t.size > 0);
    return [tensors.length === 0 ? (values[0] as Tensor) : concat(tensors, a)];
  };
};

/**
 * Checks pads at import (an attribute, or a constant input): integers a typed array can hold, and an axis padded by
 * no more than the budget allows, whatever the input.
 */
function checkPadsAtImport(ctx: OpContext, what: string, pads: readonly number[]): void {
  checkSizeIntegers(ctx, what, pads, -MAX_TENSOR_ELEMENTS);
  const rank = pads.length / 2;
  const widest = Math.max(
    0,
    ...pads.slice(0, rank).map((p, d) => Math.max(0, p) + Math.max(0, pads[rank + d])),
  );
  checkAtLeast(ctx, widest, 'tensor', `${what} [${pads.join(', ')}]`);
}

/**
 * Constant, edge and reflect padding; negative pads crop. Pads come as an attribute before opset 11, as an input
 * from 11 on.
 */
const padOp: OpFactory = (ctx) => {
  const mode = ctx.attrs.string('mode', 'constant');
  if (mode !== 'constant' && mode !== 'reflect' && mode !== 'edge')
    unsupported(ctx, `mode '${mode}'`, `Pad mode ${mode}`);
  const legacy = ctx.opset < 11;
  const padsAttribute = legacy ? (ctx.attrs.ints('pads') ?? ctx.attrs.ints('paddings')) : undefined;
  const what = !legacy ? "input 'pads'" : ctx.attrs.has('pads') ? "attribute 'pads'" : "attribute 'paddings'";
  const valueAttribute = legacy ? ctx.attrs.float('value', 0) : 0;
  const constantPads = ctx.constantInput(1);
  const knownPads =
    padsAttribute ?? (!legacy && constantPads instanceof IntValues ? constantPads.values : undefined);
  if (knownPads !== undefined) checkPadsAtImport(ctx, what, knownPads);
  return (inputs) => {
    const x = input(ctx, inputs, 0, 'data');
    const pads = padsAttribute ?? intInput(ctx, inputs, 1, 'pads').values;
    if (inputs[3]) unsupported(ctx, "input 'axes'", 'Pad axes input');
    const value = legacy ? valueAttribute : inputs[2] ? scalarOf(inputs[2]) : 0;
    const rank = x.shape.length;
    if (pads.length !== 2 * rank) {
      malformed(ctx, `pads has ${pads.length} values, input rank ${rank} needs ${2 * rank}`);
    }
    checkSizeIntegers(ctx, what, pads, -MAX_TENSOR_ELEMENTS);
    const before = pads.slice(0, rank);
    const after = pads.slice(rank);
    const padded = x.shape.map((n, d) => n + before[d] + after[d]);
    if (padded.some((n) => n < 0)) {
      malformed(ctx, `pads [${pads.join(', ')}] crop more than ${formatShape(x.shape)}`);
    }
    checkValueSize(ctx, padded, kindOf(x), `${what} [${pads.join(', ')}] on input ${formatShape(x.shape)}`);
    if (x instanceof Tensor && mode === 'constant') return [padConstant(x, before, after, value)];
    if (x instanceof Tensor && mode === 'edge') return [padEdge(ctx, x, before, after)];
    // Otherwise a gather along each padded axis: position −1 is the constant, edge repeats the border element,
    // reflect mirrors about it. The positions are as many as the output's extent: bounded by the checks above, and
    // by the input's extent for reflect.
    let y: Value = x;
    for (let d = 0; d < rank; d++) {
      const [p, q, n] = [before[d], after[d], x.shape[d]];
      if (p === 0 && q === 0) continue;
      if (mode === 'reflect' && (p > n - 1 || q > n - 1))
        malformed(ctx, `reflect pads exceed axis ${d} of size ${n}`);
      const positions = Array.from({ length: p + n + q }, (_, i) => {
        const at = i - p;
        if (at >= 0 && at < n) return at;
        if (mode === 'constant') return -1;
        if (mode === 'edge') return Math.min(Math.max(at, 0), n - 1);
        return at < 0 ? -at : 2 * (n - 1) - at;
      });
      if (y instanceof IntValues) y = intGatherAlong(y, d, positions, value);
      else if (positions.length === 0) unsupported(ctx, 'an empty result', 'Pad to an empty tensor');
      else y = gatherAlong(y, d, positions);
    }
    return [y];
  };
};

/** x less the elements negative pads crop. */
function crop(x: Tensor, before: readonly number[], after: readonly number[]): Tensor {
  if (![...before, ...after].some((p) => p < 0)) return x;
  const begin = before.map((p) => Math.max(0, -p));
  return slice(
    x,
    begin,
    x.shape.map((d, i) => d - begin[i] - Math.max(0, -after[i])),
  );
}

/** Constant padding of a float tensor: negative pads crop first, then one pad. */
function padConstant(x: Tensor, before: readonly number[], after: readonly number[], value: number): Tensor {
  let y = crop(x, before, after);
  if ([...before, ...after].some((p) => p > 0)) {
    y = pad(
      y,
      before.map((p) => Math.max(0, p)),
      after.map((p) => Math.max(0, p)),
      value,
    );
  }
  return y;
}

/**
 * Edge padding of a float tensor: negative pads crop first, then each padded axis is joined with its first and last
 * slices broadcast to the pads' width (as many tensors as axes, whatever the pads).
 */
function padEdge(ctx: OpContext, x: Tensor, before: readonly number[], after: readonly number[]): Tensor {
  let y = crop(x, before, after);
  for (let d = 0; d < y.rank; d++) {
    const [p, q, n] = [Math.max(0, before[d]), Math.max(0, after[d]), y.shape[d]];
    if (p === 0 && q === 0) continue;
    if (n === 0) malformed(ctx, `edge pads of axis ${d}, which is empty`);
    const border = (at: number, width: number): Tensor =>
      broadcastTo(
        slice(
          y,
          y.shape.map((_, i) => (i === d ? at : 0)),
          y.shape.map((extent, i) => (i === d ? 1 : extent)),
        ),
        y.shape.map((extent, i) => (i === d ? width : extent)),
      );
    y = concat([...(p > 0 ? [border(0, p)] : []), y, ...(q > 0 ? [border(n - 1, q)] : [])], d);
  }
  return y;
}

/** Computed once at import: the value never changes. */
const constant: OpFactory = (ctx) => {
  const { attrs } = ctx;
  let value: Value;
  const t = attrs.tensor('value');
  if (t !== undefined) value = arrayToValue(t);
  else if (attrs.has('value_float')) value = full([], attrs.float('value_float', 0));
  else if (attrs.has('value_floats')) {
    const floats = attrs.floats('value_floats') ?? [];
    value = arrayToValue({ kind: 'float', dims: [floats.length], values: Float32Array.from(floats) });
  } else if (attrs.has('value_int')) value = new IntValues([], [attrs.int('value_int', 0)]);
  else if (attrs.has('value_ints')) {
    const ints = attrs.ints('value_ints') ?? [];
    value = new IntValues([ints.length], ints);
  } else {
    const other = ['sparse_value', 'value_string', 'value_strings'].find((name) => attrs.has(name));
    if (other !== undefined) unsupported(ctx, `attribute '${other}'`, `Constant ${other}`);
    malformed(ctx, 'has no value attribute');
  }
  return () => [value];
};

/** Shape, with opset 15's start and end (clamped, negative from the end). */
const shapeOp: OpFactory = (ctx) => {
  const start = ctx.attrs.int('start', 0);
  const end = ctx.attrs.int('end');
  return (inputs) => {
    const shape = input(ctx, inputs, 0, 'data').shape;
    const clamp = (i: number) => Math.min(Math.max(i < 0 ? i + shape.length : i, 0), shape.length);
    const kept = shape.slice(clamp(start), end === undefined ? shape.length : clamp(end));
    return [new IntValues([kept.length], kept)];
  };
};

/**
 * The slices of x at the given positions along an axis, in order: one slice per ascending run, joined.
 * Differentiable, on any backend.
 */
export function gatherAlong(x: Tensor, axis: number, positions: readonly number[]): Tensor {
  const pieces: Tensor[] = [];
  for (let start = 0; start < positions.length;) {
    let stop = start + 1;
    while (stop < positions.length && positions[stop] === positions[stop - 1] + 1) stop++;
    const begin = x.shape.map((_, d) => (d === axis ? positions[start] : 0));
    const size = x.shape.map((dim, d) => (d === axis ? stop - start : dim));
    pieces.push(slice(x, begin, size));
    start = stop;
  }
  return pieces.length === 1 ? pieces[0] : concat(pieces, axis);
}

const gather: OpFactory = (ctx) => {
  const axis = ctx.attrs.int('axis', 0);
  return (inputs) => {
    const data = input(ctx, inputs, 0, 'data');
    const indices = intInput(ctx, inputs, 1, 'indices');
    const a = axisIn(ctx, axis, data.shape.length);
    const extent = data.shape[a];
    const picked = indices.values.map((i, at) => {
      const index = i < 0 ? i + extent : i;
      if (!Number.isInteger(index) || index < 0 || index >= extent) {
        malformed(ctx, `index ${i} (at ${at}) is out of range for axis ${axis} of size ${extent}`);
      }
      return index;
    });
    const outShape = [...data.shape.slice(0, a), ...indices.shape, ...data.shape.slice(a + 1)];
    checkValueSize(
      ctx,
      outShape,
      kindOf(data),
      `indices ${formatShape(indices.shape)} into data ${formatShape(data.shape)}`,
    );
    const outer = product(data.shape.slice(0, a));
    const inner = product(data.shape.slice(a + 1));
    if (data instanceof IntValues) {
      const out: number[] = [];
      for (let o = 0; o < outer; o++) {
        for (const index of picked) {
          const base = (o * extent + index) * inner;
          for (let i = 0; i < inner; i++) out.push(data.values[base + i]);
        }
      }
      return [new IntValues(outShape, out, data.dataType)];
    }
    if (picked.length === 0) unsupported(ctx, 'empty indices', 'Gather with empty indices');
    return [reshape(gatherAlong(data, a, picked), outShape)];
  };
};

/** Axes from the attribute (before opset 13) or the input (from 13 on). */
function axesFrom(
  ctx: OpContext,
  inputs: readonly (Value | null)[],
  fromAttribute: number[] | undefined,
): number[] | undefined {
  if (ctx.opset < 13) return fromAttribute;
  const v = inputs[1] ?? null;
  return v === null ? undefined : toInts(ctx, v, "input 2 ('axes')").values.slice();
}

const unsqueeze: OpFactory = (ctx) => {
  const attribute = ctx.opset < 13 ? ctx.attrs.ints('axes') : undefined;
  return (inputs) => {
    const x = input(ctx, inputs, 0, 'data');
    const axes = axesFrom(ctx, inputs, attribute);
    if (axes === undefined) malformed(ctx, 'needs axes');
    const rank = x.shape.length + axes.length;
    const normalised = axes.map((axis) => axisIn(ctx, axis, rank, 'axis'));
    if (new Set(normalised).size !== normalised.length) malformed(ctx, `axes [${axes.join(', ')}] repeat`);
    const shape: number[] = [];
    let next = 0;
    for (let d = 0; d < rank; d++) shape.push(normalised.includes(d) ? 1 : x.shape[next++]);
    return [reshapeValue(x, shape)];
  };
};

const squeeze: OpFactory = (ctx) => {
  const attribute = ctx.opset < 13 ? ctx.attrs.ints('axes') : undefined;
  return (inputs) => {
    const x = input(ctx, inputs, 0, 'data');
    const axes = axesFrom(ctx, inputs, attribute);
    const rank = x.shape.length;
    const dropped =
      axes?.map((axis) => axisIn(ctx, axis, rank)) ?? x.shape.flatMap((d, i) => (d === 1 ? [i] : []));
    for (const d of dropped) {
      if (x.shape[d] !== 1) malformed(ctx, `axis ${d} of ${formatShape(x.shape)} is not 1`);
    }
    return [
      reshapeValue(
        x,
        x.shape.filter((_, i) => !dropped.includes(i)),
      ),
    ];
  };
};

const transpose: OpFactory = (ctx) => {
  const perm = ctx.attrs.ints('perm');
  return (inputs) => {
    const x = input(ctx, inputs, 0, 'data');
    const rank = x.shape.length;
    const order = perm ?? x.shape.map((_, i) => rank - 1 - i);
    if (order.length !== rank || new Set(order.map((p) => axisIn(ctx, p, rank))).size !== rank) {
      malformed(ctx, `perm [${order.join(', ')}] is not a permutation of ${rank} axes`);
    }
    const axes = order.map((p) => axisIn(ctx, p, rank));
    return [x instanceof IntValues ? intPermute(x, axes) : permute(x, axes)];
  };
};

/**
 * Checks a shape input that sizes an output (Expand, ConstantOfShape): integers a typed array can hold; at import,
 * where it is a constant, an output of at least its element count within the budget.
 */
export function checkShapeInput(
  ctx: OpContext,
  shape: readonly number[],
  kind: ValueKind,
  what = "input 'shape'",
): void {
  checkSizeIntegers(ctx, what, shape, 0);
  checkAtLeast(ctx, product(shape), kind, `${what} ${formatShape(shape)}`);
}

/** NumPy broadcasting of the input to a shape (either may have more axes). */
const expand: OpFactory = (ctx) => {
  const constant = ctx.constantInput(1);
  if (constant instanceof IntValues) {
    const x = ctx.constantInput(0);
    checkShapeInput(ctx, constant.values, x === undefined ? 'tensor' : kindOf(x));
  }
  return (inputs) => {
    const x = input(ctx, inputs, 0, 'input');
    const requested = intInput(ctx, inputs, 1, 'shape').values;
    checkSizeIntegers(ctx, "input 'shape'", requested, 0);
    const target = broadcastShape(ctx, x.shape, requested);
    checkValueSize(
      ctx,
      target,
      kindOf(x),
      `input 'shape' ${formatShape(requested)} on input ${formatShape(x.shape)}`,
    );
    if (x instanceof IntValues)
      return [intBinary(ctx, x, new IntValues(target, new Array<number>(product(target)).fill(0)), (v) => v)];
    return [broadcastTo(x, target)];
  };
};

const floatTargets: readonly number[] = [
  DataType.FLOAT,
  DataType.DOUBLE,
  DataType.FLOAT16,
  DataType.BFLOAT16,
];
const intTargets: readonly number[] = [
  DataType.INT64,
  DataType.INT32,
  DataType.INT16,
  DataType.INT8,
  DataType.BOOL,
];

/** Cast between float (float32 here, whatever the target's width) and integers (truncated toward zero, as C). */
const cast: OpFactory = (ctx) => {
  // Before opset 6 the target type was a string ('FLOAT').
  const named = ctx.opset < 6 ? ctx.attrs.string('to') : undefined;
  const to = named === undefined ? ctx.attrs.int('to') : DataType[named as keyof typeof DataType];
  ctx.attrs.ignore('saturate');
  if (to === undefined) malformed(ctx, "attribute 'to' is required");
  const toFloat = floatTargets.includes(to);
  if (!toFloat && !intTargets.includes(to))
    unsupported(ctx, `cast to ${dataTypeName(to)}`, `Cast to ${dataTypeName(to)}`);
  return (inputs) => {
    const x = input(ctx, inputs, 0, 'input');
    if (toFloat) return [x instanceof IntValues ? tensor(Float32Array.from(x.values), x.shape) : x];
    checkValueSize(ctx, x.shape, 'integer', `input ${formatShape(x.shape)} cast to ${dataTypeName(to)}`);
    const values = x instanceof IntValues ? x.values : Array.from(x.data());
    const converted =
      to === DataType.BOOL ? values.map((v) => (v !== 0 ? 1 : 0)) : values.map((v) => Math.trunc(v));
    return [new IntValues(x.shape, converted, to)];
  };
};

export const shapeOps: Record<string, OpFactory> = {
  Cast: cast,
  Expand: expand,
  Identity: identity,
  Flatten: flatten,
  Reshape: reshapeOp,
  Concat: concatOp,
  Pad: padOp,
  Constant: constant,
  Shape: shapeOp,
  Gather: gather,
  Unsqueeze: unsqueeze,
  Squeeze: squeeze,
  Transpose: transpose,
};
