/** ONNX messages written to the protobuf wire format: what the exporter and the tests need. */
import { FormatError } from '../../errors.js';
import {
  AttributeType,
  type AttributeProto,
  type GraphProto,
  type ModelProto,
  type NodeProto,
  type TypeProto,
  type ValueInfoProto,
} from '../../graph/onnx-ir.js';
import { ProtoWriter } from '../protobuf.js';
import { recordOf, type TensorRecord } from './tensor-data.js';

export function writeTensor(w: ProtoWriter, t: TensorRecord): void {
  w.packedInt64(1, t.dims);
  w.int64(2, t.dataType);
  if (t.name !== '') w.string(8, t.name);
  if (t.floatData.length > 0) w.packedFloat(4, t.floatData);
  if (t.int64Data.length > 0) w.packedInt64(7, t.int64Data);
  if (t.int32Data.length > 0) w.packedInt64(5, t.int32Data);
  if (t.rawData !== null) w.bytes(9, t.rawData);
}

function writeType(w: ProtoWriter, type: TypeProto): void {
  w.message(1, (tt) => {
    tt.int64(1, type.elemType);
    if (type.shape !== null) {
      const shape = type.shape;
      tt.message(2, (s) => {
        for (const d of shape) {
          s.message(1, (dim) => {
            if (typeof d === 'number') dim.int64(1, d);
            else if (typeof d === 'string') dim.string(2, d);
          });
        }
      });
    }
  });
}

function writeValueInfo(w: ProtoWriter, info: ValueInfoProto): void {
  w.string(1, info.name);
  if (info.type !== null) {
    const type = info.type;
    w.message(2, (t) => writeType(t, type));
  }
}

function writeAttribute(w: ProtoWriter, a: AttributeProto): void {
  w.string(1, a.name);
  w.int64(20, a.type);
  switch (a.type) {
    case AttributeType.FLOAT:
      w.float(2, a.f);
      break;
    case AttributeType.INT:
      w.int64(3, a.i);
      break;
    case AttributeType.STRING:
      w.bytes(4, a.s);
      break;
    case AttributeType.TENSOR: {
      const t = a.t;
      if (t === null) throw new FormatError(`ONNX writer: attribute '${a.name}' has no tensor`);
      w.message(5, (m) => writeTensor(m, recordOf(t)));
      break;
    }
    case AttributeType.GRAPH: {
      const g = a.g;
      if (g === null) throw new FormatError(`ONNX writer: attribute '${a.name}' has no graph`);
      w.message(6, (m) => writeGraph(m, g));
      break;
    }
    case AttributeType.FLOATS:
      for (const f of a.floats) w.float(7, f);
      break;
    case AttributeType.INTS:
      w.packedInt64(8, a.ints);
      break;
    default:
      throw new FormatError(
        `ONNX writer: attribute '${a.name}' has a type convnets does not write (${a.type})`,
      );
  }
}

function writeNode(w: ProtoWriter, node: NodeProto): void {
  for (const input of node.input) w.string(1, input);
  for (const output of node.output) w.string(2, output);
  if (node.name !== '') w.string(3, node.name);
  w.string(4, node.opType);
  if (node.domain !== '') w.string(7, node.domain);
  for (const a of node.attribute) w.message(5, (m) => writeAttribute(m, a));
}

function writeGraph(w: ProtoWriter, g: GraphProto): void {
  for (const node of g.node) w.message(1, (m) => writeNode(m, node));
  w.string(2, g.name);
  for (const t of g.initializer) w.message(5, (m) => writeTensor(m, recordOf(t)));
  for (const info of g.input) w.message(11, (m) => writeValueInfo(m, info));
  for (const info of g.output) w.message(12, (m) => writeValueInfo(m, info));
  for (const info of g.valueInfo) w.message(13, (m) => writeValueInfo(m, info));
}

/** A ModelProto's wire bytes, as chunks (raw tensor data is not copied). */
export function encodeModelProto(model: ModelProto): ProtoWriter {
  const w = new ProtoWriter();
  w.int64(1, model.irVersion);
  for (const id of model.opsetImport) {
    w.message(8, (m) => {
      if (id.domain !== '') m.string(1, id.domain);
      m.int64(2, id.version);
    });
  }
  if (model.producerName !== '') w.string(2, model.producerName);
  if (model.producerVersion !== '') w.string(3, model.producerVersion);
  if (model.domain !== '') w.string(4, model.domain);
  if (model.modelVersion !== 0) w.int64(5, model.modelVersion);
  if (model.docString !== '') w.string(6, model.docString);
  w.message(7, (m) => writeGraph(m, model.graph));
  for (const [key, value] of model.metadataProps) {
    w.message(14, (m) => {
      m.string(1, key);
      m.string(2, value);
    });
  }
  return w;
}

export function encodeTensorProto(t: TensorRecord): Uint8Array {
  const w = new ProtoWriter();
  writeTensor(w, t);
  return w.finish();
}
