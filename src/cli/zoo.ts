import { ValueError } from '../errors.js';
import { readWeightsFile } from '../io/index.js';
import * as models from '../models/index.js';
import { keyMismatch, type Module } from '../nn/index.js';
import { numberOption } from './train-setup.js';
import { builderOptionsFor, resolveWeights } from './transfer.js';

/**
 * A registered model (--arch) with --num-classes outputs and the weights of a .pth, .safetensors, .onnx or Keras .h5 file
 * loaded by torchvision's key names: every key must match (an .onnx file may leave out BatchNorm's step counters).
 * The weights may also be a checkpoint directory, or a registry name (downloaded into the cache), which comes with
 * its class names and preprocessing (`published`). A Keras `.h5` names its architecture: it must be `arch`'s, and the
 * model is built with the builder options that make it Keras's (ResNet: the stride on the first 1×1, BN eps).
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
  if (source === null) return { model: models.get(arch, { numClasses: classes }), info, published: null };
  const file = await readWeightsFile(source.file);
  try {
    const model = models.get(arch, { numClasses: classes, ...builderOptionsFor(file, arch, source.file) });
    const mismatch = keyMismatch(
      model.loadStateDict(file.tensors, { strict: false, optional: file.optional }),
    );
    if (mismatch !== '') throw new ValueError(`${weights}: not the weights of ${arch}: ${mismatch}`);
    return { model, info, published: source.published };
  } finally {
    for (const t of file.tensors.values()) t.dispose();
  }
}
