/**
 * Keras applications' `.h5` weights as convnets state dicts: the HDF5 file read by io/hdf5, the layers found by
 * their names (layout.ts), each weight moved into PyTorch's layout (architectures.ts says where).
 */
import { FormatError, formatShape } from '../../errors.js';
import { tensor, type Tensor } from '../../tensor/index.js';
import { inFile, readSource, type Source } from '../common.js';
import { Hdf5File } from '../hdf5/index.js';
import { kerasArchitecture, type KerasArchitecture, type LayerKind } from './architectures.js';
import { kerasLayers } from './layout.js';

export { KERAS_RESNET_OPTIONS } from './architectures.js';
export { KERAS_INCEPTION_V3_OPTIONS } from './inception-v3.js';

/** One weight of a Keras layer: its shape and, on demand, its values (an HDF5 dataset is one). */
export interface KerasWeight {
  /** In Keras's layout: a Conv2D kernel [kh, kw, in, out], a Dense kernel [in, out], a vector [n]. */
  readonly shape: readonly number[];
  /** The values, row-major in that layout; read only when the values are asked for. */
  read(): Float32Array | Int32Array;
}

/** A file's layers that have weights, by layer name, each with its weights by short name (`kernel`, `beta`, …). */
export type KerasLayerWeights = ReadonlyMap<string, ReadonlyMap<string, KerasWeight>>;

/** A Keras application's weights under convnets' keys, with the model and builder options they belong to. */
export interface KerasWeights {
  /** The Keras application the layer names are: 'ResNet50', 'VGG16', … */
  keras: string;
  /** The registered convnets model to build ('resnet50', 'vgg16'). */
  model: string;
  /** The builder options that make that model compute what Keras's does (ResNet: stride on the 1×1, BN eps). */
  modelOptions: Record<string, unknown>;
  /** Parameters and buffers by torchvision's keys, in PyTorch's layouts. */
  tensors: Map<string, Tensor>;
}

/** A converted weight: its convnets key and shape, and its values unless only shapes were asked for. */
interface Converted {
  shape: readonly number[];
  values: Float32Array | null;
}

const BATCHNORM_KEYS: Record<string, string> = {
  gamma: 'weight',
  beta: 'bias',
  moving_mean: 'running_mean',
  moving_variance: 'running_var',
};

/** Kernel [kh, kw, in, out] (Keras's HWIO) → [out, in, kh, kw] (PyTorch's OIHW). */
export function hwioToOihw(values: Float32Array, [kh, kw, ci, co]: readonly number[]): Float32Array {
  const out = new Float32Array(values.length);
  for (let y = 0; y < kh; y++)
    for (let x = 0; x < kw; x++)
      for (let i = 0; i < ci; i++)
        for (let o = 0; o < co; o++)
          out[((o * ci + i) * kh + y) * kw + x] = values[((y * kw + x) * ci + i) * co + o];
  return out;
}

/**
 * Dense kernel [in, out] → Linear weight [out, in]. With `flattened` [C, H, W], the inputs came from a Flatten of a
 * channels-last [H, W, C] map: each row moves to where a channels-first flatten puts the same value.
 */
export function denseToLinear(
  values: Float32Array,
  [inputs, outputs]: readonly number[],
  flattened?: readonly number[],
): Float32Array {
  const out = new Float32Array(values.length);
  const column = (row: number): number => {
    if (flattened === undefined) return row;
    const [channels, height, width] = flattened;
    const c = row % channels;
    const pixel = Math.floor(row / channels);
    return c * height * width + pixel; // pixel = h·W + w
  };
  for (let row = 0; row < inputs; row++) {
    const to = column(row);
    for (let o = 0; o < outputs; o++) out[o * inputs + to] = values[row * outputs + o];
  }
  return out;
}

function floats(weight: KerasWeight, what: string): Float32Array {
  const values = weight.read();
  if (!(values instanceof Float32Array)) throw new FormatError(`Keras: ${what} holds integers, not floats`);
  return values;
}

function convertLayer(
  layer: string,
  target: LayerKind,
  weights: ReadonlyMap<string, KerasWeight>,
  read: boolean,
  out: Map<string, Converted>,
  folds: { bias: Converted; into: string; layer: string }[],
): void {
  const take = (name: string, rank: number): Converted => {
    const weight = weights.get(name);
    if (weight === undefined) throw new FormatError(`Keras: layer '${layer}' has no ${name}`);
    if (weight.shape.length !== rank)
      throw new FormatError(
        `Keras: ${layer} ${name} has shape ${formatShape(weight.shape)}, not rank ${rank}`,
      );
    return { shape: weight.shape, values: read ? floats(weight, `${layer} ${name}`) : null };
  };
  const misfit = (what: string, expected: string) =>
    new FormatError(`Keras: ${layer} ${what} does not fit ${target.module}, which has ${expected}`);
  const expect = (names: string[]) => {
    const extra = [...weights.keys()].find((name) => !names.includes(name));
    if (extra !== undefined)
      throw new FormatError(`Keras: layer '${layer}' has an unexpected weight '${extra}'`);
  };
  const { module } = target;
  switch (target.kind) {
    case 'batchnorm': {
      const names = Object.keys(BATCHNORM_KEYS).filter((name) => target.scale !== false || name !== 'gamma');
      expect(names);
      for (const name of names) {
        const vector = take(name, 1);
        if (target.channels !== undefined && vector.shape[0] !== target.channels)
          throw misfit(`${name} ${formatShape(vector.shape)}`, `${target.channels} channels`);
        out.set(`${module}.${BATCHNORM_KEYS[name]}`, vector);
      }
      if (target.scale === false) {
        // BatchNormalization(scale=False) multiplies by nothing: PyTorch's weight of ones.
        const { shape } = out.get(`${module}.bias`) as Converted;
        out.set(`${module}.weight`, { shape, values: read ? new Float32Array(shape[0]).fill(1) : null });
      }
      return;
    }
    case 'conv': {
      expect(['kernel', 'bias']);
      const kernel = take('kernel', 4);
      const [kh, kw, ci, co] = kernel.shape;
      if (target.weight !== undefined && formatShape([co, ci, kh, kw]) !== formatShape(target.weight))
        throw misfit(
          `kernel ${formatShape(kernel.shape)} (${kh}×${kw}, ${ci} → ${co} channels)`,
          `${target.weight[2]}×${target.weight[3]}, ${target.weight[1]} → ${target.weight[0]} channels`,
        );
      out.set(`${module}.weight`, {
        shape: [co, ci, kh, kw],
        values: kernel.values && hwioToOihw(kernel.values, kernel.shape),
      });
      if (weights.has('bias')) {
        const bias = take('bias', 1);
        if (target.foldBiasInto === undefined) out.set(`${module}.bias`, bias);
        else folds.push({ bias, into: target.foldBiasInto, layer });
      }
      return;
    }
    case 'dense': {
      expect(['kernel', 'bias']);
      const kernel = take('kernel', 2);
      const [inputs, outputs] = kernel.shape;
      if (target.inputs !== undefined && inputs !== target.inputs)
        throw misfit(`kernel ${formatShape(kernel.shape)}`, `${target.inputs} inputs`);
      if (target.flattened !== undefined && target.flattened.reduce((a, b) => a * b) !== inputs)
        throw new FormatError(
          `Keras: ${layer} kernel has ${inputs} inputs, not the ${target.flattened.join('×')} of the map it flattens`,
        );
      out.set(`${module}.weight`, {
        shape: [outputs, inputs],
        values: kernel.values && denseToLinear(kernel.values, kernel.shape, target.flattened),
      });
      if (weights.has('bias')) out.set(`${module}.bias`, take('bias', 1));
    }
  }
}

/**
 * The file's weights under convnets' keys. A convolution's bias before a BatchNorm (Keras's ResNets have one,
 * torchvision's convolutions none) is folded into the BatchNorm's running mean: BN(Wx + b) with mean μ equals
 * BN(Wx) with mean μ − b, exactly.
 */
function convert(
  layers: KerasLayerWeights,
  read: boolean,
): { architecture: KerasArchitecture; weights: Map<string, Converted> } {
  const architecture = kerasArchitecture([...layers.keys()]);
  const weights = new Map<string, Converted>();
  const folds: { bias: Converted; into: string; layer: string }[] = [];
  for (const [layer, layerWeights] of layers) {
    convertLayer(layer, architecture.layers.get(layer) as LayerKind, layerWeights, read, weights, folds);
  }
  for (const { bias, into, layer } of folds) {
    const mean = weights.get(`${into}.running_mean`);
    if (mean === undefined)
      throw new FormatError(`Keras: ${layer} has a bias but its BatchNorm has no moving_mean`);
    if (mean.shape[0] !== bias.shape[0])
      throw new FormatError(
        `Keras: ${layer} bias ${formatShape(bias.shape)} does not fit its BatchNorm ${formatShape(mean.shape)}`,
      );
    if (mean.values !== null && bias.values !== null) {
      for (let i = 0; i < mean.values.length; i++) mean.values[i] -= bias.values[i];
    }
  }
  return { architecture, weights };
}

/**
 * A Keras application's weights under convnets' keys, from its layers: the layers of an `.h5` file (decodeKeras
 * reads them so) or any other source of named weights with shapes and values.
 */
export function decodeKerasLayers(layers: KerasLayerWeights): KerasWeights {
  const { architecture, weights } = convert(layers, true);
  const tensors = new Map<string, Tensor>();
  for (const [key, { shape, values }] of weights)
    tensors.set(key, tensor(values as Float32Array, [...shape]));
  return {
    keras: architecture.keras,
    model: architecture.model,
    modelOptions: architecture.options,
    tensors,
  };
}

/** A Keras application's `.h5` weights, from the file's bytes, under convnets' keys. */
export function decodeKeras(bytes: Uint8Array): KerasWeights {
  return decodeKerasLayers(kerasLayers(new Hdf5File(bytes)));
}

/**
 * The keys and shapes a Keras `.h5` file (its bytes, or its layers) maps to, and its architecture, without reading a
 * single weight: a file whose datasets were never written still answers.
 */
export function kerasShapes(file: Uint8Array | KerasLayerWeights): {
  keras: string;
  model: string;
  shapes: Map<string, number[]>;
} {
  const layers = file instanceof Uint8Array ? kerasLayers(new Hdf5File(file)) : file;
  const { architecture, weights } = convert(layers, false);
  const shapes = new Map([...weights].map(([key, { shape }]) => [key, [...shape]]));
  return { keras: architecture.keras, model: architecture.model, shapes };
}

/** Reads a Keras application's `.h5` weights from a path or bytes (see decodeKeras). */
export async function loadKeras(file: Source): Promise<KerasWeights> {
  const { bytes, name } = await readSource(file);
  return inFile(name, () => decodeKeras(bytes));
}
