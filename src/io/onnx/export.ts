/** Writing a module as an .onnx file: traced and emitted by the graph runtime (graph/export.ts), encoded here. */
import { buildOnnxModel, exportOnnxOptionKeys, type ExportOnnxOptions } from '../../graph/export.js';
import type { Module } from '../../nn/index.js';
import { writeAtomic } from '../common.js';
import { encodeModelProto } from './proto-encode.js';
import { checkOptions } from '../../options.js';

/** The .onnx bytes of a module traced at inputShape. */
export function encodeOnnx(
  module: Module,
  inputShape: readonly number[],
  options: ExportOnnxOptions = {},
): Uint8Array {
  checkOptions('io.encodeOnnx', options, exportOnnxOptionKeys);
  return encodeModelProto(buildOnnxModel(module, inputShape, options)).finish();
}

/**
 * Exports a module to an .onnx file (opset 13 by default), tracing it once in evaluation mode at inputShape (batch
 * included). Written through a temporary file and renamed, as every convnets save.
 */
export async function exportOnnx(
  module: Module,
  inputShape: readonly number[],
  path: string,
  options: ExportOnnxOptions = {},
): Promise<void> {
  checkOptions('io.exportOnnx', options, exportOnnxOptionKeys);
  const parts = encodeModelProto(buildOnnxModel(module, inputShape, options)).parts();
  await writeAtomic(path, async (sink) => {
    for (const part of parts) await sink.write(part);
  });
}
