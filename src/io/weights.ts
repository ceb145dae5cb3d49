import { extname } from 'node:path';
import { FormatError, ValueError } from '../errors.js';
import type { LoadStateDictResult, Module } from '../nn/index.js';
import type { Tensor } from '../tensor/index.js';
import { inFile, readSource, type Source } from './common.js';
import { decodeCaffeZooWeights } from './caffe/index.js';
import { decodeOnnxInitialisers } from './onnx/initialisers.js';
import { decodePth } from './pth/index.js';
import { decodeSafetensors, saveSafetensors } from './safetensors.js';
import { checkOptions } from '../options.js';

/** The weight file formats convnets reads. */
export type WeightsFormat = 'pth' | 'safetensors' | 'npy' | 'onnx' | 'caffemodel';

/**
 * The format of a weights file, from its first bytes, else from its extension: a zip archive or legacy pickle is
 * PyTorch's; an 8-byte length followed by '{' is safetensors. null when neither says.
 */
export function detectFormat(bytes: Uint8Array, name = ''): WeightsFormat | null {
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
    default:
      return null;
  }
}

/**
 * Every tensor of a weights file (`.pth`/`.pt`, safetensors, an .onnx model's float initialisers, or Kaiming He's
 * ResNet-50 .caffemodel under torchvision's resnet50 keys) by its key.
 */
export async function readWeights(file: Source): Promise<Map<string, Tensor>> {
  return (await readWeightsAndFormat(file)).tensors;
}

async function readWeightsAndFormat(
  file: Source,
): Promise<{ tensors: Map<string, Tensor>; format: WeightsFormat | null }> {
  const { bytes, name } = await readSource(file);
  const format = detectFormat(bytes, name);
  const tensors = inFile(name, () => {
    switch (format) {
      case 'pth':
        return decodePth(bytes);
      case 'safetensors':
        return decodeSafetensors(bytes).tensors;
      case 'npy':
        throw new FormatError('a .npy file holds one array, not named weights; use readNpy');
      case 'onnx':
        return decodeOnnxInitialisers(bytes);
      case 'caffemodel':
        return decodeCaffeZooWeights(bytes);
      case null:
        throw new FormatError('not a weights file convnets reads (PyTorch .pth/.pt or .safetensors)');
    }
  });
  return { tensors, format };
}

/** BatchNorm's step counter: training keeps it, evaluation never reads it, and an ONNX file has no initialiser for it. */
const STEP_COUNTER = /(^|\.)num_batches_tracked$/;

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
  const { tensors: loaded, format } = await readWeightsAndFormat(file);
  const mapKey = options.mapKey;
  try {
    const state = mapKey === undefined ? loaded : mapKeys(loaded, mapKey);
    const optional =
      format === 'onnx' || format === 'caffemodel' ? (key: string) => STEP_COUNTER.test(key) : undefined;
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
