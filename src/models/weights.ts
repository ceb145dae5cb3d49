/**
 * Published weights for the zoo's builders, named as torchvision names them ('resnet18:IMAGENET1K_V1'): where the
 * file is, how to check it, what its outputs mean and how an image must be prepared for it. Facts only, taken from
 * torchvision's weights enums (models/resnet.py, vgg.py, alexnet.py: url, transforms, meta); fetching the file is
 * io/download.ts's job, so this table is the same in a browser.
 */
import { ValueError } from '../errors.js';
import { IMAGENET_CLASSES } from './imagenet-classes.js';
import { IMAGENET_PREPROCESSING, info } from './registry.js';

/** How torchvision's ImageClassification transform prepares an image for the weights. */
export interface WeightsPreprocessing {
  /** The shorter side is resized (bilinear, antialiased) to this many pixels first. */
  resizeSize: number;
  /** Then the centre cropSize × cropSize square is taken. */
  cropSize: number;
  /** Then each RGB channel, scaled to [0, 1], is normalised with these. */
  mean: readonly number[];
  std: readonly number[];
}

/**
 * Published weights of a registered model: where to download them, their hash, and what they expect and predict.
 */
export interface PublishedWeights {
  /** 'resnet18:IMAGENET1K_V1': the model's registry name and torchvision's enum member. */
  name: string;
  /** The registered model the weights load into. */
  model: string;
  url: string;
  /**
   * Leading hexadecimal digits of the file's SHA-256. torchvision publishes only the 8 in the file name
   * ('resnet18-f37072fd.pth') and torch.hub checks exactly that prefix; a longer prefix or the whole digest, where
   * known, is checked the same way.
   */
  sha256: string;
  classNames: readonly string[];
  preprocessing: WeightsPreprocessing;
  /** torchvision's acc@1 on the ImageNet-1k validation set, in percent. */
  top1: number;
}

const imagenet = (resizeSize: number): WeightsPreprocessing => ({
  resizeSize,
  cropSize: 224,
  mean: IMAGENET_PREPROCESSING.mean,
  std: IMAGENET_PREPROCESSING.std,
});

/** torchvision's weights at download.pytorch.org/models/, each file named '<stem>-<first 8 digits of SHA-256>.pth'. */
function torchvision(
  model: string,
  tag: string,
  file: string,
  top1: number,
  resizeSize = 256,
): PublishedWeights {
  const sha256 = /-([0-9a-f]{8})\.pth$/.exec(file)?.[1];
  if (sha256 === undefined) throw new ValueError(`weights file name '${file}' carries no hash`);
  return {
    name: `${model}:${tag}`,
    model,
    url: `https://download.pytorch.org/models/${file}`,
    sha256,
    classNames: IMAGENET_CLASSES,
    preprocessing: imagenet(resizeSize),
    top1,
  };
}

/** Every published weights entry, the first of each model being its default (torchvision's DEFAULT is V2 where one exists). */
const published: readonly PublishedWeights[] = [
  torchvision('resnet18', 'IMAGENET1K_V1', 'resnet18-f37072fd.pth', 69.758),
  torchvision('resnet34', 'IMAGENET1K_V1', 'resnet34-b627a593.pth', 73.314),
  torchvision('resnet50', 'IMAGENET1K_V1', 'resnet50-0676ba61.pth', 76.13),
  torchvision('resnet50', 'IMAGENET1K_V2', 'resnet50-11ad3fa6.pth', 80.858, 232),
  torchvision('resnet101', 'IMAGENET1K_V1', 'resnet101-63fe2227.pth', 77.374),
  torchvision('resnet101', 'IMAGENET1K_V2', 'resnet101-cd907fc2.pth', 81.886, 232),
  torchvision('resnet152', 'IMAGENET1K_V1', 'resnet152-394f9c45.pth', 78.312),
  torchvision('resnet152', 'IMAGENET1K_V2', 'resnet152-f82ba261.pth', 82.284, 232),
  torchvision('vgg11', 'IMAGENET1K_V1', 'vgg11-8a719046.pth', 69.02),
  torchvision('vgg11_bn', 'IMAGENET1K_V1', 'vgg11_bn-6002323d.pth', 70.37),
  torchvision('vgg13', 'IMAGENET1K_V1', 'vgg13-19584684.pth', 69.928),
  torchvision('vgg13_bn', 'IMAGENET1K_V1', 'vgg13_bn-abd245e5.pth', 71.586),
  torchvision('vgg16', 'IMAGENET1K_V1', 'vgg16-397923af.pth', 71.592),
  torchvision('vgg16_bn', 'IMAGENET1K_V1', 'vgg16_bn-6c64b313.pth', 73.36),
  torchvision('vgg19', 'IMAGENET1K_V1', 'vgg19-dcbb9e9d.pth', 72.376),
  torchvision('vgg19_bn', 'IMAGENET1K_V1', 'vgg19_bn-c79401a0.pth', 74.218),
  torchvision('alexnet', 'IMAGENET1K_V1', 'alexnet-owt-7be5be79.pth', 56.522),
];

const byName = new Map(published.map((weights) => [weights.name, weights]));

/** True for 'model:TAG' strings, which name registry weights rather than files. */
export function isWeightsName(text: string): boolean {
  return /^[A-Za-z0-9_-]+:[A-Z0-9_]+$/.test(text);
}

/**
 * The published weights called `name`: 'resnet18:IMAGENET1K_V1', or 'resnet18:DEFAULT' for the model's default
 * (its most accurate, as torchvision's DEFAULT). An unknown name is an error listing what exists.
 */
export function publishedWeights(name: string): PublishedWeights {
  const [model, tag] = name.split(':');
  const found =
    tag === 'DEFAULT'
      ? weightsFor(model).reduce<PublishedWeights | undefined>(
          (best, w) => (best === undefined || w.top1 > best.top1 ? w : best),
          undefined,
        )
      : byName.get(name);
  if (found !== undefined) return found;
  const forModel = weightsFor(model).map((w) => w.name);
  if (forModel.length > 0)
    throw new ValueError(
      `no weights '${name}'; ${model} has ${[...forModel, `${model}:DEFAULT`].join(', ')}`,
    );
  info(model); // an unknown model is its own error, listing the models
  throw new ValueError(
    `no published weights for ${model}; models with weights: ${[...new Set(published.map((w) => w.model))].join(', ')}`,
  );
}

/** The published weights of one model (none for most), or of every model. */
export function weightsFor(model?: string): PublishedWeights[] {
  return published.filter((weights) => model === undefined || weights.model === model);
}
