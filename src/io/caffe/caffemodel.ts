/**
 * Caffe's binary .caffemodel: a protobuf NetParameter whose layers carry their learned blobs. Only what weights need is
 * read: each layer's name, type and blobs (BlobProto: its shape, or the legacy num/channels/height/width, and its
 * float or double data), from the current `layer` field (100) or the V1 `layers` field (2) of older files. Field
 * numbers are caffe.proto's.
 */
import { FormatError } from '../../errors.js';
import { decodeElements } from '../elements.js';
import { ProtoReader, WireType } from '../protobuf.js';

/** One learned array of a layer: its dimensions and float32 values (row-major). */
export interface CaffeBlob {
  shape: number[];
  data: Float32Array;
}

/** A layer of a .caffemodel: its name, type (V1 enum values given by their V2 names) and blobs. */
export interface CaffeLayerBlobs {
  name: string;
  type: string;
  blobs: CaffeBlob[];
}

/** What a .caffemodel holds: the network's name and its layers' blobs, in file order. */
export interface CaffeWeights {
  name: string;
  layers: CaffeLayerBlobs[];
}

const NetParameter = { name: 1, layers: 2, layer: 100 } as const;
const LayerParameter = { name: 1, type: 2, blobs: 7 } as const;
const V1LayerParameter = { name: 4, type: 5, blobs: 6 } as const;
const BlobProto = { num: 1, channels: 2, height: 3, width: 4, data: 5, shape: 7, doubleData: 8 } as const;
const BlobShape = { dim: 1 } as const;

/** V1LayerParameter.LayerType values of the layers convnets builds or skips, by their V2 type names. */
export const V1_LAYER_TYPES: Readonly<Record<number, string>> = {
  3: 'Concat',
  4: 'Convolution',
  5: 'Data',
  6: 'Dropout',
  14: 'InnerProduct',
  15: 'LRN',
  17: 'Pooling',
  18: 'ReLU',
  20: 'Softmax',
  21: 'SoftmaxWithLoss',
  22: 'Split',
  25: 'Eltwise',
  1: 'Accuracy',
  8: 'Flatten',
};

function readShape(r: ProtoReader): number[] {
  const dims: number[] = [];
  while (r.next()) {
    if (r.field === BlobShape.dim) r.repeatedInt64('dim', dims);
    else r.skip();
  }
  for (const d of dims) if (d < 0 || !Number.isSafeInteger(d)) r.fail(`dim ${d} is not a size`);
  return dims;
}

/** The values of a packed or unpacked repeated float (or double) field, appended as float32 chunks. */
function readValues(r: ProtoReader, double: boolean, chunks: Float32Array[]): void {
  const size = double ? 8 : 4;
  const name = double ? 'double_data' : 'data';
  if (r.wireType === (double ? WireType.Fixed64 : WireType.Fixed32)) {
    const one: number[] = [];
    if (double) r.repeatedDouble(name, one);
    else r.repeatedFloat(name, one);
    chunks.push(Float32Array.from(one));
    return;
  }
  const bytes = r.bytesField(name);
  if (bytes.length % size !== 0)
    r.fail(`${name}: packed length ${bytes.length} is not a multiple of ${size}`);
  chunks.push(
    decodeElements(bytes, 0, bytes.length / size, double ? 'float64' : 'float32', name) as Float32Array,
  );
}

function readBlob(r: ProtoReader): CaffeBlob {
  let shape: number[] | null = null;
  const legacy = [0, 0, 0, 0];
  let hasLegacy = false;
  const chunks: Float32Array[] = [];
  while (r.next()) {
    switch (r.field) {
      case BlobProto.shape:
        shape = readShape(r.message('shape', `${r.path}.shape`));
        break;
      case BlobProto.data:
        readValues(r, false, chunks);
        break;
      case BlobProto.doubleData:
        readValues(r, true, chunks);
        break;
      case BlobProto.num:
      case BlobProto.channels:
      case BlobProto.height:
      case BlobProto.width: {
        const value = r.int32(['num', 'channels', 'height', 'width'][r.field - 1]);
        if (value < 0) r.fail(`legacy dimension ${value} is negative`);
        legacy[r.field - 1] = value;
        hasLegacy = true;
        break;
      }
      default:
        r.skip();
    }
  }
  const length = chunks.reduce((n, c) => n + c.length, 0);
  const data = chunks.length === 1 ? chunks[0] : new Float32Array(length);
  if (chunks.length !== 1) {
    let at = 0;
    for (const chunk of chunks) {
      data.set(chunk, at);
      at += chunk.length;
    }
  }
  const dims = shape ?? (hasLegacy ? legacy : [length]);
  const count = dims.reduce((a, b) => a * b, 1);
  if (count !== length)
    r.fail(`shape [${dims.join(', ')}] holds ${count} values, but the blob has ${length}`);
  return { shape: dims, data };
}

function readLayer(r: ProtoReader, v1: boolean): CaffeLayerBlobs {
  const fields = v1 ? V1LayerParameter : LayerParameter;
  const layer: CaffeLayerBlobs = { name: '', type: '', blobs: [] };
  while (r.next()) {
    if (r.field === fields.name) layer.name = r.string('name');
    else if (r.field === fields.type) {
      if (v1) {
        const type = r.int32('type');
        layer.type = V1_LAYER_TYPES[type] ?? `V1 layer type ${type}`;
      } else layer.type = r.string('type');
    } else if (r.field === fields.blobs) {
      layer.blobs.push(readBlob(r.message('blobs', `${r.path}.blobs[${layer.blobs.length}]`)));
    } else r.skip();
  }
  return layer;
}

/**
 * Decodes a .caffemodel's bytes: the network's name and every layer's name, type and blobs. A malformed file is a
 * FormatError naming the message and field; a file with no layers is one too (it is not a Caffe model).
 */
export function decodeCaffemodel(bytes: Uint8Array): CaffeWeights {
  if (!(bytes instanceof Uint8Array)) throw new FormatError('caffemodel: expected bytes');
  const r = new ProtoReader(bytes, 'Caffe', 'NetParameter');
  const weights: CaffeWeights = { name: '', layers: [] };
  while (r.next()) {
    if (r.field === NetParameter.name) weights.name = r.string('name');
    else if (r.field === NetParameter.layer || r.field === NetParameter.layers) {
      const v1 = r.field === NetParameter.layers;
      const path = `NetParameter.${v1 ? 'layers' : 'layer'}[${weights.layers.length}]`;
      weights.layers.push(readLayer(r.message(v1 ? 'layers' : 'layer', path), v1));
    } else r.skip();
  }
  if (weights.layers.length === 0) throw new FormatError('not a Caffe model: NetParameter has no layers');
  return weights;
}
