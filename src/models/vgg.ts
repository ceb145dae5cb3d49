/**
 * VGG (Simonyan & Zisserman 2014, "Very deep convolutional networks for large-scale image recognition"): every
 * depth from one table of 3×3 convolutions and 2×2 max pools, laid out and keyed as torchvision.models.vgg.
 */
import {
  AdaptiveAvgPool2d,
  BatchNorm2d,
  Conv2d,
  Dropout,
  Linear,
  MaxPool2d,
  Module,
  ReLU,
  Sequential,
  init,
} from '../nn/index.js';
import { flatten, type Tensor } from '../tensor/index.js';
import { registered, seedFrom, torchvisionAccuracy } from './builder.js';
import { IMAGENET_PREPROCESSING, type ModelInfo, type ModelOptions } from './registry.js';
import { checkOptions, type OptionKeys } from '../options.js';

/** Output channels of each 3×3 convolution (padding 1), 'M' for a 2×2 stride-2 max pool: the paper's table 1. */
export type VggConfig = readonly (number | 'M')[];

const vggOptionKeys: OptionKeys<VggOptions> = {
  numClasses: true,
  seed: true,
  dropout: true,
  initWeights: true,
};

/** The paper's configurations A, B, D and E (Table 1), as torchvision's `cfgs`. */
export const vggConfigs = {
  A: [64, 'M', 128, 'M', 256, 256, 'M', 512, 512, 'M', 512, 512, 'M'],
  B: [64, 64, 'M', 128, 128, 'M', 256, 256, 'M', 512, 512, 'M', 512, 512, 'M'],
  D: [64, 64, 'M', 128, 128, 'M', 256, 256, 256, 'M', 512, 512, 512, 'M', 512, 512, 512, 'M'],
  E: [64, 64, 'M', 128, 128, 'M', 256, 256, 256, 256, 'M', 512, 512, 512, 512, 'M', 512, 512, 512, 512, 'M'],
} as const satisfies Record<string, VggConfig>;

export interface VggOptions extends ModelOptions {
  /** Probability of the classifier's two dropout layers (torchvision's `dropout`, 0.5). */
  dropout?: number;
  /** torchvision's init_weights: false leaves PyTorch's layer defaults. */
  initWeights?: boolean;
}

/** torchvision's make_layers: conv (+ batch norm) + ReLU per number, a max pool per 'M'. */
export function makeLayers(config: VggConfig, batchNorm = false): Sequential {
  const layers = new Sequential();
  let inChannels = 3;
  for (const entry of config) {
    if (entry === 'M') {
      layers.append(new MaxPool2d(2, { stride: 2 }));
      continue;
    }
    layers.append(new Conv2d(inChannels, entry, 3, { padding: 1 }));
    if (batchNorm) layers.append(new BatchNorm2d(entry));
    layers.append(new ReLU());
    inChannels = entry;
  }
  return layers;
}

/** torchvision's VGG init: kaiming normal (fan out, ReLU) for convolutions, N(0, 0.01) for linear, zero biases. */
export function initVggWeights(model: Module): void {
  for (const module of model.modules()) {
    if (module instanceof Conv2d) {
      init.kaimingNormal(module.weight, { mode: 'fanOut', nonlinearity: 'relu' });
      if (module.bias !== null) init.zeros(module.bias);
    } else if (module instanceof BatchNorm2d) {
      init.ones(module.weight!);
      init.zeros(module.bias!);
    } else if (module instanceof Linear) {
      init.normal(module.weight, 0, 0.01);
      if (module.bias !== null) init.zeros(module.bias);
    }
  }
}

/**
 * features → avgpool (adaptive 7×7, so any input of 32×32 or more fits) → flatten → classifier 25,088 → 4,096 →
 * 4,096 → numClasses with dropout, as torchvision's VGG.
 */
export class VGG extends Module {
  readonly features: Sequential;
  readonly avgpool: AdaptiveAvgPool2d;
  readonly classifier: Sequential;

  constructor(features: Sequential, options: VggOptions = {}) {
    super();
    checkOptions('models.VGG', options, vggOptionKeys);
    const { numClasses = 1000, dropout = 0.5, initWeights = true } = options;
    this.features = features;
    this.avgpool = new AdaptiveAvgPool2d(7);
    this.classifier = new Sequential(
      new Linear(512 * 7 * 7, 4096),
      new ReLU(),
      new Dropout(dropout),
      new Linear(4096, 4096),
      new ReLU(),
      new Dropout(dropout),
      new Linear(4096, numClasses),
    );
    if (initWeights) initVggWeights(this);
  }

  forward(x: Tensor): Tensor {
    return this.classifier.call(flatten(this.avgpool.call(this.features.call(x)), 1));
  }
}

function vgg(config: VggConfig, batchNorm: boolean): (options?: VggOptions) => VGG {
  return (options = {}) => {
    // Before the convolutions are made, which takes seconds at VGG's size.
    checkOptions('models.VGG', options, vggOptionKeys);
    seedFrom(options);
    return new VGG(makeLayers(config, batchNorm), options);
  };
}

/**
 * The figures below at 3×224×224. Parameters: each 3×3 convolution in → out has 9·in·out + out, batch norm adds
 * 2·out; the classifier 25,088·4,096 + 4,096·4,096 + 4,096·1,000 weights + 9,192 biases = 123,642,856. MACs:
 * each convolution does H·W·out·9·in at its resolution (224, 112, 56, 28, 14), the classifier 123,633,664.
 * Accuracies are torchvision's IMAGENET1K_V1 acc@1.
 */
function vggInfo(name: string, parameters: number, macs: number, top1: number): ModelInfo {
  const weights = `${name.replace('vgg', 'VGG').replace('_bn', '_BN')}_Weights`;
  return {
    name,
    family: 'vgg',
    paper: 'Very deep convolutional networks for large-scale image recognition (Simonyan, Zisserman)',
    year: 2014,
    inputShape: [3, 224, 224],
    featureLayer: 'features',
    numClasses: 1000,
    parameters,
    macs,
    reportedAccuracy: torchvisionAccuracy(top1, weights),
    preprocessing: IMAGENET_PREPROCESSING,
  };
}

/** VGG-11 (configuration A of Simonyan & Zisserman 2015), torchvision's layout and keys. */
export const vgg11 = registered(
  vggInfo('vgg11', 132_863_336, 7_609_090_048, 69.02),
  vgg(vggConfigs.A, false),
);
/** VGG-11 with batch normalisation after each convolution. */
export const vgg11_bn = registered(
  vggInfo('vgg11_bn', 132_868_840, 7_609_090_048, 70.37),
  vgg(vggConfigs.A, true),
);
/** VGG-13 (configuration B), torchvision's layout and keys. */
export const vgg13 = registered(
  vggInfo('vgg13', 133_047_848, 11_308_466_176, 69.928),
  vgg(vggConfigs.B, false),
);
/** VGG-13 with batch normalisation after each convolution. */
export const vgg13_bn = registered(
  vggInfo('vgg13_bn', 133_053_736, 11_308_466_176, 71.586),
  vgg(vggConfigs.B, true),
);
/** VGG-16 (configuration D), torchvision's layout and keys. */
export const vgg16 = registered(
  vggInfo('vgg16', 138_357_544, 15_470_264_320, 71.592),
  vgg(vggConfigs.D, false),
);
/** VGG-16 with batch normalisation after each convolution. */
export const vgg16_bn = registered(
  vggInfo('vgg16_bn', 138_365_992, 15_470_264_320, 73.36),
  vgg(vggConfigs.D, true),
);
/** VGG-19 (configuration E), torchvision's layout and keys. */
export const vgg19 = registered(
  vggInfo('vgg19', 143_667_240, 19_632_062_464, 72.376),
  vgg(vggConfigs.E, false),
);
/** VGG-19 with batch normalisation after each convolution. */
export const vgg19_bn = registered(
  vggInfo('vgg19_bn', 143_678_248, 19_632_062_464, 74.218),
  vgg(vggConfigs.E, true),
);
