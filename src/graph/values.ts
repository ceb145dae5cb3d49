/**
 * What flows along an imported ONNX graph's edges: float data as convnets tensors (on the active backend, with
 * gradients), integer data (shapes, indices, axes, int64 tensors) as plain JavaScript arrays, so that shape
 * arithmetic (Shape → Gather → Concat → Reshape) never leaves the host and int64 values are not narrowed.
 */
import { FormatError, formatShape } from '../errors.js';
import { Tensor, tensor } from '../tensor/index.js';
import {
  AttributeType,
  DataType,
  dataTypeName,
  type AttributeProto,
  type GraphProto,
  type NodeProto,
  type OnnxArray,
} from './onnx-ir.js';

/** Integer values on the host, row-major; dataType is the ONNX type they came as (INT64 unless told). */
export class IntValues {
  readonly size: number;
  constructor(
    readonly shape: readonly number[],
    readonly values: readonly number[],
    readonly dataType: number = DataType.INT64,
  ) {
    this.size = shape.reduce((n, d) => n * d, 1);
    if (this.size !== values.length) {
      throw new FormatError(`${values.length} integer values do not fill shape ${formatShape(shape)}`);
    }
  }

  get rank(): number {
    return this.shape.length;
  }

  /** A short rendering for messages: the shape and the first values. */
  toString(): string {
    return `IntValues(${formatShape(this.shape)}) [${this.values.slice(0, 8).join(', ')}${this.size > 8 ? ', …' : ''}]`;
  }
}

/** A value in an ONNX graph: a float tensor or integers (shapes, indices). */
export type Value = Tensor | IntValues;

/**
 * Something the importer does not run: an operator, an attribute value, a data type. A FormatError, so callers
 * that only care whether a file loads need no new case; the backend-test runner counts these as skipped.
 */
export class OnnxUnsupportedError extends FormatError {
  constructor(
    message: string,
    /** The short reason, for tallies: 'op Resize', 'MaxPool attribute dilations'. */
    readonly reason: string,
  ) {
    super(message);
  }
}

/** Float values of an ONNX array as a tensor, integer ones as IntValues. */
export function arrayToValue(array: OnnxArray): Value {
  if (array.kind === 'float') return tensor(array.values, array.dims);
  return new IntValues(array.dims, array.values, array.dataType);
}

/** A convnets tensor for a host value: float32 as is, integers as int32 (checked to fit). */
export function valueToTensor(v: Value, what: string): Tensor {
  if (v instanceof Tensor) return v;
  const bad = v.values.findIndex((x) => !Number.isInteger(x) || x < -(2 ** 31) || x >= 2 ** 31);
  if (bad >= 0)
    throw new FormatError(`${what}: value ${v.values[bad]} at index ${bad} does not fit in int32`);
  return tensor(Int32Array.from(v.values), v.shape, { dtype: 'int32' });
}

// ---- attributes ----

const typeOfField: [string, number][] = [
  ['f', AttributeType.FLOAT],
  ['i', AttributeType.INT],
  ['s', AttributeType.STRING],
  ['t', AttributeType.TENSOR],
  ['g', AttributeType.GRAPH],
  ['floats', AttributeType.FLOATS],
  ['ints', AttributeType.INTS],
  ['strings', AttributeType.STRINGS],
  ['tensors', AttributeType.TENSORS],
  ['graphs', AttributeType.GRAPHS],
];

const utf8 = new TextDecoder();

function attributeTypeName(type: number): string {
  return Object.entries(AttributeType).find(([, v]) => v === type)?.[0] ?? String(type);
}

/**
 * A node's attributes, read by name with a type check. Every attribute an operator reads is marked; finish()
 * refuses the ones it did not read, so an attribute convnets ignores can never change a result silently.
 */
export class Attributes {
  private readonly byName = new Map<string, AttributeProto>();
  private readonly read = new Set<string>();

  constructor(
    node: NodeProto,
    private readonly where: string,
  ) {
    for (const a of node.attribute) {
      if (a.name === '') throw new FormatError(`${where}: an attribute has no name`);
      if (this.byName.has(a.name)) throw new FormatError(`${where}: attribute '${a.name}' appears twice`);
      this.byName.set(a.name, a);
    }
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  private get(name: string, type: number): AttributeProto | undefined {
    const a = this.byName.get(name);
    if (a === undefined) return undefined;
    this.read.add(name);
    // Files before IR version 2 leave the type out; the field that is present says it.
    const actual = a.type !== 0 ? a.type : (typeOfField.find(([field]) => a.present.has(field))?.[1] ?? 0);
    // An empty list has no field on the wire: accept it for either list type.
    const emptyList = actual === 0 && (type === AttributeType.INTS || type === AttributeType.FLOATS);
    if (actual !== type && !emptyList) {
      throw new FormatError(
        `${this.where}: attribute '${name}' is ${attributeTypeName(actual)}, expected ${attributeTypeName(type)}`,
      );
    }
    return a;
  }

  int(name: string, fallback: number): number;
  int(name: string): number | undefined;
  int(name: string, fallback?: number): number | undefined {
    return this.get(name, AttributeType.INT)?.i ?? fallback;
  }

  float(name: string, fallback: number): number;
  float(name: string): number | undefined;
  float(name: string, fallback?: number): number | undefined {
    return this.get(name, AttributeType.FLOAT)?.f ?? fallback;
  }

  string(name: string, fallback: string): string;
  string(name: string): string | undefined;
  string(name: string, fallback?: string): string | undefined {
    const a = this.get(name, AttributeType.STRING);
    return a === undefined ? fallback : utf8.decode(a.s);
  }

  ints(name: string): number[] | undefined {
    return this.get(name, AttributeType.INTS)?.ints;
  }

  floats(name: string): number[] | undefined {
    return this.get(name, AttributeType.FLOATS)?.floats;
  }

  tensor(name: string): OnnxArray | undefined {
    const a = this.get(name, AttributeType.TENSOR);
    if (a === undefined) return undefined;
    if (a.t === null) throw new FormatError(`${this.where}: attribute '${name}' holds no tensor`);
    return a.t.values(`${this.where} attribute '${name}'`);
  }

  graph(name: string): GraphProto | undefined {
    const a = this.get(name, AttributeType.GRAPH);
    if (a === undefined) return undefined;
    if (a.g === null) throw new FormatError(`${this.where}: attribute '${name}' holds no graph`);
    return a.g;
  }

  /** Marks an attribute as read without reading it (one that cannot change an inference result). */
  ignore(...names: string[]): void {
    for (const name of names) if (this.byName.has(name)) this.read.add(name);
  }

  /** Names of attributes present that no reader asked for. */
  unread(): string[] {
    return [...this.byName.keys()].filter((name) => !this.read.has(name));
  }
}

export { DataType, dataTypeName };
