import { extname } from 'node:path';
import { ValueError } from '../errors.js';
import { loadWeights } from '../io/index.js';
import * as models from '../models/index.js';
import type { Module } from '../nn/index.js';
import { requireFile } from './files.js';
import { numberOption } from './train-setup.js';

/** A step counter that training keeps and evaluation never reads; an ONNX file has no initialiser for it. */
const STEP_COUNTER = /(^|\.)num_batches_tracked$/;

/**
 * A registered model (--arch) with --num-classes outputs and the weights of a .pth, .safetensors or .onnx file
 * loaded by torchvision's key names: every key must match, but for the step counters an .onnx file leaves out.
 */
export async function zooModel(
  arch: string,
  weights: string | undefined,
  numClasses: string | boolean | undefined,
): Promise<{ model: Module; info: models.ModelInfo }> {
  const info = models.info(arch);
  const classes = numberOption('num-classes', numClasses, info.numClasses, { integer: true, min: 1 });
  if (weights !== undefined) await requireFile(weights, '--weights');
  const model = models.get(arch, { numClasses: classes });
  if (weights === undefined) return { model, info };
  if (extname(weights).toLowerCase() !== '.onnx') {
    await loadWeights(model, weights);
    return { model, info };
  }
  const { missingKeys, unexpectedKeys } = await loadWeights(model, weights, { strict: false });
  const missing = missingKeys.filter((key) => !STEP_COUNTER.test(key));
  if (missing.length > 0 || unexpectedKeys.length > 0) {
    const quote = (keys: string[]) => keys.map((key) => `'${key}'`).join(', ');
    const problems = [
      ...(missing.length > 0 ? [`missing keys ${quote(missing)}`] : []),
      ...(unexpectedKeys.length > 0 ? [`unexpected keys ${quote(unexpectedKeys)}`] : []),
    ];
    throw new ValueError(`${weights}: not the weights of ${arch}: ${problems.join('; ')}`);
  }
  return { model, info };
}
