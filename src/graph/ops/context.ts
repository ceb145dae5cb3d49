/**
 * The contract between the importer and each operator: a factory reads and checks a node's attributes once, when
 * the model is imported (so an unsupported attribute is an error at import, naming the node), and returns the
 * kernel that runs the node on its input values.
 */
import { FormatError, formatShape } from '../../errors.js';
import type { Storage } from '../../backend/backend.js';
import { Tensor } from '../../tensor/index.js';
import type { NodeProto } from '../onnx-ir.js';
import { Attributes, DataType, IntValues, OnnxUnsupportedError, type Value } from '../values.js';
import { checkValueSize } from './budget.js';

export interface OpContext {
  readonly node: NodeProto;
  readonly attrs: Attributes;
  /** The version of the default ('ai.onnx') operator set the model imports. */
  readonly opset: number;
  /** "node 'conv1' (Conv)", for messages. */
  readonly where: string;
  /** The most bytes one value of a run may take (ImportOnnxOptions.maxBytes): see budget.ts. */
  readonly maxBytes: number;
  /**
   * Compiles a graph attribute (If's branches, Loop's body). The names it reads from the graphs around it become
   * inputs of this node, after its own: the kernel receives their values there.
   */
  subgraph(attribute: string): Subgraph;
  /** The value of input i when it is a constant of the model (an initialiser or a Constant's output). */
  constantInput(i: number): Value | undefined;
  /** The kernel's input values by name, its subgraphs' reads from around included (absent inputs left out). */
  byName(inputs: readonly (Value | null)[]): Map<string, Value>;
}

/** A graph attribute compiled: run with its own inputs and the values it reads from the graphs around it. */
export interface Subgraph {
  /** Names it reads from the graphs around it. */
  readonly captures: readonly string[];
  /** Its initialisers' and Constants' values (and those of graphs inside it): kept for the model's lifetime. */
  readonly held: readonly Value[];
  /** Its outputs, in the order of the graph's outputs. */
  run(inputs: readonly Value[], around: ReadonlyMap<string, Value>): Value[];
}

/**
 * Runs a node: one value per input (null where an optional input is absent), one per output. `consumable(i)` says
 * whether input i is read for the last time and nothing else holds it: the kernel may then dispose it and reuse
 * its memory (inference only; the model disposes it after the node otherwise).
 */
export type Kernel = (inputs: readonly (Value | null)[], consumable?: (i: number) => boolean) => Value[];
export type OpFactory = (ctx: OpContext) => Kernel;

export function unsupported(ctx: OpContext, what: string, reason: string): never {
  throw new OnnxUnsupportedError(`${ctx.where}: ${what} is not supported`, reason);
}

export function malformed(ctx: OpContext, what: string): never {
  throw new FormatError(`${ctx.where}: ${what}`);
}

/** Refuses outputs beyond the first `count` (MaxPool's Indices, BatchNormalization's training statistics). */
export function limitOutputs(ctx: OpContext, count: number, what: string): void {
  const extra = ctx.node.output.slice(count).filter((name) => name !== '');
  if (extra.length > 0)
    unsupported(ctx, `output ${count + 1} (${what})`, `${ctx.node.opType} output ${what}`);
}

export function input(ctx: OpContext, inputs: readonly (Value | null)[], i: number, what: string): Value {
  const v = inputs[i] ?? null;
  if (v === null) malformed(ctx, `input ${i + 1} (${what}) is missing`);
  return v;
}

export function floatInput(
  ctx: OpContext,
  inputs: readonly (Value | null)[],
  i: number,
  what: string,
): Tensor {
  const v = input(ctx, inputs, i, what);
  if (v instanceof Tensor && v.dtype === 'float32') return v;
  return unsupported(
    ctx,
    `integer input ${i + 1} (${what}, ${formatShape(v.shape)})`,
    `${ctx.node.opType} on integer data`,
  );
}

/** Integer values from an int tensor or host values; a float input is an error (ONNX types these inputs int64). */
export function intInput(
  ctx: OpContext,
  inputs: readonly (Value | null)[],
  i: number,
  what: string,
): IntValues {
  return toInts(ctx, input(ctx, inputs, i, what), `input ${i + 1} (${what})`);
}

export function toInts(ctx: OpContext, v: Value, what: string): IntValues {
  if (v instanceof IntValues) return v;
  if (v.dtype === 'int32') return new IntValues(v.shape, Array.from(v.data()));
  return malformed(ctx, `${what} must hold integers, got float data ${formatShape(v.shape)}`);
}

/** Scalars read from tensors, by storage: a storage's values never change (assign() swaps in a new one). */
const scalars = new WeakMap<Storage, number>();

/**
 * The first value of a scalar input (Pad's constant value, Clip's bounds). Read once per storage, so that runs
 * of a graph whose scalars are constants read no values back (which would keep them from being replayed).
 */
export function scalarOf(v: Value): number {
  if (v instanceof IntValues) return v.values[0];
  let value = scalars.get(v.storage);
  if (value === undefined) {
    value = v.data()[0];
    scalars.set(v.storage, value);
  }
  return value;
}

export function product(dims: readonly number[]): number {
  return dims.reduce((n, d) => n * d, 1);
}

/** An axis in [−rank, rank) made non-negative; anything else is an error naming the node. */
export function axisIn(ctx: OpContext, axis: number, rank: number, what = 'axis'): number {
  const a = axis < 0 ? axis + rank : axis;
  if (!Number.isInteger(a) || a < 0 || a >= rank)
    malformed(ctx, `${what} ${axis} is out of range for rank ${rank}`);
  return a;
}

// ---- integer data on the host ----

/** NumPy broadcasting of two shapes. */
export function broadcastShape(ctx: OpContext, a: readonly number[], b: readonly number[]): number[] {
  const rank = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < rank; i++) {
    const da = a[a.length - rank + i] ?? 1;
    const db = b[b.length - rank + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) {
      malformed(ctx, `shapes ${formatShape(a)} and ${formatShape(b)} do not broadcast`);
    }
    out.push(da === 1 ? db : da);
  }
  return out;
}

/** Row-major strides of a shape, with 0 where a broadcast dimension repeats. */
function broadcastStrides(shape: readonly number[], out: readonly number[]): number[] {
  const strides = new Array<number>(out.length).fill(0);
  let stride = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    const o = out.length - shape.length + i;
    strides[o] = shape[i] === 1 ? 0 : stride;
    stride *= shape[i];
  }
  return strides;
}

/** An elementwise operation on integer values with broadcasting. */
export function intBinary(
  ctx: OpContext,
  a: IntValues,
  b: IntValues,
  f: (x: number, y: number) => number,
): IntValues {
  const shape = broadcastShape(ctx, a.shape, b.shape);
  checkValueSize(
    ctx,
    shape,
    'integer',
    `broadcasting inputs ${formatShape(a.shape)} and ${formatShape(b.shape)}`,
  );
  const size = product(shape);
  const sa = broadcastStrides(a.shape, shape);
  const sb = broadcastStrides(b.shape, shape);
  const out = new Array<number>(size);
  const index = new Array<number>(shape.length).fill(0);
  for (let i = 0; i < size; i++) {
    let ia = 0;
    let ib = 0;
    for (let d = 0; d < shape.length; d++) {
      ia += index[d] * sa[d];
      ib += index[d] * sb[d];
    }
    out[i] = f(a.values[ia], b.values[ib]);
    for (let d = shape.length - 1; d >= 0; d--) {
      if (++index[d] < shape[d]) break;
      index[d] = 0;
    }
  }
  return new IntValues(shape, wrapTo(a.dataType, out), a.dataType);
}

/** Integer arithmetic results brought into their type's range, wrapping as C does (uint8 250 + 10 = 4). */
export function wrapTo(dataType: number, values: number[]): number[] {
  const bits: Partial<Record<number, [number, boolean]>> = {
    [DataType.INT8]: [8, true],
    [DataType.UINT8]: [8, false],
    [DataType.INT16]: [16, true],
    [DataType.UINT16]: [16, false],
    [DataType.INT32]: [32, true],
    [DataType.UINT32]: [32, false],
  };
  const width = bits[dataType];
  if (width === undefined) return values;
  const [n, signed] = width;
  const range = 2 ** n;
  return values.map((v) => {
    const wrapped = ((v % range) + range) % range;
    return signed && wrapped >= range / 2 ? wrapped - range : wrapped;
  });
}

export function intPermute(v: IntValues, perm: readonly number[]): IntValues {
  const shape = perm.map((p) => v.shape[p]);
  const inStrides = new Array<number>(v.rank);
  let stride = 1;
  for (let d = v.rank - 1; d >= 0; d--) {
    inStrides[d] = stride;
    stride *= v.shape[d];
  }
  const out = new Array<number>(v.size);
  const index = new Array<number>(shape.length).fill(0);
  for (let i = 0; i < v.size; i++) {
    let from = 0;
    for (let d = 0; d < shape.length; d++) from += index[d] * inStrides[perm[d]];
    out[i] = v.values[from];
    for (let d = shape.length - 1; d >= 0; d--) {
      if (++index[d] < shape[d]) break;
      index[d] = 0;
    }
  }
  return new IntValues(shape, out, v.dataType);
}

export function intConcat(ctx: OpContext, vs: readonly IntValues[], axis: number): IntValues {
  const first = vs[0];
  for (const v of vs) {
    if (v.rank !== first.rank || v.shape.some((d, i) => i !== axis && d !== first.shape[i])) {
      malformed(
        ctx,
        `cannot join ${formatShape(first.shape)} and ${formatShape(v.shape)} along axis ${axis}`,
      );
    }
  }
  const outer = product(first.shape.slice(0, axis));
  const out: number[] = [];
  for (let o = 0; o < outer; o++) {
    for (const v of vs) {
      const block = product(v.shape.slice(axis));
      for (let i = 0; i < block; i++) out.push(v.values[o * block + i]);
    }
  }
  const shape = first.shape.map((d, i) => (i === axis ? vs.reduce((n, v) => n + v.shape[axis], 0) : d));
  return new IntValues(shape, out, first.dataType);
}

/** The slices of v at the given positions along an axis; a negative position gives `fill` (Pad's constant). */
export function intGatherAlong(
  v: IntValues,
  axis: number,
  positions: readonly number[],
  fill = 0,
): IntValues {
  const outer = product(v.shape.slice(0, axis));
  const inner = product(v.shape.slice(axis + 1));
  const extent = v.shape[axis];
  const out: number[] = [];
  for (let o = 0; o < outer; o++) {
    for (const p of positions) {
      for (let i = 0; i < inner; i++) out.push(p < 0 ? fill : v.values[(o * extent + p) * inner + i]);
    }
  }
  return new IntValues(
    v.shape.map((d, i) => (i === axis ? positions.length : d)),
    out,
    v.dataType,
  );
}
