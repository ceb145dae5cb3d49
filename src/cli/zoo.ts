import { ValueError } from '../errors.js';
import { loadWeights } from '../io/index.js';
import * as models from '../models/index.js';
import { keyMismatch, type Module } from '../nn/index.js';
import { numberOption } from './train-setup.js';
import { resolveWeights } from './transfer.js';

/**
 * A registered model (--arch) with --num-classes outputs and the weights of a .pth, .safetensors or .onnx file
 * loaded by torchvision's key names: every key must match (an .onnx file may leave out BatchNorm's step counters).
 * The weights may also be a checkpoint directory, or a registry name (downloaded into the cache), which comes with
 * its class names and preprocessing (`published`).
 */
export async function zooModel(
  arch: string,
  weights: string | undefined,
  numClasses: string | boolean | undefined,
): Promise<{ model: Module; info: models.ModelInfo; published: models.PublishedWeights | null }> {
  const info = models.info(arch);
  const classes = numberOption('num-classes', numClasses, info.numClasses, { integer: true, min: 1 });
  const source = weights === undefined ? null : await resolveWeights(weights);
  if (source?.published != null && source.published.model !== arch)
    throw new ValueError(`--weights ${weights} are ${source.published.model}'s, not ${arch}'s`);
  const model = models.get(arch, { numClasses: classes });
  if (source === null) return { model, info, published: null };
  const mismatch = keyMismatch(await loadWeights(model, source.file, { strict: false }));
  if (mismatch !== '') throw new ValueError(`${weights}: not the weights of ${arch}: ${mismatch}`);
  return { model, info, published: source.published };
}
