/**
 * What a model run may allocate. Operators whose attributes or constant inputs size a value (pads, windows, shapes,
 * broadcasts) check the size they imply before anything is allocated: at import where the file alone decides it, at
 * run time against the input's shape. A file that implies more is refused with an error naming the node, the
 * attribute and the sizes, instead of reaching V8's heap limit (a fatal error no `try` catches) or an untyped
 * RangeError from a typed array constructor.
 */
import { MAX_TENSOR_ELEMENTS } from '../../backend/shapes.js';
import { FormatError, ShapeError, formatShape } from '../../errors.js';
import { IntValues, type Value } from '../values.js';

/**
 * The default of ImportOnnxOptions.maxBytes, the most bytes one value of a run may take. The largest activation of
 * the classic CNNs at 224×224 stays under it up to batch 64 (VGG-16's first convolutions: 64·64·224·224 float32 =
 * 822 MB; ResNet-50's largest, 256·56·56, reaches that at batch 256), while a file of a few hundred bytes that asks
 * for more (pads of 2^28, an LRN window of 2^31, a shape of 2^31 elements) is refused before it is allocated.
 * Larger batches pass a larger maxBytes.
 */
export const DEFAULT_MAX_BYTES = 2 ** 30;

/**
 * The most integers one host value may hold, whatever maxBytes allows. Integer data (shapes, indices, masks) lives in
 * JavaScript arrays on V8's own heap, 8 bytes or more each, and V8 stops the process when that heap is full: shape
 * arithmetic needs a handful, and 2^24 (128 MB) stays far from the heap's limit of a few GB.
 */
export const MAX_HOST_INTEGERS = 2 ** 24;

const TENSOR_ELEMENT_BYTES = 4;
const HOST_INTEGER_BYTES = 8;

/** Where a check runs: the node's name and operator for messages, and the model's budget. */
export interface BudgetContext {
  /** "node 'conv1' (Conv)". */
  readonly where: string;
  /** The most bytes one value of a run may take (ImportOnnxOptions.maxBytes). */
  readonly maxBytes: number;
}

/** A tensor (4 bytes an element, float32 or int32) or integers on the host (IntValues). */
export type ValueKind = 'tensor' | 'integer';

/** The most elements a value of this kind may hold under the budget. */
function elementLimit(budget: BudgetContext, kind: ValueKind): number {
  if (kind === 'tensor')
    return Math.min(Math.floor(budget.maxBytes / TENSOR_ELEMENT_BYTES), MAX_TENSOR_ELEMENTS);
  return Math.min(Math.floor(budget.maxBytes / HOST_INTEGER_BYTES), MAX_HOST_INTEGERS);
}

function limitReason(budget: BudgetContext, kind: ValueKind): string {
  return kind === 'tensor'
    ? `more than maxBytes (${budget.maxBytes} bytes) allows`
    : `more than the ${elementLimit(budget, kind)} integers a value may hold (maxBytes / ${HOST_INTEGER_BYTES}, at most ${MAX_HOST_INTEGERS})`;
}

function describeCount(count: number, kind: ValueKind): string {
  return kind === 'tensor'
    ? `${count} elements (${count * TENSOR_ELEMENT_BYTES} bytes)`
    : `${count} integers`;
}

/**
 * Checks a value an operator is about to make, before it is allocated: every dimension an integer a typed array can
 * hold, and the element count within the budget. `cause` says what sized it ("input 'pads' [0, 0, 1, 1] on input
 * [1, 1, 2, 2]"); a violation is a ShapeError naming the node, the cause and the shape.
 */
export function checkValueSize(
  budget: BudgetContext,
  shape: readonly number[],
  kind: ValueKind,
  cause: string,
): void {
  const gives = `${budget.where}: ${cause} gives ${formatShape(shape)}`;
  const bad = shape.find((d) => !Number.isSafeInteger(d) || d < 0 || d > MAX_TENSOR_ELEMENTS);
  if (bad !== undefined) {
    throw new ShapeError(
      `${gives}: dimension ${bad} is not a size a typed array can hold (an integer from 0 to ${MAX_TENSOR_ELEMENTS})`,
    );
  }
  const count = shape.reduce((n, d) => n * d, 1);
  if (count > elementLimit(budget, kind)) {
    throw new ShapeError(`${gives}: ${describeCount(count, kind)}, ${limitReason(budget, kind)}`);
  }
}

/**
 * Checks, at import, a value the file alone says is at least `count` elements: refused (a FormatError naming the
 * node and `cause`) when even that exceeds the budget, whatever the input.
 */
export function checkAtLeast(budget: BudgetContext, count: number, kind: ValueKind, cause: string): void {
  if (count > elementLimit(budget, kind)) {
    throw new FormatError(
      `${budget.where}: ${cause} needs at least ${describeCount(count, kind)}, ${limitReason(budget, kind)}`,
    );
  }
}

/**
 * Checks integers the file gives to size something (pads, strides, a window, a shape): each an integer from `min`
 * to MAX_TENSOR_ELEMENTS, so that sizes made from them are integers a typed array can hold. `what` names them
 * ("attribute 'pads'"); a violation is a FormatError naming the node, them and the value at fault.
 */
export function checkSizeIntegers(
  budget: BudgetContext,
  what: string,
  values: readonly number[],
  min: number,
): void {
  for (const v of values) {
    const reason =
      Math.abs(v) > MAX_TENSOR_ELEMENTS
        ? `more than a typed array can hold (${MAX_TENSOR_ELEMENTS} elements)`
        : !Number.isInteger(v)
          ? 'not an integer'
          : v < min
            ? `less than ${min}`
            : null;
    if (reason !== null) {
      const list = values.length > 8 ? `${values.slice(0, 8).join(', ')}, …` : values.join(', ');
      throw new FormatError(`${budget.where}: ${what} [${list}] holds ${v}, ${reason}`);
    }
  }
}

export function kindOf(v: Value): ValueKind {
  return v instanceof IntValues ? 'integer' : 'tensor';
}

/**
 * The last line of defence, after a node ran: each value it made (not one of its inputs passed through) within the
 * budget, so that a value no operator check foresaw goes no further.
 */
export function checkOutputs(
  budget: BudgetContext,
  outputs: readonly Value[],
  inputs: readonly (Value | null)[],
  names: readonly string[],
): void {
  outputs.forEach((v, i) => {
    if (inputs.includes(v)) return;
    checkValueSize(budget, v.shape, kindOf(v), `output ${i + 1}${names[i] ? ` ('${names[i]}')` : ''}`);
  });
}
