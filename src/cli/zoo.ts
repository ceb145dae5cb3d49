import { ValueError } from '../errors.js';
import { loadWeights } from '../io/index.js';
import * as models from '../models/index.js';
import { keyMismatch, type Module } from '../nn/index.js';
import { requireFile } from './files.js';
import { numberOption } from './train-setup.js';

/**
 * A registered model (--arch) with --num-classes outputs and the weights of a .pth, .safetensors or .onnx file
 * loaded by torchvision's key names: every key must match (an .onnx file may leave out BatchNorm's step counters).
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
  const mismatch = keyMismatch(await loadWeights(model, weights, { strict: false }));
  if (mismatch !== '') throw new ValueError(`${weights}: not the weights of ${arch}: ${mismatch}`);
  return { model, info };
}
