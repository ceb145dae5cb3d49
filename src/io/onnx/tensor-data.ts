/**
 * A TensorProto as stored (its fields as on the wire) and its values: floats (FLOAT; DOUBLE, FLOAT16 and BFLOAT16 converted to float32) or integers (every
 * integer type and BOOL, as JavaScript numbers: int64 shape vectors and indices stay exact up to 2^53, and
 * INT64_MAX, which Slice uses for "to the end", arrives as 2^63). The data may sit in raw_data or in the typed
 * repeated field onnx.proto assigns to the type; its length must match the dims exactly.
 */
import { FormatError } from '../../errors.js';
import { DataType, dataTypeName, type OnnxArray, type TensorProto } from '../../graph/onnx-ir.js';
import { decodeElements, elementCount, type ElementType } from '../common.js';

export type { OnnxArray };

/** A TensorProto's fields as the file holds them. */
export interface TensorRecord {
  name: string;
  dims: number[];
  dataType: number;
  floatData: number[];
  int32Data: number[];
  int64Data: number[];
  doubleData: number[];
  uint64Data: number[];
  /** Little-endian values; a view into the file's bytes. */
  rawData: Uint8Array | null;
  stringData: Uint8Array[];
  /** 1: the values live in another file (external_data names it). */
  dataLocation: number;
  externalData: [string, string][];
  /** Set when the tensor is one segment of a larger one (not supported). */
  segmented: boolean;
}

export function emptyTensor(): TensorRecord {
  return {
    name: '',
    dims: [],
    dataType: 0,
    floatData: [],
    int32Data: [],
    int64Data: [],
    doubleData: [],
    uint64Data: [],
    rawData: null,
    stringData: [],
    dataLocation: 0,
    externalData: [],
    segmented: false,
  };
}

const floatTypes: Partial<Record<number, ElementType>> = {
  [DataType.FLOAT]: 'float32',
  [DataType.DOUBLE]: 'float64',
  [DataType.FLOAT16]: 'float16',
  [DataType.BFLOAT16]: 'bfloat16',
};

/** Integer types: bytes per element in raw_data, and the reader of one element. */
const intTypes: Partial<Record<number, [number, (view: DataView, at: number) => number]>> = {
  [DataType.INT64]: [8, (v, at) => v.getInt32(at + 4, true) * 2 ** 32 + v.getUint32(at, true)],
  [DataType.UINT64]: [8, (v, at) => v.getUint32(at + 4, true) * 2 ** 32 + v.getUint32(at, true)],
  [DataType.INT32]: [4, (v, at) => v.getInt32(at, true)],
  [DataType.UINT32]: [4, (v, at) => v.getUint32(at, true)],
  [DataType.INT16]: [2, (v, at) => v.getInt16(at, true)],
  [DataType.UINT16]: [2, (v, at) => v.getUint16(at, true)],
  [DataType.INT8]: [1, (v, at) => v.getInt8(at)],
  [DataType.UINT8]: [1, (v, at) => v.getUint8(at)],
  [DataType.BOOL]: [1, (v, at) => (v.getUint8(at) === 0 ? 0 : 1)],
};

export function isFloatType(type: number): boolean {
  return floatTypes[type] !== undefined;
}

export function isIntType(type: number): boolean {
  return intTypes[type] !== undefined;
}

function describe(t: TensorRecord, what: string): string {
  return t.name === '' ? what : `${what} '${t.name}'`;
}

/** The values of a TensorProto; `what` names it in errors ('initializer', 'Constant node x'). */
export function decodeTensorData(t: TensorRecord, what: string): OnnxArray {
  const name = describe(t, what);
  if (t.dataLocation === 1 || t.externalData.length > 0) {
    const location = t.externalData.find(([key]) => key === 'location')?.[1];
    throw new FormatError(
      `${name}: its data is stored in an external file${location === undefined ? '' : ` ('${location}')`}; ` +
        'convnets reads only models with their data inside the .onnx file',
    );
  }
  if (t.segmented) throw new FormatError(`${name}: segmented tensors are not supported`);
  const count = elementCount(t.dims, name);
  const dims = [...t.dims];
  const floatType = floatTypes[t.dataType];
  if (floatType !== undefined) {
    if (t.rawData !== null) {
      checkLength(name, t.rawData.length, count * elementSizeOf(floatType), 'raw_data bytes');
      return {
        kind: 'float',
        dims,
        values: decodeElements(t.rawData, 0, count, floatType, name) as Float32Array,
      };
    }
    if (t.dataType === DataType.FLOAT) {
      checkLength(name, t.floatData.length, count, 'float_data values');
      return { kind: 'float', dims, values: Float32Array.from(t.floatData) };
    }
    if (t.dataType === DataType.DOUBLE) {
      checkLength(name, t.doubleData.length, count, 'double_data values');
      return { kind: 'float', dims, values: Float32Array.from(t.doubleData) };
    }
    // FLOAT16 and BFLOAT16 keep their bit patterns in int32_data.
    checkLength(name, t.int32Data.length, count, 'int32_data values');
    const halves = new Uint8Array(count * 2);
    const view = new DataView(halves.buffer);
    t.int32Data.forEach((bits, i) => view.setUint16(2 * i, bits & 0xffff, true));
    return { kind: 'float', dims, values: decodeElements(halves, 0, count, floatType, name) as Float32Array };
  }
  const intType = intTypes[t.dataType];
  if (intType !== undefined) {
    const [size, read] = intType;
    if (t.rawData !== null) {
      checkLength(name, t.rawData.length, count * size, 'raw_data bytes');
      const view = new DataView(t.rawData.buffer, t.rawData.byteOffset, t.rawData.byteLength);
      const values = new Array<number>(count);
      for (let i = 0; i < count; i++) values[i] = read(view, i * size);
      return { kind: 'int', dims, values, dataType: t.dataType };
    }
    const field =
      t.dataType === DataType.INT64
        ? t.int64Data
        : t.dataType === DataType.UINT64 || t.dataType === DataType.UINT32
          ? t.uint64Data
          : t.int32Data;
    checkLength(name, field.length, count, 'values');
    const values = t.dataType === DataType.BOOL ? field.map((v) => (v === 0 ? 0 : 1)) : [...field];
    return { kind: 'int', dims, values, dataType: t.dataType };
  }
  throw new FormatError(`${name}: ${dataTypeName(t.dataType)} tensors are not supported`);
}

function elementSizeOf(type: ElementType): number {
  return type === 'float64' ? 8 : type === 'float32' ? 4 : 2;
}

function checkLength(name: string, actual: number, expected: number, unit: string): void {
  if (actual !== expected) {
    throw new FormatError(`${name}: has ${actual} ${unit}, its dims need ${expected}`);
  }
}

// ---- the graph runtime's tensors ----

/** The record each tensor read from a file came from: written back as it was read. */
const records = new WeakMap<TensorProto, TensorRecord>();

/** A tensor of the model, its values decoded from the record each time they are asked for. */
export function tensorFromRecord(record: TensorRecord): TensorProto {
  const t: TensorProto = {
    name: record.name,
    dims: record.dims,
    dataType: record.dataType,
    values: (what) => decodeTensorData(record, what),
  };
  records.set(t, record);
  return t;
}

/** The integer types onnx.proto stores in int32_data. */
const int32FieldTypes: readonly number[] = [
  DataType.INT32,
  DataType.INT16,
  DataType.INT8,
  DataType.UINT16,
  DataType.UINT8,
  DataType.BOOL,
];

/**
 * The record to write for a tensor: the one it was read from, or one made from its values: FLOAT and INT64 as
 * raw_data (as PyTorch writes them), the integer types int32_data holds there.
 */
export function recordOf(t: TensorProto): TensorRecord {
  const read = records.get(t);
  if (read !== undefined) return read;
  const what = t.name === '' ? 'tensor' : `tensor '${t.name}'`;
  const array = t.values(what);
  const record: TensorRecord = { ...emptyTensor(), name: t.name, dims: [...t.dims], dataType: t.dataType };
  if (array.kind === 'float' && t.dataType === DataType.FLOAT) {
    const raw = new Uint8Array(array.values.length * 4);
    const view = new DataView(raw.buffer);
    array.values.forEach((v, i) => view.setFloat32(4 * i, v, true));
    return { ...record, rawData: raw };
  }
  if (array.kind === 'int' && t.dataType === DataType.INT64) {
    const raw = new Uint8Array(array.values.length * 8);
    const view = new DataView(raw.buffer);
    array.values.forEach((v, i) => view.setBigInt64(8 * i, BigInt(v), true));
    return { ...record, rawData: raw };
  }
  if (array.kind === 'int' && int32FieldTypes.includes(t.dataType)) {
    return { ...record, int32Data: [...array.values] };
  }
  throw new FormatError(
    `${what}: writing ${dataTypeName(t.dataType)} values made in memory is not supported`,
  );
}
