import { extname } from 'node:path';
import { FormatError, ValueError } from '../errors.js';
import type { LoadStateDictResult, Module } from '../nn/index.js';
import type { Tensor } from '../tensor/index.js';
import { inFile, readSource, type Source } from './common.js';
import { decodeCaffeZooWeights } from './caffe/index.js';
import { isHdf5 } from './hdf5/index.js';
import { decodeKeras } from './keras/index.js';
import { decodeOnnxInitialisers } from './onnx/initialisers.js';
import { decodePth } from './pth/index.js';
import { decodeSafetensors, saveSafetensors } from './safetensors.js';
import { checkOptions } from '../options.js';

/** The weight file formats convnets reads. */
export type WeightsFormat = 'pth' | 'safetensors' | 'npy' | 'onnx' | 'keras' | 'caffemodel';

/**
 * The format of a weights file, from its first bytes, else from its extension: a zip archive or legacy pickle is
 * PyTorch's; an 8-byte length followed by '{' is safetensors; HDF5's signature is Keras's `.h5`. null when neither
 * says.
 */
export function detectFormat(bytes: Uint8Array, name = ''): WeightsFormat | null {
  if (isHdf5(bytes)) return 'keras';
  if (bytes.length >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 0x03 && bytes[3] === 0x04) {
    return 'pth';
  }
  if (bytes.length >= 4 && bytes[0] === 0x80 && bytes[2] === 0x8a && bytes[3] === 0x0a) return 'pth';
  if (
    bytes.length >= 6 &&
    bytes[0] === 0x93 &&
    new TextDecoder('latin1').decode(bytes.subarray(1, 6)) === 'NUMPY'
  ) {
    return 'npy';
  }
  if (bytes.length >= 9 && bytes[8] === 0x7b) {
    const headerLength = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
    if (headerLength <= BigInt(bytes.length - 8)) return 'safetensors';
  }
  switch (extname(name).toLowerCase()) {
    case '.pth':
    case '.pt':
    case '.bin':
      return 'pth';
    case '.safetensors':
      return 'safetensors';
    case '.npy':
      return 'npy';
    case '.onnx':
      return 'onnx';
    case '.caffemodel':
      return 'caffemodel';
    case '.h5':
    case '.hdf5':
      return 'keras';
    default:
      return null;
  }
}

/**
 * Every tensor of a weights file (`.pth`/`.pt`, safetensors, an .onnx model's float initialisers, a Keras
 * application's `.h5` under convnets' keys, or Kaiming He's ResNet-50 .caffemodel under torchvision's resnet50 keys)
 * by its key.
 */
export async function readWeights(file: Source): Promise<Map<string, Tensor>> {
  return (await readWeightsFile(file)).tensors;
}

/** BatchNorm's step counter: training keeps it, evaluation never reads it, and ONNX, Keras and Caffe files do not hold it. */
const STEP_COUNTER = /(^|\.)num_batches_tracked$/;

/** A weights file read: its tensors, its format, and what it says about the model it belongs to. */
export interface WeightsFile {
  tensors: Map<string, Tensor>;
  format: WeightsFormat | null;
  /**
   * The registered model and builder options a file that names its architecture belongs to (a Keras `.h5`:
   * `{ name: 'resnet50', options: { strideOn: '1x1', batchNormEps: 1.001e-5 } }`); null for other formats.
   */
  model: { name: string; options: Record<string, unknown> } | null;
  /** Keys of the model the file cannot hold, which a load should not ask for (BatchNorm's step counters). */
  optional: ((key: string) => boolean) | undefined;
}

/** Reads a weights file (see readWeights), with its format and the model a Keras file names. */
export async function readWeightsFile(file: Source): Promise<WeightsFile> {
  const { bytes, name } = await readSource(file);
  const format = detectFormat(bytes, name);
  const optional =
    format === 'onnx' || format === 'keras' || format === 'caffemodel'
      ? (key: string) => STEP_COUNTER.test(key)
      : undefined;
  return inFile(name, (): WeightsFile => {
    switch (format) {
      case 'pth':
        return { tensors: decodePth(bytes), format, model: null, optional };
      case 'safetensors':
        return { tensors: decodeSafetensors(bytes).tensors, format, model: null, optional };
      case 'npy':
        throw new FormatError('a .npy file holds one array, not named weights; use readNpy');
      case 'onnx':
        return { tensors: decodeOnnxInitialisers(bytes), format, model: null, optional };
      case 'keras': {
        const keras = decodeKeras(bytes);
        return {
          tensors: keras.tensors,
          format,
          model: { name: keras.model, options: keras.modelOptions },
          optional,
        };
      }
      case 'caffemodel':
        // The original ResNet-50: its stride-2 blocks stride in the first 1×1 convolution.
        return {
          tensors: decodeCaffeZooWeights(bytes),
          format,
          model: { name: 'resnet50', options: { strideOn: '1x1' } },
          optional,
        };
      case null:
        throw new FormatError(
          'not a weights file convnets reads (PyTorch .pth/.pt, .safetensors, .onnx or Keras .h5)',
        );
    }
  });
}

/** How loadWeights maps and matches the file's keys. */
export interface LoadWeightsOptions {
  /** Require the file's keys and the model's to match exactly (default true); shapes must match either way. */
  strict?: boolean;
  /** Renames each key of the file before matching ('module.conv1.weight' → 'conv1.weight'); null drops the key. */
  mapKey?: (key: string) => string | null;
}

function mapKeys(tensors: Map<string, Tensor>, mapKey: (key: string) => string | null): Map<string, Tensor> {
  const out = new Map<string, Tensor>();
  const from = new Map<string, string>();
  for (const [key, t] of tensors) {
    const mapped = mapKey(key);
    if (mapped === null) {
      t.dispose();
      continue;
    }
    if (typeof mapped !== 'string')
      throw new ValueError(`loadWeights: mapKey('${key}') returned ${String(mapped)}, not a string or null`);
    const earlier = from.get(mapped);
    if (earlier !== undefined)
      throw new ValueError(`loadWeights: mapKey sends both '${earlier}' and '${key}' to '${mapped}'`);
    from.set(mapped, key);
    out.set(mapped, t);
  }
  return out;
}

/**
 * Loads a weights file into a model by torchvision's key names: strict by default (a missing, unexpected or
 * mis-shaped key is an error naming it), with an optional key mapping. The format comes from the file's first
 * bytes. float16/bfloat16/float64 values arrive as float32, int64 buffers (num_batches_tracked) as int32.
 */
export async function loadWeights(
  model: Module,
  file: Source,
  options: LoadWeightsOptions = {},
): Promise<LoadStateDictResult> {
  checkOptions('io.loadWeights', options, { strict: true, mapKey: true });
  const { tensors: loaded, optional } = await readWeightsFile(file);
  const mapKey = options.mapKey;
  try {
    const state = mapKey === undefined ? loaded : mapKeys(loaded, mapKey);
    return model.loadStateDict(state, { strict: options.strict ?? true, optional });
  } finally {
    // The model holds copies; the file's tensors are done with.
    for (const t of loaded.values()) t.dispose();
  }
}

/** Saves a model's parameters and buffers (its state dict) as safetensors, atomically. */
export async function saveWeights(
  model: Module,
  path: string,
  metadata: Record<string, string> = {},
): Promise<void> {
  await saveSafetensors(path, model.stateDict(), { format: 'pt', ...metadata });
}
