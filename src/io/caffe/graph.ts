/**
 * An ONNX graph under construction from Caffe layers. Caffe names blobs and lets layers overwrite them in place
 * (ReLU's top is its bottom); ONNX values are written once, so each write of a blob makes a new value ('conv1',
 * then 'conv1#1', …) and later layers read the latest. Shapes are tracked as Caffe computes them, for the layers
 * whose translation depends on the input's size (pooling's ceil rounding) and to refuse mismatched blobs at load.
 */
import { FormatError } from '../../errors.js';
import {
  AttributeType,
  emptyAttribute,
  floatTensorProto,
  type AttributeProto,
  type NodeProto,
  type TensorProto,
} from '../../graph/index.js';

/** An attribute value: an integer, a float (marked so, since 1.0 is an integer in JavaScript), or integers. */
export type Attribute = number | { float: number } | number[];

export class CaffeGraph {
  readonly nodes: NodeProto[] = [];
  readonly initializers: TensorProto[] = [];
  /** Values in the order they were made, for the outputs. */
  readonly made: string[] = [];
  private readonly latest = new Map<string, string>();
  private readonly shapes = new Map<string, number[]>();
  private readonly taken = new Set<string>();
  private readonly read = new Set<string>();
  private constants = 0;

  /** The latest value of a blob and its shape; `where` names the reader in the error when there is none. */
  value(blob: string, where: string): { value: string; shape: number[] } {
    const value = this.latest.get(blob);
    if (value === undefined)
      throw new FormatError(`Caffe ${where}: bottom '${blob}' is not produced before it`);
    this.read.add(value);
    return { value, shape: this.shapes.get(value) as number[] };
  }

  /** A fresh value for a write of `blob`, with its shape. */
  define(blob: string, shape: number[]): string {
    let name = blob === '' ? 'blob' : blob;
    for (let n = 1; this.taken.has(name); n++) name = `${blob}#${n}`;
    this.taken.add(name);
    this.latest.set(blob, name);
    this.shapes.set(name, shape);
    this.made.push(name);
    return name;
  }

  /** A value inside one layer's translation (a flattened input, a scaled operand): read there, never an output. */
  temporary(name: string, shape: number[]): string {
    const value = this.define(name, shape);
    this.read.add(value);
    return value;
  }

  /** Makes `blob` name an existing value (Split's tops). */
  alias(blob: string, value: string): void {
    this.latest.set(blob, value);
  }

  /** The blobs' latest values that nothing reads: the network's outputs, as Caffe reports them. */
  outputs(): { name: string; shape: number[] }[] {
    const current = new Set(this.latest.values());
    return this.made
      .filter((v) => current.has(v) && !this.read.has(v))
      .map((name) => ({ name, shape: this.shapes.get(name) as number[] }));
  }

  node(
    opType: string,
    input: string[],
    output: string[],
    name: string,
    attributes: Record<string, Attribute> = {},
  ): void {
    const attribute = Object.entries(attributes).map(([key, value]): AttributeProto => {
      if (Array.isArray(value)) return { ...emptyAttribute(key, AttributeType.INTS), ints: value };
      if (typeof value === 'object') return { ...emptyAttribute(key, AttributeType.FLOAT), f: value.float };
      return { ...emptyAttribute(key, AttributeType.INT), i: value };
    });
    this.nodes.push({ input, output, name, opType, domain: '', attribute });
  }

  /** A learned tensor (a parameter of the model, a buffer for BatchNorm's statistics), named for stateDict(). */
  weight(name: string, dims: number[], values: Float32Array): string {
    let unique = name;
    for (let n = 1; this.taken.has(unique); n++) unique = `${name}#${n}`;
    this.taken.add(unique);
    this.initializers.push(floatTensorProto(unique, dims, values));
    return unique;
  }

  /** A scalar constant (Eltwise's coefficients): a Constant node, data of the model rather than a parameter. */
  scalar(value: number, name: string): string {
    const output = this.temporary(`${name}/constant${this.constants++}`, []);
    const attribute: AttributeProto = {
      ...emptyAttribute('value', AttributeType.TENSOR),
      t: floatTensorProto(output, [], Float32Array.of(value)),
    };
    this.nodes.push({
      input: [],
      output: [output],
      name: output,
      opType: 'Constant',
      domain: '',
      attribute: [attribute],
    });
    return output;
  }
}
