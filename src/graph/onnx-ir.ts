/**
 * The in-memory description of an ONNX model that the graph runtime executes and the exporter writes: ONNX's
 * messages (onnx.proto, ONNX 1.12, IR version 8) as plain objects, holding only the fields convnets uses. io/onnx
 * reads it from the protobuf wire format and writes it back; nothing here knows about bytes.
 */

/** TensorProto.DataType. */
export const DataType = {
  UNDEFINED: 0,
  FLOAT: 1,
  UINT8: 2,
  INT8: 3,
  UINT16: 4,
  INT16: 5,
  INT32: 6,
  INT64: 7,
  STRING: 8,
  BOOL: 9,
  FLOAT16: 10,
  DOUBLE: 11,
  UINT32: 12,
  UINT64: 13,
  COMPLEX64: 14,
  COMPLEX128: 15,
  BFLOAT16: 16,
} as const;

/** The name of an ONNX TensorProto data type ('FLOAT', 'INT64'), for messages. */
export function dataTypeName(type: number): string {
  return Object.entries(DataType).find(([, v]) => v === type)?.[0] ?? `data type ${type}`;
}

/** AttributeProto.AttributeType. */
export const AttributeType = {
  UNDEFINED: 0,
  FLOAT: 1,
  INT: 2,
  STRING: 3,
  TENSOR: 4,
  GRAPH: 5,
  FLOATS: 6,
  INTS: 7,
  STRINGS: 8,
  TENSORS: 9,
  GRAPHS: 10,
  SPARSE_TENSOR: 11,
  SPARSE_TENSORS: 12,
  TYPE_PROTO: 13,
  TYPE_PROTOS: 14,
} as const;

/** Float values as float32 (FLOAT; DOUBLE, FLOAT16 and BFLOAT16 converted), with their dims. */
export type FloatArray = { kind: 'float'; dims: number[]; values: Float32Array };
/**
 * Integer values (every integer type and BOOL) as JavaScript numbers: int64 shape vectors and indices stay exact up
 * to 2^53. dataType is the ONNX type they came as.
 */
export type IntArray = { kind: 'int'; dims: number[]; values: number[]; dataType: number };
/** The values of an ONNX tensor: float32 or integers. */
export type OnnxArray = FloatArray | IntArray;

/**
 * A tensor the model holds: an initialiser, a Constant's value, a tensor attribute. Its values come from the file's
 * bytes only when something reads them (io/onnx decodes them), or from memory for a tensor made here.
 */
export interface TensorProto {
  readonly name: string;
  readonly dims: readonly number[];
  /** TensorProto.DataType. */
  readonly dataType: number;
  /** The values; `what` names the tensor in an error ('initialiser', "node 'c' (Constant) attribute 'value'"). */
  values(what: string): OnnxArray;
}

/** An attribute of an ONNX node, as onnx.proto defines it. */
export interface AttributeProto {
  name: string;
  /** AttributeType; 0 in files older than IR version 2, where the field present says the type. */
  type: number;
  f: number;
  i: number;
  s: Uint8Array;
  t: TensorProto | null;
  g: GraphProto | null;
  floats: number[];
  ints: number[];
  strings: Uint8Array[];
  tensors: TensorProto[];
  graphs: GraphProto[];
  /** Which value fields were present on the wire, to infer a missing type. */
  present: Set<string>;
}

/** One operator call of an ONNX graph. */
export interface NodeProto {
  input: string[];
  output: string[];
  name: string;
  opType: string;
  domain: string;
  attribute: AttributeProto[];
}

/** A dimension: its size, a symbolic name, or null when unknown. */
export type Dimension = number | string | null;

export interface TypeProto {
  /** 'tensor', or the kind of a value convnets does not run: 'sequence', 'map', 'optional', 'sparse_tensor'. */
  kind: 'tensor' | 'sequence' | 'map' | 'optional' | 'sparse_tensor' | 'none';
  elemType: number;
  /** null when the type gives no shape. */
  shape: Dimension[] | null;
}

/** A graph input's or output's name, element type and shape. */
export interface ValueInfoProto {
  name: string;
  type: TypeProto | null;
}

/** An ONNX graph: nodes in topological order, initialisers, inputs and outputs. */
export interface GraphProto {
  name: string;
  node: NodeProto[];
  initializer: TensorProto[];
  sparseInitializers: number;
  input: ValueInfoProto[];
  output: ValueInfoProto[];
  valueInfo: ValueInfoProto[];
}

export interface OperatorSetId {
  domain: string;
  version: number;
}

/** An ONNX model: its graph, opset imports and producer. */
export interface ModelProto {
  irVersion: number;
  opsetImport: OperatorSetId[];
  producerName: string;
  producerVersion: string;
  domain: string;
  modelVersion: number;
  docString: string;
  graph: GraphProto;
  metadataProps: [string, string][];
  /** Model-local functions: counted, not run. */
  functions: number;
}

/** An attribute with every field at its protobuf default; writers and readers fill in what they have. */
export function emptyAttribute(name = '', type = 0): AttributeProto {
  return {
    name,
    type,
    f: 0,
    i: 0,
    s: new Uint8Array(0),
    t: null,
    g: null,
    floats: [],
    ints: [],
    strings: [],
    tensors: [],
    graphs: [],
    present: new Set(),
  };
}

/** A tensor made in memory from its values. */
function tensorOf(name: string, dims: readonly number[], dataType: number, array: OnnxArray): TensorProto {
  return { name, dims: [...dims], dataType, values: () => array };
}

/** A float32 tensor (written as raw little-endian data, as PyTorch's exporter writes initialisers). */
export function floatTensorProto(name: string, dims: readonly number[], values: Float32Array): TensorProto {
  return tensorOf(name, dims, DataType.FLOAT, { kind: 'float', dims: [...dims], values });
}

/** An INT64 tensor (shape vectors, axes). */
export function int64TensorProto(
  name: string,
  dims: readonly number[],
  values: readonly number[],
): TensorProto {
  return tensorOf(name, dims, DataType.INT64, {
    kind: 'int',
    dims: [...dims],
    values: [...values],
    dataType: DataType.INT64,
  });
}

/** An INT32 tensor (an int32 buffer or value of a traced module). */
export function int32TensorProto(
  name: string,
  dims: readonly number[],
  values: ArrayLike<number>,
): TensorProto {
  return tensorOf(name, dims, DataType.INT32, {
    kind: 'int',
    dims: [...dims],
    values: Array.from(values),
    dataType: DataType.INT32,
  });
}
