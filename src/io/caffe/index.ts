/** Caffe's files: the text prototxt (a network) and the binary .caffemodel (its learned blobs). */
import { FormatError } from '../../errors.js';
import type { Tensor } from '../../tensor/index.js';
import { OnnxModel, importOnnxOptionKeys, type ImportOnnxOptions } from '../../graph/model.js';
import { optimizeGraph } from '../../graph/optimize.js';
import { checkOptions } from '../../options.js';
import { inFile, readSource, type Source } from '../common.js';
import { buildCaffeModel } from './build.js';
import { decodeCaffemodel } from './caffemodel.js';
import { parsePrototxt } from './prototxt.js';
import { caffeStateDict, resnet50CaffeTable } from './resnet50.js';

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

/**
 * A .caffemodel's blobs under torchvision's keys, for loading into a zoo model: Kaiming He's ResNet-50 release onto
 * resnet50 (resnet50CaffeTable). A caffemodel with other layer names is a FormatError pointing to loadCaffe, which
 * builds any network from its prototxt.
 */
export function decodeCaffeZooWeights(bytes: Uint8Array): Map<string, Tensor> {
  const weights = decodeCaffemodel(bytes);
  const names = new Set(weights.layers.map((layer) => layer.name));
  if (!names.has('res2a_branch2a') || !names.has('fc1000')) {
    throw new FormatError(
      "a .caffemodel loads into a zoo model only with Kaiming He's ResNet-50 layer names (conv1, res2a_branch2a, …, " +
        'fc1000); build other Caffe networks from their .prototxt (io.loadCaffe, or convnets predict model.caffemodel)',
    );
  }
  return caffeStateDict(weights, resnet50CaffeTable());
}

export { caffeStateDict, resnet50CaffeTable, type CaffeModuleSource } from './resnet50.js';
export { parsePrototxt, type TextMessage, type TextValue } from './prototxt.js';
export { decodeCaffemodel, type CaffeBlob, type CaffeLayerBlobs, type CaffeWeights } from './caffemodel.js';
