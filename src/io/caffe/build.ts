/**
 * A Caffe network (its prototxt, parsed) and its learned blobs (a .caffemodel, decoded) as an ONNX ModelProto that
 * the graph runtime runs as a convnets Module. Layers are taken in the prototxt's order, as Caffe runs them; blobs
 * are matched to layers by name, as Caffe's CopyTrainedLayersFrom does.
 */
import { FormatError } from '../../errors.js';
import { DataType, type ModelProto, type ValueInfoProto } from '../../graph/index.js';
import type { CaffeBlob, CaffeWeights } from './caffemodel.js';
import { Fields } from './fields.js';
import { CaffeGraph } from './graph.js';
import { LAYER_BUILDERS, batchNorm, type LayerContext } from './layers.js';
import type { TextMessage } from './prototxt.js';

/** V1 prototxts (`layers { type: CONVOLUTION }`) name types by enum; the V2 names of those convnets builds. */
const V1_TYPE_NAMES: Readonly<Record<string, string>> = {
  CONCAT: 'Concat',
  CONVOLUTION: 'Convolution',
  DROPOUT: 'Dropout',
  ELTWISE: 'Eltwise',
  FLATTEN: 'Flatten',
  INNER_PRODUCT: 'InnerProduct',
  LRN: 'LRN',
  POOLING: 'Pooling',
  RELU: 'ReLU',
  SOFTMAX: 'Softmax',
  SPLIT: 'Split',
};

/** The opset the graph is written for: Softmax along one axis (13), Gemm with an optional bias (11). */
const OPSET = 13;

interface Layer {
  fields: Fields;
  name: string;
  type: string;
  bottoms: string[];
  tops: string[];
}

function readLayers(net: Fields): Layer[] {
  const v1 = !net.has('layer') && net.has('layers');
  const field = v1 ? 'layers' : 'layer';
  return net
    .messages(field, (i) => `${field}[${i}]`)
    .map((message, i) => {
      const name = message.string('name', `${field}[${i}]`);
      const given = message.string('type', '');
      const type = v1 ? (V1_TYPE_NAMES[given] ?? given) : given;
      const fields = message.named(`layer '${name}' (${type})`);
      return { fields, name, type, bottoms: message.strings('bottom'), tops: message.strings('top') };
    })
    .filter((layer) => inTestPhase(layer.fields));
}

/** Whether a layer runs at inference (NetState phase TEST) under its include/exclude rules. */
function inTestPhase(layer: Fields): boolean {
  const phase = (rule: Fields) => rule.enumeration('phase', ['TRAIN', 'TEST'], 'TEST');
  const include = layer.messages('include', (i) => `${layer.where} include[${i}]`);
  const exclude = layer.messages('exclude', (i) => `${layer.where} exclude[${i}]`);
  if (include.length > 0 && !include.some((rule) => phase(rule) === 'TEST')) return false;
  return !exclude.some((rule) => phase(rule) === 'TEST');
}

/** The network's declared inputs: `input` with `input_shape` or `input_dim`, and Input layers. */
function declaredInputs(net: Fields, layers: Layer[]): { name: string; shape: number[] }[] {
  const names = net.strings('input');
  const shapes = net.messages('input_shape', (i) => `input_shape[${i}]`).map((s) => s.integers('dim'));
  const dims = net.integers('input_dim');
  if (shapes.length === 0 && dims.length > 0) {
    if (dims.length !== 4 * names.length)
      net.fail(`input_dim has ${dims.length} values for ${names.length} inputs`);
    for (let i = 0; i < names.length; i++) shapes.push(dims.slice(4 * i, 4 * i + 4));
  }
  if (shapes.length !== names.length) net.fail(`${names.length} inputs but ${shapes.length} input shapes`);
  const inputs = names.map((name, i) => ({ name, shape: shapes[i] }));
  for (const layer of layers.filter((l) => l.type === 'Input')) {
    const given = layer.fields
      .message('input_param')
      .messages('shape', (i) => `${layer.fields.where} shape[${i}]`);
    if (given.length !== 1 && given.length !== layer.tops.length)
      layer.fields.fail(`input_param has ${given.length} shapes for ${layer.tops.length} tops`);
    layer.tops.forEach((top, i) =>
      inputs.push({ name: top, shape: given[given.length === 1 ? 0 : i].integers('dim') }),
    );
  }
  if (inputs.length === 0)
    net.fail('the network declares no input (input with input_shape or input_dim, or an Input layer)');
  for (const input of inputs) {
    if (input.shape.length === 0 || input.shape.some((d) => d < 1))
      net.fail(
        `input '${input.name}' has shape [${input.shape.join(', ')}]; every dimension must be positive`,
      );
  }
  return inputs;
}

/**
 * Whether the Scale after a BatchNorm can fold into it: it reads the BatchNorm's top, and nothing after it reads that
 * top before it is written again (in place, as Caffe's ResNets write it, it is written at once).
 */
function foldsInto(layers: Layer[], index: number): boolean {
  const [norm, scale] = [layers[index], layers[index + 1]];
  if (scale?.type !== 'Scale' || norm.tops.length !== 1) return false;
  const blob = norm.tops[0];
  if (scale.bottoms.length !== 1 || scale.bottoms[0] !== blob) return false;
  for (const later of layers.slice(index + 1)) {
    if (later !== scale && later.bottoms.includes(blob)) return false;
    if (later.tops.includes(blob)) return true;
  }
  return true;
}

const tensorInfo = (name: string, shape: number[]): ValueInfoProto => ({
  name,
  // The batch dimension is left free: Caffe's declared batch size is only where the network was deployed.
  type: { kind: 'tensor', elemType: DataType.FLOAT, shape: ['N', ...shape.slice(1)] },
});

/**
 * Builds the ONNX model of a Caffe network: `net` is the parsed prototxt, `weights` the decoded caffemodel. A layer
 * type convnets does not build, or parameters and blobs that do not fit each other, are a FormatError naming the layer.
 */
export function buildCaffeModel(net: TextMessage, weights: CaffeWeights): ModelProto {
  const netFields = new Fields(net, 'NetParameter');
  const layers = readLayers(netFields);
  const graph = new CaffeGraph();
  const inputs = declaredInputs(netFields, layers).map(({ name, shape }) =>
    tensorInfo(graph.define(name, shape), shape),
  );
  const blobsByLayer = new Map<string, CaffeBlob[]>();
  for (const layer of weights.layers)
    if (!blobsByLayer.has(layer.name)) blobsByLayer.set(layer.name, layer.blobs);
  const context = (layer: Layer): LayerContext => ({
    graph,
    layer: layer.fields,
    name: layer.name,
    type: layer.type,
    bottoms: layer.bottoms,
    tops: layer.tops,
    blobs: () => {
      const blobs = blobsByLayer.get(layer.name);
      if (blobs === undefined || blobs.length === 0) layer.fields.fail('has no blobs in the caffemodel');
      return blobs;
    },
  });
  for (let i = 0; i < layers.length; i++) {
    const layer = layers[i];
    if (layer.type === 'Input') continue;
    if (layer.type === 'BatchNorm' && foldsInto(layers, i)) {
      batchNorm(context(layer), context(layers[++i]));
      continue;
    }
    const build = LAYER_BUILDERS[layer.type];
    if (build === undefined) {
      throw new FormatError(
        `Caffe layer '${layer.name}': type '${layer.type}' is not one convnets builds ` +
          `(${Object.keys(LAYER_BUILDERS).join(', ')}, Input)`,
      );
    }
    build(context(layer));
  }
  const outputs = graph.outputs();
  if (outputs.length === 0) netFields.fail('the network has no output (every blob is read by a later layer)');
  return {
    irVersion: 8,
    opsetImport: [{ domain: '', version: OPSET }],
    producerName: 'convnets (Caffe)',
    producerVersion: '',
    domain: '',
    modelVersion: 0,
    docString: '',
    graph: {
      name: netFields.string('name', weights.name),
      node: graph.nodes,
      initializer: graph.initializers,
      sparseInitializers: 0,
      input: inputs,
      output: outputs.map(({ name, shape }) => tensorInfo(name, shape)),
      valueInfo: [],
    },
    metadataProps: [],
    functions: 0,
  };
}
