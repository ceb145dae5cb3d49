import { DataType, type OnnxValueInfo } from '../../../src/graph/index.js';
import { IntValues, type Value } from '../../../src/graph/values.js';
import { importOnnx, type ImportOnnxOptions, type OnnxModel } from '../../../src/io/onnx/index.js';
import { noGrad, scope, tensor } from '../../../src/tensor/index.js';

/** The most elements a made-up input may hold: the forward pass is on a small input. */
const SMALL_INPUT = 4096;

/**
 * A small input for a graph input: its declared shape where that holds at most SMALL_INPUT elements (unknown and
 * symbolic dimensions taken as 1), else ones, filled with values from `random` (floats in [−1, 1), integers in [0, 4)).
 */
export function smallInput(info: OnnxValueInfo, random: () => number, shape?: readonly number[]): Value {
  let dims = shape ?? (info.shape ?? [1]).map((d) => (typeof d === 'number' && d >= 0 ? d : 1));
  if (dims.reduce((n, d) => n * d, 1) > SMALL_INPUT) dims = dims.map(() => 1);
  const size = dims.reduce((n, d) => n * d, 1);
  if (info.elemType === DataType.FLOAT) {
    return tensor(
      Float32Array.from({ length: size }, () => 2 * random() - 1),
      dims,
    );
  }
  return new IntValues(
    dims,
    Array.from({ length: size }, () => Math.floor(4 * random())),
    info.elemType,
  );
}

/**
 * Imports a model from a file (or its bytes) and runs it once, without gradients, on small inputs; its outputs are
 * released. `shape` is the first input's shape where the caller knows it.
 */
export async function importAndRunOnce(
  source: string | Uint8Array,
  random: () => number,
  options: ImportOnnxOptions = {},
  shape?: readonly number[],
): Promise<void> {
  runOnce(await importOnnx(source, options), random, shape);
}

/** Runs a model once, without gradients, on small inputs; its outputs are released. */
export function runOnce(model: OnnxModel, random: () => number, shape?: readonly number[]): void {
  // The scope releases the inputs and outputs.
  noGrad(() =>
    scope(() => {
      model.run(model.inputs.map((info, i) => smallInput(info, random, i === 0 ? shape : undefined)));
    }),
  );
}
