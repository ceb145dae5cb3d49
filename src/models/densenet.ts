/**
 * DenseNet-BC, the torchvision way: dense layer, dense block, transition, one DenseNet class built from a config
 * table, one-line builders with their metadata. Huang et al., "Densely Connected Convolutional Networks", CVPR
 * 2017. Parameter names are torchvision's state_dict keys (`features.denseblock1.denselayer1.norm1.weight`).
 */
import {
  AvgPool2d,
  BatchNorm2d,
  Conv2d,
  Linear,
  MaxPool2d,
  Module,
  ReLU,
  Sequential,
  init,
} from '../nn/index.js';
import { adaptiveAvgPool2d, concat, dropout, flatten, relu, type Tensor } from '../tensor/index.js';
import { registered, seeded, torchvisionAccuracy } from './builder.js';
import { IMAGENET_PREPROCESSING, type ModelInfo, type ModelOptions } from './registry.js';
import { checkOptions } from '../options.js';

/**
 * One bottleneck layer (section 3, "DenseNet-B"): BN-ReLU-conv1×1 to bnSize·growthRate channels, then
 * BN-ReLU-conv3×3 to growthRate new feature maps. Its input is every earlier map of the block, concatenated.
 */
export class DenseLayer extends Module {
  readonly norm1: BatchNorm2d;
  readonly relu1: ReLU;
  readonly conv1: Conv2d;
  readonly norm2: BatchNorm2d;
  readonly relu2: ReLU;
  readonly conv2: Conv2d;

  constructor(
    numInputFeatures: number,
    growthRate: number,
    bnSize: number,
    readonly dropRate = 0,
  ) {
    super();
    const width = bnSize * growthRate;
    this.norm1 = new BatchNorm2d(numInputFeatures);
    this.relu1 = new ReLU();
    this.conv1 = new Conv2d(numInputFeatures, width, 1, { bias: false });
    this.norm2 = new BatchNorm2d(width);
    this.relu2 = new ReLU();
    this.conv2 = new Conv2d(width, growthRate, 3, { padding: 1, bias: false });
  }

  forward(x: Tensor): Tensor {
    const bottleneck = this.conv1.call(this.relu1.call(this.norm1.call(x)));
    const newFeatures = this.conv2.call(this.relu2.call(this.norm2.call(bottleneck)));
    return dropout(newFeatures, this.dropRate, { training: this.training });
  }
}

/** numLayers dense layers, `denselayer1` …: layer ℓ sees the block's input and the ℓ − 1 maps added before it. */
export class DenseBlock extends Module {
  readonly outChannels: number;

  constructor(numLayers: number, numInputFeatures: number, bnSize: number, growthRate: number, dropRate = 0) {
    super();
    for (let i = 0; i < numLayers; i++) {
      const layer = new DenseLayer(numInputFeatures + i * growthRate, growthRate, bnSize, dropRate);
      this.registerModule(`denselayer${i + 1}`, layer);
    }
    this.outChannels = numInputFeatures + numLayers * growthRate;
  }

  forward(x: Tensor): Tensor {
    const features = [x];
    for (const layer of this.children()) {
      // A copy each time: the concatenation's gradient rule keeps the array it was given.
      const input = features.length === 1 ? x : concat([...features], 1);
      features.push(layer.call(input));
    }
    return concat(features, 1);
  }
}

/** Between blocks (section 3, "DenseNet-C" with θ = 0.5): BN-ReLU-conv1×1 then 2×2 average pooling, stride 2. */
export class Transition extends Sequential {
  constructor(numInputFeatures: number, numOutputFeatures: number) {
    super({
      norm: new BatchNorm2d(numInputFeatures),
      relu: new ReLU(),
      conv: new Conv2d(numInputFeatures, numOutputFeatures, 1, { bias: false }),
      pool: new AvgPool2d(2, { stride: 2 }),
    });
  }
}

/** The shape of a DenseNet: growth rate, layers per block and the first convolution's maps. */
export interface DenseNetConfig {
  /** k: maps each layer adds. */
  growthRate: number;
  /** Layers in each of the four blocks. */
  blockConfig: readonly [number, number, number, number];
  /** Maps of the first convolution (2k in the paper). */
  numInitFeatures: number;
}

export interface DenseNetOptions extends ModelOptions {
  /** The bottleneck's width as a multiple of growthRate (4 in the paper). */
  bnSize?: number;
  /** Dropout after each dense layer (0 on ImageNet). */
  dropRate?: number;
}

/** DenseNet-BC with torchvision's layout: `features` (stem, blocks, transitions, norm5) and `classifier`. */
export class DenseNet extends Module {
  readonly features: Sequential;
  classifier: Linear;

  constructor(config: DenseNetConfig, options: DenseNetOptions = {}) {
    super();
    checkOptions('models.DenseNet', options, { numClasses: true, seed: true, bnSize: true, dropRate: true });
    const { growthRate, blockConfig, numInitFeatures } = config;
    const bnSize = options.bnSize ?? 4;
    const layers = new Map<string, Module>([
      ['conv0', new Conv2d(3, numInitFeatures, 7, { stride: 2, padding: 3, bias: false })],
      ['norm0', new BatchNorm2d(numInitFeatures)],
      ['relu0', new ReLU()],
      ['pool0', new MaxPool2d(3, { stride: 2, padding: 1 })],
    ]);
    let numFeatures = numInitFeatures;
    blockConfig.forEach((numLayers, i) => {
      const block = new DenseBlock(numLayers, numFeatures, bnSize, growthRate, options.dropRate ?? 0);
      layers.set(`denseblock${i + 1}`, block);
      numFeatures = block.outChannels;
      if (i !== blockConfig.length - 1) {
        // Compression θ = 0.5: the transition halves the maps.
        layers.set(`transition${i + 1}`, new Transition(numFeatures, Math.floor(numFeatures / 2)));
        numFeatures = Math.floor(numFeatures / 2);
      }
    });
    layers.set('norm5', new BatchNorm2d(numFeatures));
    this.features = new Sequential(layers);
    this.classifier = new Linear(numFeatures, options.numClasses ?? 1000);

    // torchvision's "official init from torch repo": He normal (fan in) for convolutions, BN 1 and 0, fc bias 0.
    for (const module of this.modules()) {
      if (module instanceof Conv2d) init.kaimingNormal(module.weight);
      else if (module instanceof Linear && module.bias !== null) init.zeros(module.bias);
    }
  }

  forward(x: Tensor): Tensor {
    const features = relu(this.features.call(x));
    return this.classifier.call(flatten(adaptiveAvgPool2d(features, [1, 1]), 1));
  }
}

/** The configurations of the paper's Table 1, as torchvision builds them. */
export const densenetConfigs = {
  densenet121: { growthRate: 32, blockConfig: [6, 12, 24, 16], numInitFeatures: 64 },
  densenet161: { growthRate: 48, blockConfig: [6, 12, 36, 24], numInitFeatures: 96 },
  densenet169: { growthRate: 32, blockConfig: [6, 12, 32, 32], numInitFeatures: 64 },
  densenet201: { growthRate: 32, blockConfig: [6, 12, 48, 32], numInitFeatures: 64 },
} as const satisfies Record<string, DenseNetConfig>;

type DenseNetName = keyof typeof densenetConfigs;

/** Shared facts; parameters and MACs (224×224×3) counted from torchvision 0.14 by the fixture script. */
function densenetInfo(name: DenseNetName, parameters: number, macs: number, top1: number): ModelInfo {
  return {
    name,
    family: 'densenet',
    paper: 'Densely Connected Convolutional Networks (Huang et al.)',
    year: 2017,
    inputShape: [3, 224, 224],
    featureLayer: 'features',
    numClasses: 1000,
    parameters,
    macs,
    reportedAccuracy: torchvisionAccuracy(top1, `DenseNet${name.slice('densenet'.length)}_Weights`),
    preprocessing: IMAGENET_PREPROCESSING,
  };
}

function densenet(name: DenseNetName): (options?: DenseNetOptions) => DenseNet {
  return seeded((options: DenseNetOptions) => new DenseNet(densenetConfigs[name], options));
}

/** DenseNet-121's facts: parameters, MACs at 3×224×224, torchvision's top-1. */
export const densenet121Info = densenetInfo('densenet121', 7_978_856, 2_834_161_664, 74.434);
/** DenseNet-161's facts: parameters, MACs at 3×224×224, torchvision's top-1. */
export const densenet161Info = densenetInfo('densenet161', 28_681_000, 7_727_907_072, 77.138);
/** DenseNet-169's facts: parameters, MACs at 3×224×224, torchvision's top-1. */
export const densenet169Info = densenetInfo('densenet169', 14_149_480, 3_359_843_328, 75.6);
/** DenseNet-201's facts: parameters, MACs at 3×224×224, torchvision's top-1. */
export const densenet201Info = densenetInfo('densenet201', 20_013_928, 4_291_365_888, 76.896);

/** DenseNet-121 (Huang et al. 2017), torchvision's layout and keys. */
export const densenet121 = registered(densenet121Info, densenet('densenet121'));
/** DenseNet-161 (k = 48), torchvision's layout and keys. */
export const densenet161 = registered(densenet161Info, densenet('densenet161'));
/** DenseNet-169, torchvision's layout and keys. */
export const densenet169 = registered(densenet169Info, densenet('densenet169'));
/** DenseNet-201, torchvision's layout and keys. */
export const densenet201 = registered(densenet201Info, densenet('densenet201'));
