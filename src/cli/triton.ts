/**
 * A Triton Inference Server model-repository entry for an exported model: `<repository>/<name>/config.pbtxt`,
 * `<name>/1/model.onnx` (onnxruntime backend, dynamic batch) and, where the classes have names, `labels.txt` for
 * Triton's classification extension. The config is protobuf text format (Triton's model_config.proto).
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { UsageError } from './command.js';

/** One input or output of the model, without its batch dimension. */
export interface TritonTensor {
  name: string;
  dims: readonly number[];
}

export interface TritonModel {
  name: string;
  input: TritonTensor;
  output: TritonTensor;
  /** The largest batch the server forms from queued requests. */
  maxBatchSize: number;
  /** Class names in output order: written to labels.txt and named in the output's config. */
  labels: readonly string[];
}

/** Triton names models with letters, digits, '-', '_' and '.'; the name is also a directory. */
export function checkModelName(name: string): string {
  if (!/^[A-Za-z0-9_.-]+$/.test(name) || name === '.' || name === '..')
    throw new UsageError(
      `--name '${name}': a Triton model name takes letters, digits, '-', '_' and '.' only`,
    );
  return name;
}

const tensorBlock = (tensor: TritonTensor, extra: string[] = []): string[] => [
  '  {',
  `    name: ${JSON.stringify(tensor.name)}`,
  '    data_type: TYPE_FP32',
  `    dims: [ ${tensor.dims.join(', ')} ]`,
  ...extra.map((line) => `    ${line}`),
  '  }',
];

/** config.pbtxt: the onnxruntime platform, the tensors without their batch dimension, dynamic batching. */
export function tritonConfig(model: TritonModel): string {
  const labels = model.labels.length > 0 ? ['label_filename: "labels.txt"'] : [];
  return [
    `name: ${JSON.stringify(model.name)}`,
    'platform: "onnxruntime_onnx"',
    `max_batch_size: ${model.maxBatchSize}`,
    'input [',
    ...tensorBlock(model.input),
    ']',
    'output [',
    ...tensorBlock(model.output, labels),
    ']',
    'dynamic_batching { }',
    '',
  ].join('\n');
}

/** Writes config.pbtxt (and labels.txt) into the model's directory, beside its version folder 1/. */
export async function writeTritonConfig(directory: string, model: TritonModel): Promise<void> {
  await writeFile(join(directory, 'config.pbtxt'), tritonConfig(model));
  if (model.labels.length > 0) await writeFile(join(directory, 'labels.txt'), `${model.labels.join('\n')}\n`);
}
