/** Writing a module as an .onnx file: traced and emitted by the graph runtime (graph/export.ts), encoded here. */
import { buildOnnxModel, exportOnnxOptionKeys, type ExportOnnxOptions } from '../../graph/export.js';
import type { OnnxValueInfo } from '../../graph/model.js';
import type { ValueInfoProto } from '../../graph/onnx-ir.js';
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

/** What an exported file takes and gives: names, element types and shapes ('batch' for a dynamic batch). */
export interface OnnxSignature {
  inputs: OnnxValueInfo[];
  outputs: OnnxValueInfo[];
}

/** The graph's own inputs and outputs, which the export writes as tensors. */
const signatureOf = (infos: readonly ValueInfoProto[]): OnnxValueInfo[] =>
  infos.map(({ name, type }) => ({ name, elemType: type!.elemType, shape: type!.shape }));

/**
 * Exports a module to an .onnx file (opset 13 by default), tracing it once in evaluation mode at inputShape (batch
 * included). Written through a temporary file and renamed, as every convnets save. Returns the file's signature.
 */
export async function exportOnnx(
  module: Module,
  inputShape: readonly number[],
  path: string,
  options: ExportOnnxOptions = {},
): Promise<OnnxSignature> {
  checkOptions('io.exportOnnx', options, exportOnnxOptionKeys);
  const model = buildOnnxModel(module, inputShape, options);
  const parts = encodeModelProto(model).parts();
  await writeAtomic(path, async (sink) => {
    for (const part of parts) await sink.write(part);
  });
  return { inputs: signatureOf(model.graph.input), outputs: signatureOf(model.graph.output) };
}
