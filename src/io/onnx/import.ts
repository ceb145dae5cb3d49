/** Reading .onnx files into the graph runtime's OnnxModel. */
import { OnnxModel, importOnnxOptionKeys, type ImportOnnxOptions } from '../../graph/model.js';
import { optimizeGraph } from '../../graph/optimize.js';
import { inFile, readSource, type Source } from '../common.js';
import { decodeModelProto } from './proto.js';
import { checkOptions } from '../../options.js';

/** Decodes an ONNX model from its bytes into an OnnxModel. */
export function decodeOnnx(bytes: Uint8Array, options: ImportOnnxOptions = {}): OnnxModel {
  checkOptions('io.decodeOnnx', options, importOnnxOptionKeys);
  const model = decodeModelProto(bytes);
  return new OnnxModel(options.optimize ? optimizeGraph(model) : model, options);
}

/**
 * Imports an .onnx file (path or bytes) as a Module that runs on the active backend and can be trained further.
 * An operator, attribute or data type convnets does not run is an OnnxUnsupportedError (a FormatError) naming
 * the node, operator and attribute; a malformed file is a FormatError naming the message and field.
 */
export async function importOnnx(source: Source, options: ImportOnnxOptions = {}): Promise<OnnxModel> {
  checkOptions('io.importOnnx', options, importOnnxOptionKeys);
  const { bytes, name } = await readSource(source);
  return inFile(name, () => decodeOnnx(bytes, options));
}
