/** Caffe's files: the text prototxt (a network) and the binary .caffemodel (its learned blobs). */
import { OnnxModel, importOnnxOptionKeys, type ImportOnnxOptions } from '../../graph/model.js';
import { optimizeGraph } from '../../graph/optimize.js';
import { checkOptions } from '../../options.js';
import { inFile, readSource, type Source } from '../common.js';
import { buildCaffeModel } from './build.js';
import { decodeCaffemodel } from './caffemodel.js';
import { parsePrototxt } from './prototxt.js';

const utf8 = new TextDecoder('utf-8', { fatal: false });

/**
 * Builds a Caffe network from its prototxt (text) and its caffemodel (bytes) as a Module that runs on the active
 * backend and can be trained further: parameters are named after the Caffe layers (`conv1.weight`, `conv1.bias`),
 * a BatchNorm and the Scale after it are one BatchNorm (`bn_conv1.weight`, `bn_conv1.running_mean`, …).
 */
export function decodeCaffe(
  prototxt: string,
  caffemodel: Uint8Array,
  options: ImportOnnxOptions = {},
): OnnxModel {
  checkOptions('io.decodeCaffe', options, importOnnxOptionKeys);
  const weights = inFile('caffemodel', () => decodeCaffemodel(caffemodel));
  const model = buildCaffeModel(parsePrototxt(prototxt), weights);
  return new OnnxModel(options.optimize ? optimizeGraph(model) : model, options);
}

/**
 * Loads a Caffe network: its .prototxt (the deploy definition, with its input shape) and its .caffemodel (paths or
 * bytes). Convolution, Pooling (Caffe's rounding up), InnerProduct, ReLU, LRN, BatchNorm + Scale, Eltwise, Concat,
 * Softmax, Dropout, Flatten and Split layers are built; another type, or a malformed file, is a FormatError naming
 * the layer or the field. Options as for importOnnx.
 */
export async function loadCaffe(
  prototxt: Source,
  caffemodel: Source,
  options: ImportOnnxOptions = {},
): Promise<OnnxModel> {
  checkOptions('io.loadCaffe', options, importOnnxOptionKeys);
  const text = await readSource(prototxt);
  const weights = await readSource(caffemodel);
  const net = inFile(text.name, () => parsePrototxt(utf8.decode(text.bytes)));
  const blobs = inFile(weights.name, () => decodeCaffemodel(weights.bytes));
  const model = inFile(text.name, () => buildCaffeModel(net, blobs));
  return new OnnxModel(options.optimize ? optimizeGraph(model) : model, options);
}

export { parsePrototxt, type TextMessage, type TextValue } from './prototxt.js';
export { decodeCaffemodel, type CaffeBlob, type CaffeLayerBlobs, type CaffeWeights } from './caffemodel.js';
