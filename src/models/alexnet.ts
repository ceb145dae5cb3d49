/**
 * AlexNet and its first refinement: torchvision's `alexnet` (the single-GPU variant of Krizhevsky's "one weird
 * trick" paper, with torchvision's state_dict keys), the 2012 paper's own two-GPU network at 227×227
 * (`alexnet-paper`), and Zeiler & Fergus's ZFNet (`zfnet`).
 */
import { ValueError } from '../errors.js';
import {
  AdaptiveAvgPool2d,
  Conv2d,
  Dropout,
  Linear,
  LocalResponseNorm,
  MaxPool2d,
  Module,
  ReLU,
  Sequential,
  init,
} from '../nn/index.js';
import { flatten, type Tensor } from '../tensor/index.js';
import { registered, seedFrom, torchvisionAccuracy } from './builder.js';
import { IMAGENET_PREPROCESSING, type ModelOptions } from './registry.js';
import { checkOptions, type OptionKeys } from '../options.js';

export interface AlexNetOptions extends ModelOptions {
  /** Probability of the two dropout layers; 0.5 as in the papers and torchvision. */
  dropout?: number;
  /** alexnet-paper and zfnet: false keeps PyTorch's layer defaults instead of the paper's Gaussian init. */
  initWeights?: boolean;
}

const alexNetOptionKeys: OptionKeys<AlexNetOptions> = {
  numClasses: true,
  seed: true,
  dropout: true,
  initWeights: true,
};

/**
 * The paper's response normalisation, b = a / (k + α·Σ a²)^β over n = 5 neighbouring maps with k = 2,
 * α = 1e-4, β = 0.75 (§3.3). Its α multiplies the plain sum, whereas LocalResponseNorm (as PyTorch's and
 * Caffe's) divides alpha by the size first: hence alpha = n·α here.
 */
function paperLocalResponseNorm(): LocalResponseNorm {
  return new LocalResponseNorm(5, { alpha: 5 * 1e-4, beta: 0.75, k: 2 });
}

/** torchvision's head: dropout before each of the two hidden layers. */
function torchvisionClassifier(inFeatures: number, numClasses: number, dropout: number): Sequential {
  return new Sequential(
    new Dropout(dropout),
    new Linear(inFeatures, 4096),
    new ReLU(),
    new Dropout(dropout),
    new Linear(4096, 4096),
    new ReLU(),
    new Linear(4096, numClasses),
  );
}

/** The papers' head: dropout on the outputs of the two hidden layers ("the first two fully-connected layers"). */
function paperClassifier(inFeatures: number, numClasses: number, dropout: number): Sequential {
  return new Sequential(
    new Linear(inFeatures, 4096),
    new ReLU(),
    new Dropout(dropout),
    new Linear(4096, 4096),
    new ReLU(),
    new Dropout(dropout),
    new Linear(4096, numClasses),
  );
}

/**
 * features → (avgpool) → flatten → classifier, torchvision's AlexNet. Without avgpool (the papers' versions)
 * the classifier's first Linear takes exactly the flattened 6×6×256 maps, so a wrong input size fails there.
 */
export class AlexNet extends Module {
  constructor(
    readonly features: Sequential,
    readonly avgpool: AdaptiveAvgPool2d | null,
    readonly classifier: Sequential,
  ) {
    super();
  }

  forward(x: Tensor): Tensor {
    let y = this.features.call(x);
    if (this.avgpool !== null) y = this.avgpool.call(y);
    return this.classifier.call(flatten(y, 1));
  }
}

/** N(0, std) weights and one constant bias per convolution or linear layer, in the order the model holds them. */
function gaussianInit(model: Module, std: number, biases: readonly number[]): void {
  const layers = model
    .modules()
    .filter((m): m is Conv2d | Linear => m instanceof Conv2d || m instanceof Linear);
  if (layers.length !== biases.length)
    throw new ValueError(`expected ${biases.length} convolution and linear layers, found ${layers.length}`);
  layers.forEach((layer, i) => {
    init.normal(layer.weight, 0, std);
    if (layer.bias !== null) init.constant(layer.bias, biases[i]);
  });
}

/**
 * Krizhevsky et al. 2012, §5: weights N(0, 0.01); biases 1 in conv2, conv4, conv5 and the two hidden fully
 * connected layers (to give their ReLUs positive inputs early on), 0 in conv1, conv3 and the output layer.
 */
export function initAlexNetPaperWeights(model: Module): void {
  gaussianInit(model, 0.01, [0, 1, 0, 1, 1, 1, 1, 0]);
}

/** Zeiler & Fergus 2013, §3: weights N(0, 10⁻²), biases 0. */
export function initZfNetWeights(model: Module): void {
  gaussianInit(model, 0.01, [0, 0, 0, 0, 0, 0, 0, 0]);
}

/** Layer layout and keys of torchvision.models.alexnet; PyTorch's layer defaults initialise it, as there. */
function torchvisionAlexNet(options: AlexNetOptions = {}): AlexNet {
  checkOptions('models.alexnet', options, alexNetOptionKeys);
  seedFrom(options);
  const { numClasses = 1000, dropout = 0.5 } = options;
  const features = new Sequential(
    new Conv2d(3, 64, 11, { stride: 4, padding: 2 }),
    new ReLU(),
    new MaxPool2d(3, { stride: 2 }),
    new Conv2d(64, 192, 5, { padding: 2 }),
    new ReLU(),
    new MaxPool2d(3, { stride: 2 }),
    new Conv2d(192, 384, 3, { padding: 1 }),
    new ReLU(),
    new Conv2d(384, 256, 3, { padding: 1 }),
    new ReLU(),
    new Conv2d(256, 256, 3, { padding: 1 }),
    new ReLU(),
    new MaxPool2d(3, { stride: 2 }),
  );
  return new AlexNet(
    features,
    new AdaptiveAvgPool2d(6),
    torchvisionClassifier(256 * 6 * 6, numClasses, dropout),
  );
}

/**
 * Krizhevsky, Sutskever & Hinton 2012, fig. 2: ReLU after every layer, response normalisation after conv1
 * and conv2, overlapping 3×3 stride-2 max pooling after both and after conv5; conv2, conv4 and conv5 connect
 * only within one GPU's half of the maps (groups = 2), conv3 and the fully connected layers across both.
 * Initialised as §5 (initAlexNetPaperWeights).
 */
function paperAlexNet(options: AlexNetOptions = {}): AlexNet {
  checkOptions('models.alexnetPaper', options, alexNetOptionKeys);
  seedFrom(options);
  const { numClasses = 1000, dropout = 0.5 } = options;
  const features = new Sequential(
    new Conv2d(3, 96, 11, { stride: 4 }), // 227 → 55
    new ReLU(),
    paperLocalResponseNorm(),
    new MaxPool2d(3, { stride: 2 }), // 55 → 27
    new Conv2d(96, 256, 5, { padding: 2, groups: 2 }),
    new ReLU(),
    paperLocalResponseNorm(),
    new MaxPool2d(3, { stride: 2 }), // 27 → 13
    new Conv2d(256, 384, 3, { padding: 1 }),
    new ReLU(),
    new Conv2d(384, 384, 3, { padding: 1, groups: 2 }),
    new ReLU(),
    new Conv2d(384, 256, 3, { padding: 1, groups: 2 }),
    new ReLU(),
    new MaxPool2d(3, { stride: 2 }), // 13 → 6
  );
  const model = new AlexNet(features, null, paperClassifier(256 * 6 * 6, numClasses, dropout));
  if (options.initWeights ?? true) initAlexNetPaperWeights(model);
  return model;
}

/**
 * Zeiler & Fergus 2013, fig. 3: AlexNet with a 7×7 stride-2 first layer (11×11 stride 4 aliased), a stride-2
 * second layer, and dense connections in place of the two-GPU grouping. Each of the first two layers is
 * followed by ReLU, 3×3 stride-2 max pooling and normalisation across maps; padding 1 in conv1 and ceiling
 * pooling (Caffe's) give the paper's 110 → 55 and 26 → 13. The paper does not give its normalisation's
 * constants: AlexNet's are used. Initialised as §3 (initZfNetWeights).
 */
function zfNet(options: AlexNetOptions = {}): AlexNet {
  checkOptions('models.zfnet', options, alexNetOptionKeys);
  seedFrom(options);
  const { numClasses = 1000, dropout = 0.5 } = options;
  const features = new Sequential(
    new Conv2d(3, 96, 7, { stride: 2, padding: 1 }), // 224 → 110
    new ReLU(),
    new MaxPool2d(3, { stride: 2, ceilMode: true }), // 110 → 55
    paperLocalResponseNorm(),
    new Conv2d(96, 256, 5, { stride: 2 }), // 55 → 26
    new ReLU(),
    new MaxPool2d(3, { stride: 2, ceilMode: true }), // 26 → 13
    paperLocalResponseNorm(),
    new Conv2d(256, 384, 3, { padding: 1 }),
    new ReLU(),
    new Conv2d(384, 384, 3, { padding: 1 }),
    new ReLU(),
    new Conv2d(384, 256, 3, { padding: 1 }),
    new ReLU(),
    new MaxPool2d(3, { stride: 2, ceilMode: true }), // 13 → 6
  );
  const model = new AlexNet(features, null, paperClassifier(256 * 6 * 6, numClasses, dropout));
  if (options.initWeights ?? true) initZfNetWeights(model);
  return model;
}

const krizhevsky =
  'ImageNet classification with deep convolutional neural networks (Krizhevsky, Sutskever, Hinton)';

/** torchvision's figures: 61,100,840 parameters, 714,188,480 MACs (its "0.71 GFLOPS" counts MACs), acc@1 56.522. */
export const alexnet = registered(
  {
    name: 'alexnet',
    family: 'alexnet',
    paper: 'One weird trick for parallelizing convolutional neural networks (Krizhevsky)',
    year: 2014,
    inputShape: [3, 224, 224],
    featureLayer: 'features',
    numClasses: 1000,
    parameters: 61_100_840,
    macs: 714_188_480,
    reportedAccuracy: torchvisionAccuracy(56.522, 'AlexNet_Weights'),
    preprocessing: IMAGENET_PREPROCESSING,
  },
  torchvisionAlexNet,
);

/**
 * Parameters (weights + biases), grouped layers counting in/2 inputs per kernel:
 *   conv1 96·3·11·11 + 96 = 34,944          conv2 256·48·5·5 + 256 = 307,456
 *   conv3 384·256·3·3 + 384 = 885,120       conv4 384·192·3·3 + 384 = 663,936
 *   conv5 256·192·3·3 + 256 = 442,624       fc6 9,216·4,096 + 4,096 = 37,752,832
 *   fc7 4,096·4,096 + 4,096 = 16,781,312    fc8 4,096·1,000 + 1,000 = 4,097,000      total 60,965,224
 * MACs at 227×227 (output positions · maps · inputs per kernel):
 *   conv1 55²·96·363 = 105,415,200          conv2 27²·256·1,200 = 223,948,800
 *   conv3 13²·384·2,304 = 149,520,384       conv4 13²·384·1,728 = 112,140,288
 *   conv5 13²·256·1,728 = 74,760,192        fc 37,748,736 + 16,777,216 + 4,096,000      total 724,406,816
 */
export const alexnetPaper = registered(
  {
    name: 'alexnet-paper',
    family: 'alexnet',
    paper: krizhevsky,
    year: 2012,
    inputShape: [3, 227, 227],
    featureLayer: 'features',
    numClasses: 1000,
    parameters: 60_965_224,
    macs: 724_406_816,
    reportedAccuracy: {
      top1: 59.3,
      dataset: 'ILSVRC-2012 validation',
      source: 'Krizhevsky et al. 2012, table 2: one CNN, 40.7 % top-1 error',
    },
    preprocessing: IMAGENET_PREPROCESSING,
  },
  paperAlexNet,
);

/**
 * Parameters: conv1 96·3·7·7 + 96 = 14,208; conv2 256·96·5·5 + 256 = 614,656; conv3 885,120;
 * conv4 384·384·3·3 + 384 = 1,327,488; conv5 256·384·3·3 + 256 = 884,992; fc as AlexNet 58,631,144;
 * total 62,357,608. MACs at 224×224: conv1 110²·96·147 = 170,755,200; conv2 26²·256·2,400 = 415,334,400;
 * conv3 13²·384·2,304 = 149,520,384; conv4 13²·384·3,456 = 224,280,576; conv5 13²·256·3,456 = 149,520,384;
 * fc 58,621,952; total 1,168,032,896.
 */
export const zfnet = registered(
  {
    name: 'zfnet',
    family: 'alexnet',
    paper: 'Visualizing and understanding convolutional networks (Zeiler, Fergus)',
    year: 2013,
    inputShape: [3, 224, 224],
    featureLayer: 'features',
    numClasses: 1000,
    parameters: 62_357_608,
    macs: 1_168_032_896,
    reportedAccuracy: {
      top1: 61.6,
      dataset: 'ILSVRC-2012 validation',
      source: 'Zeiler & Fergus 2013, table 2: one convnet as in fig. 3, 38.4 % top-1 error',
    },
    preprocessing: IMAGENET_PREPROCESSING,
  },
  zfNet,
);
