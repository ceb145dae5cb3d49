import { arrayToValue } from '../../graph/values.js';
import type { Tensor } from '../../tensor/index.js';
import { decodeModelProto } from './proto.js';

/**
 * The float initialisers of an ONNX model (its weights) by name, as float32 tensors: what loadWeights reads from an
 * .onnx file. Integer initialisers (shape vectors, indices) are not weights and are left out.
 */
export function decodeOnnxInitialisers(bytes: Uint8Array): Map<string, Tensor> {
  const out = new Map<string, Tensor>();
  for (const t of decodeModelProto(bytes).graph.initializer) {
    const array = t.values('initialiser');
    if (array.kind === 'float') out.set(t.name, arrayToValue(array) as Tensor);
  }
  return out;
}
