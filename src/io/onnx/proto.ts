/**
 * ONNX's messages read from the protobuf wire format into the graph runtime's description of a model
 * (graph/onnx-ir.ts; proto-encode.ts writes them). Field numbers are those of onnx.proto (ONNX 1.12, IR version 8,
 * as Debian's libonnx-dev ships it in /usr/include/onnx/onnx.proto). Only the fields convnets uses are kept; unknown
 * fields are skipped, as protobuf requires. Tensors keep their bytes undecoded until their values are asked for.
 */
import { FormatError } from '../../errors.js';
import {
  emptyAttribute,
  type AttributeProto,
  type Dimension,
  type GraphProto,
  type ModelProto,
  type NodeProto,
  type OperatorSetId,
  type TypeProto,
  type ValueInfoProto,
} from '../../graph/onnx-ir.js';
import { ProtoReader } from '../protobuf.js';
import { emptyTensor, tensorFromRecord, type TensorRecord } from './tensor-data.js';

// ---- reading ----

/** Subgraphs (If, Loop, Scan bodies) nest; a file nesting deeper than this is refused rather than overflow the stack. */
const MAX_GRAPH_DEPTH = 32;

function readStringEntry(r: ProtoReader): [string, string] {
  let key = '';
  let value = '';
  while (r.next()) {
    if (r.field === 1) key = r.string('key');
    else if (r.field === 2) value = r.string('value');
    else r.skip();
  }
  return [key, value];
}

export function readTensor(r: ProtoReader): TensorRecord {
  const t = emptyTensor();
  while (r.next()) {
    switch (r.field) {
      case 1:
        r.repeatedInt64('dims', t.dims);
        break;
      case 2:
        t.dataType = r.int32('data_type');
        break;
      case 3:
        r.skip();
        t.segmented = true;
        break;
      case 4:
        r.repeatedFloat('float_data', t.floatData);
        break;
      case 5:
        r.repeatedInt64('int32_data', t.int32Data);
        break;
      case 6:
        t.stringData.push(r.bytesField('string_data'));
        break;
      case 7:
        r.repeatedInt64('int64_data', t.int64Data);
        break;
      case 8:
        t.name = r.string('name');
        break;
      case 9:
        t.rawData = r.bytesField('raw_data');
        break;
      case 10:
        r.repeatedDouble('double_data', t.doubleData);
        break;
      case 11:
        r.repeatedUint64('uint64_data', t.uint64Data);
        break;
      case 13:
        t.externalData.push(readStringEntry(r.message('external_data', `${r.path}.external_data`)));
        break;
      case 14:
        t.dataLocation = r.int32('data_location');
        break;
      default:
        r.skip();
    }
  }
  return t;
}

function readShape(r: ProtoReader): Dimension[] {
  const dims: Dimension[] = [];
  while (r.next()) {
    if (r.field !== 1) {
      r.skip();
      continue;
    }
    const d = r.message('dim', `${r.path}.dim[${dims.length}]`);
    let dim: Dimension = null;
    while (d.next()) {
      if (d.field === 1) dim = d.int64('dim_value');
      else if (d.field === 2) dim = d.string('dim_param');
      else d.skip();
    }
    dims.push(dim);
  }
  return dims;
}

function readTensorType(r: ProtoReader, type: TypeProto): void {
  while (r.next()) {
    if (r.field === 1) type.elemType = r.int32('elem_type');
    else if (r.field === 2) type.shape = readShape(r.message('shape', `${r.path}.shape`));
    else r.skip();
  }
}

function readType(r: ProtoReader): TypeProto {
  const type: TypeProto = { kind: 'none', elemType: 0, shape: null };
  while (r.next()) {
    switch (r.field) {
      case 1:
        type.kind = 'tensor';
        readTensorType(r.message('tensor_type', `${r.path}.tensor_type`), type);
        break;
      case 4:
        type.kind = 'sequence';
        r.skip();
        break;
      case 5:
        type.kind = 'map';
        r.skip();
        break;
      case 8:
        type.kind = 'sparse_tensor';
        r.skip();
        break;
      case 9:
        type.kind = 'optional';
        r.skip();
        break;
      default:
        r.skip();
    }
  }
  return type;
}

function readValueInfo(r: ProtoReader): ValueInfoProto {
  const info: ValueInfoProto = { name: '', type: null };
  while (r.next()) {
    if (r.field === 1) info.name = r.string('name');
    else if (r.field === 2) info.type = readType(r.message('type', `${r.path}.type`));
    else r.skip();
  }
  return info;
}

function readAttribute(r: ProtoReader, depth: number): AttributeProto {
  const a = emptyAttribute();
  while (r.next()) {
    switch (r.field) {
      case 1:
        a.name = r.string('name');
        break;
      case 20:
        a.type = r.int32('type');
        break;
      case 2:
        a.f = r.float('f');
        a.present.add('f');
        break;
      case 3:
        a.i = r.int64('i');
        a.present.add('i');
        break;
      case 4:
        a.s = r.bytesField('s');
        a.present.add('s');
        break;
      case 5:
        a.t = tensorFromRecord(readTensor(r.message('t', `${r.path}.t`)));
        a.present.add('t');
        break;
      case 6:
        a.g = readGraph(r.message('g', `${r.path}.g`), depth + 1);
        a.present.add('g');
        break;
      case 7:
        r.repeatedFloat('floats', a.floats);
        a.present.add('floats');
        break;
      case 8:
        r.repeatedInt64('ints', a.ints);
        a.present.add('ints');
        break;
      case 9:
        a.strings.push(r.bytesField('strings'));
        a.present.add('strings');
        break;
      case 10:
        a.tensors.push(
          tensorFromRecord(readTensor(r.message('tensors', `${r.path}.tensors[${a.tensors.length}]`))),
        );
        a.present.add('tensors');
        break;
      case 11:
        a.graphs.push(readGraph(r.message('graphs', `${r.path}.graphs[${a.graphs.length}]`), depth + 1));
        a.present.add('graphs');
        break;
      default:
        r.skip();
    }
  }
  return a;
}

function readNode(r: ProtoReader, depth: number): NodeProto {
  const node: NodeProto = { input: [], output: [], name: '', opType: '', domain: '', attribute: [] };
  while (r.next()) {
    switch (r.field) {
      case 1:
        node.input.push(r.string('input'));
        break;
      case 2:
        node.output.push(r.string('output'));
        break;
      case 3:
        node.name = r.string('name');
        break;
      case 4:
        node.opType = r.string('op_type');
        break;
      case 7:
        node.domain = r.string('domain');
        break;
      case 5:
        node.attribute.push(
          readAttribute(r.message('attribute', `${r.path}.attribute[${node.attribute.length}]`), depth),
        );
        break;
      default:
        r.skip();
    }
  }
  return node;
}

export function readGraph(r: ProtoReader, depth = 0): GraphProto {
  if (depth > MAX_GRAPH_DEPTH) r.fail(`subgraphs nest deeper than ${MAX_GRAPH_DEPTH} levels`);
  const g: GraphProto = {
    name: '',
    node: [],
    initializer: [],
    sparseInitializers: 0,
    input: [],
    output: [],
    valueInfo: [],
  };
  while (r.next()) {
    switch (r.field) {
      case 1:
        g.node.push(readNode(r.message('node', `${r.path}.node[${g.node.length}]`), depth));
        break;
      case 2:
        g.name = r.string('name');
        break;
      case 5:
        g.initializer.push(
          tensorFromRecord(
            readTensor(r.message('initializer', `${r.path}.initializer[${g.initializer.length}]`)),
          ),
        );
        break;
      case 15:
        r.skip();
        g.sparseInitializers++;
        break;
      case 11:
        g.input.push(readValueInfo(r.message('input', `${r.path}.input[${g.input.length}]`)));
        break;
      case 12:
        g.output.push(readValueInfo(r.message('output', `${r.path}.output[${g.output.length}]`)));
        break;
      case 13:
        g.valueInfo.push(
          readValueInfo(r.message('value_info', `${r.path}.value_info[${g.valueInfo.length}]`)),
        );
        break;
      default:
        r.skip();
    }
  }
  return g;
}

/**
 * Decodes a ModelProto (an .onnx file). A malformed file is a FormatError naming the message and field; bytes that
 * fail at the outermost message (random bytes, another format) are "not an ONNX model".
 */
export function decodeModelProto(bytes: Uint8Array): ModelProto {
  try {
    return readModelProto(bytes);
  } catch (error) {
    if (error instanceof FormatError && error.message.startsWith('ONNX ModelProto:'))
      throw new FormatError(`not an ONNX model: ${error.message}`);
    throw error;
  }
}

function readModelProto(bytes: Uint8Array): ModelProto {
  const r = new ProtoReader(bytes, 'ONNX', 'ModelProto');
  let graph: GraphProto | null = null;
  const model: Omit<ModelProto, 'graph'> = {
    irVersion: 0,
    opsetImport: [],
    producerName: '',
    producerVersion: '',
    domain: '',
    modelVersion: 0,
    docString: '',
    metadataProps: [],
    functions: 0,
  };
  while (r.next()) {
    switch (r.field) {
      case 1:
        model.irVersion = r.int64('ir_version');
        break;
      case 8: {
        const o = r.message('opset_import', `ModelProto.opset_import[${model.opsetImport.length}]`);
        const id: OperatorSetId = { domain: '', version: 0 };
        while (o.next()) {
          if (o.field === 1) id.domain = o.string('domain');
          else if (o.field === 2) id.version = o.int64('version');
          else o.skip();
        }
        model.opsetImport.push(id);
        break;
      }
      case 2:
        model.producerName = r.string('producer_name');
        break;
      case 3:
        model.producerVersion = r.string('producer_version');
        break;
      case 4:
        model.domain = r.string('domain');
        break;
      case 5:
        model.modelVersion = r.int64('model_version');
        break;
      case 6:
        model.docString = r.string('doc_string');
        break;
      case 7:
        graph = readGraph(r.message('graph', 'ModelProto.graph'));
        break;
      case 14:
        model.metadataProps.push(readStringEntry(r.message('metadata_props', 'ModelProto.metadata_props')));
        break;
      case 25:
        r.skip();
        model.functions++;
        break;
      default:
        r.skip();
    }
  }
  if (graph === null) throw new FormatError('ONNX ModelProto: no graph (field 7)');
  if (model.irVersion < 1) throw new FormatError('ONNX ModelProto: no ir_version (field 1)');
  return { ...model, graph };
}

/** Decodes a serialised TensorProto (the input_K.pb / output_K.pb files of ONNX's backend tests). */
export function decodeTensorProto(bytes: Uint8Array): TensorRecord {
  return readTensor(new ProtoReader(bytes, 'ONNX', 'TensorProto'));
}
