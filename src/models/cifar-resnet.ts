/**
 * The CIFAR-10 networks of He et al. 2015, section 4.2: a 3×3 conv of 16 filters, three stages of n basic blocks
 * with 16/32/64 filters on 32×32/16×16/8×8 maps (stages 2 and 3 start at stride 2), global average pooling and a
 * fully connected layer; 6n + 2 weighted layers. Each comes with shortcut option A (the paper's choice for CIFAR)
 * or B, and as a plain net without shortcuts.
 */
import { AdaptiveAvgPool2d, BatchNorm2d, Conv2d, Linear, Module, ReLU, Sequential } from '../nn/index.js';
import { avgPool2d, flatten, pad, type Tensor } from '../tensor/index.js';
import { ValueError } from '../errors.js';
import type { ModelInfo, ModelOptions, TrainingDefaults } from './registry.js';
import { registered, seeded } from './builder.js';
import { BasicBlock, RESNET_PAPER, conv1x1, conv3x3, initResNet } from './resnet.js';
import { checkOptions } from '../options.js';

/**
 * Option A's shortcut where the shape changes: subsample by the stride, then zero-pad the extra channels after the
 * identity ones ("extra zero entries padded for increasing dimensions", §3.3). No parameters, no MACs.
 */
export class ZeroPadShortcut extends Module {
  constructor(
    readonly inPlanes: number,
    readonly outPlanes: number,
    readonly stride: number,
  ) {
    super();
    if (outPlanes < inPlanes)
      throw new ValueError(`ZeroPadShortcut: cannot pad ${inPlanes} channels down to ${outPlanes}`);
  }

  forward(x: Tensor): Tensor {
    // A 1×1 average pool with stride s keeps x[:, :, ::s, ::s] exactly (also for odd sizes), with its gradient.
    const subsampled = this.stride === 1 ? x : avgPool2d(x, 1, { stride: this.stride });
    if (this.outPlanes === this.inPlanes) return subsampled;
    return pad(subsampled, [0, 0, 0, 0], [0, this.outPlanes - this.inPlanes, 0, 0]);
  }

  override extraRepr(): string {
    return `${this.inPlanes} → ${this.outPlanes}, stride=${this.stride}`;
  }
}

/** 'A': identity, zero-padded where channels grow (parameter-free); 'B': 1×1 conv + BN projection there. */
export type ShortcutOption = 'A' | 'B';

export interface CifarResNetOptions extends ModelOptions {
  /** Default 'A', as the paper's CIFAR-10 results. Ignored by the plain nets. */
  shortcut?: ShortcutOption;
  /** Channels of the input image; default 3 (1 for Fashion-MNIST). */
  inChannels?: number;
  /** Zero the last BN scale of every block; default false. */
  zeroInitResidual?: boolean;
}

/**
 * The generic CIFAR ResNet of depth 6n + 2, in torchvision's names (conv1, bn1, layer1…layer3, fc; option B's
 * projection at layerN.0.downsample.0/1). With residual false, the plain net. Initialised as torchvision's ResNet.
 */
export class CifarResNet extends Module {
  readonly conv1: Conv2d;
  readonly bn1: BatchNorm2d;
  readonly relu: ReLU;
  readonly layer1: Sequential;
  readonly layer2: Sequential;
  readonly layer3: Sequential;
  readonly avgpool: AdaptiveAvgPool2d;
  readonly fc: Linear;
  readonly shortcut: ShortcutOption;
  readonly residual: boolean;
  private inPlanes = 16;

  constructor(
    readonly n: number,
    options: CifarResNetOptions & { residual?: boolean } = {},
  ) {
    super();
    checkOptions('models.CifarResNet', options, {
      numClasses: true,
      seed: true,
      shortcut: true,
      inChannels: true,
      zeroInitResidual: true,
      residual: true,
    });
    if (!Number.isInteger(n) || n < 1)
      throw new ValueError(`CifarResNet: n must be a positive integer, got ${n}`);
    this.shortcut = options.shortcut ?? 'A';
    if (this.shortcut !== 'A' && this.shortcut !== 'B')
      throw new ValueError(`CifarResNet: shortcut must be 'A' or 'B', got '${String(this.shortcut)}'`);
    this.residual = options.residual ?? true;
    this.conv1 = conv3x3(options.inChannels ?? 3, 16);
    this.bn1 = new BatchNorm2d(16);
    this.relu = new ReLU();
    this.layer1 = this.makeLayer(16, 1);
    this.layer2 = this.makeLayer(32, 2);
    this.layer3 = this.makeLayer(64, 2);
    this.avgpool = new AdaptiveAvgPool2d(1);
    this.fc = new Linear(64, options.numClasses ?? 10);
    initResNet(this, options.zeroInitResidual);
  }

  get depth(): number {
    return 6 * this.n + 2;
  }

  private makeLayer(planes: number, stride: number): Sequential {
    const { inPlanes, residual } = this;
    let downsample: Module | null = null;
    if (residual && (stride !== 1 || inPlanes !== planes)) {
      downsample =
        this.shortcut === 'A'
          ? new ZeroPadShortcut(inPlanes, planes, stride)
          : new Sequential(conv1x1(inPlanes, planes, stride), new BatchNorm2d(planes));
    }
    const first = new BasicBlock(inPlanes, planes, { stride, downsample, residual });
    this.inPlanes = planes;
    const rest = Array.from({ length: this.n - 1 }, () => new BasicBlock(planes, planes, { residual }));
    return new Sequential(first, ...rest);
  }

  forward(x: Tensor): Tensor {
    let y = this.relu.call(this.bn1.call(this.conv1.call(x)));
    y = this.layer3.call(this.layer2.call(this.layer1.call(y)));
    return this.fc.call(flatten(this.avgpool.call(y), 1));
  }

  override extraRepr(): string {
    return `depth=${this.depth}, ${this.residual ? `shortcut='${this.shortcut}'` : 'plain'}`;
  }
}

/** The builder of one depth 6n + 2, residual (option A unless told otherwise) or plain. */
function cifarResNet(depth: number, residual: boolean): (options?: CifarResNetOptions) => CifarResNet {
  return seeded((options: CifarResNetOptions) => new CifarResNet((depth - 2) / 6, { ...options, residual }));
}

// ---- named builders, each with the facts tests check ----

/**
 * Parameters and MACs (convolutions and fully connected layers) at 3×32×32, 10 classes, checked against a PyTorch
 * twin built from torchvision's BasicBlock (scripts/fixtures/model_keys_resnet.py). Option A adds nothing to
 * either; option B adds its two projections (layer2.0 and layer3.0): 2,752 parameters and 262,144 MACs.
 * Accuracy is the paper's Table 6 (CIFAR-10 test error, best of 5 runs, option A); it gives no figure for the
 * plain nets (only Figure 6's curves).
 */
function cifarInfo(name: string, parameters: number, macs: number, testError?: number): ModelInfo {
  return {
    name,
    family: 'cifar-resnet',
    paper: RESNET_PAPER,
    year: 2015,
    inputShape: [3, 32, 32],
    featureLayer: 'layer3',
    numClasses: 10,
    parameters,
    macs,
    ...(testError === undefined
      ? {}
      : {
          reportedAccuracy: {
            top1: Math.round((100 - testError) * 100) / 100,
            dataset: 'CIFAR-10 test',
            source: `He et al. 2015, Table 6: ${testError} % error`,
          },
        }),
  };
}

/** Option B under its own name (e.g. 'resnet20-b'), so the registry and `convnets models` list its figures. */
function optionB(build: (options?: CifarResNetOptions) => CifarResNet) {
  return (options: CifarResNetOptions = {}): CifarResNet => build({ ...options, shortcut: 'B' });
}

const residualNet = (depth: number) => cifarResNet(depth, true);
const plainNet = (depth: number) => cifarResNet(depth, false);

/** Training on Fashion-MNIST (`convnets train`); 24 epochs of resnet20 reached 94.56 % test accuracy here (README). */
const fashionMnistTraining: TrainingDefaults = {
  // 28×28, one channel: the CIFAR ResNets are fully convolutional up to the global pool.
  inputSize: 28,
  modelOptions: { inChannels: 1 },
  epochs: 24,
  batchSize: 128,
  optimizer: 'sgd',
  lr: 0.1,
  momentum: 0.9,
  weightDecay: 5e-4,
  schedule: 'cosine',
  augment: 'crop-flip',
};

/** Option A, with the paper's accuracy and the Fashion-MNIST training defaults. */
const residualInfo = (name: string, parameters: number, macs: number, testError: number): ModelInfo => ({
  ...cifarInfo(name, parameters, macs, testError),
  training: fashionMnistTraining,
});

/** ResNet-20 for 32×32 images (He et al. 2016, §4.2): 3 stages of 3 basic blocks, option A shortcuts. */
export const resnet20 = registered(residualInfo('resnet20', 269_722, 40_551_040, 8.75), residualNet(20));
/** ResNet-32 for 32×32 images: 3 stages of 5 basic blocks, option A shortcuts. */
export const resnet32 = registered(residualInfo('resnet32', 464_154, 68_862_592, 7.51), residualNet(32));
/** ResNet-44 for 32×32 images: 3 stages of 7 basic blocks, option A shortcuts. */
export const resnet44 = registered(residualInfo('resnet44', 658_586, 97_174_144, 7.17), residualNet(44));
/** ResNet-56 for 32×32 images: 3 stages of 9 basic blocks, option A shortcuts. */
export const resnet56 = registered(residualInfo('resnet56', 853_018, 125_485_696, 6.97), residualNet(56));
/** ResNet-110 for 32×32 images: 3 stages of 18 basic blocks, option A shortcuts. */
export const resnet110 = registered(
  residualInfo('resnet110', 1_727_962, 252_887_680, 6.43),
  residualNet(110),
);

/** ResNet-20 with option B shortcuts (1×1 projections where the shape changes). */
export const resnet20B = registered(cifarInfo('resnet20-b', 272_474, 40_813_184), optionB(resnet20));
/** ResNet-32 with option B shortcuts (1×1 projections where the shape changes). */
export const resnet32B = registered(cifarInfo('resnet32-b', 466_906, 69_124_736), optionB(resnet32));
/** ResNet-44 with option B shortcuts (1×1 projections where the shape changes). */
export const resnet44B = registered(cifarInfo('resnet44-b', 661_338, 97_436_288), optionB(resnet44));
/** ResNet-56 with option B shortcuts (1×1 projections where the shape changes). */
export const resnet56B = registered(cifarInfo('resnet56-b', 855_770, 125_747_840), optionB(resnet56));
/** ResNet-110 with option B shortcuts (1×1 projections where the shape changes). */
export const resnet110B = registered(cifarInfo('resnet110-b', 1_730_714, 253_149_824), optionB(resnet110));

// Plain nets: option A's shortcuts have no parameters or MACs, so the figures equal option A's.
/** ResNet-20 without shortcuts: the paper's plain 20-layer net. */
export const plain20 = registered(cifarInfo('plain20', 269_722, 40_551_040), plainNet(20));
/** ResNet-32 without shortcuts: the paper's plain 32-layer net. */
export const plain32 = registered(cifarInfo('plain32', 464_154, 68_862_592), plainNet(32));
/** ResNet-44 without shortcuts: the paper's plain 44-layer net. */
export const plain44 = registered(cifarInfo('plain44', 658_586, 97_174_144), plainNet(44));
/** ResNet-56 without shortcuts: the paper's plain 56-layer net. */
export const plain56 = registered(cifarInfo('plain56', 853_018, 125_485_696), plainNet(56));
/** ResNet-110 without shortcuts: the paper's plain 110-layer net. */
export const plain110 = registered(cifarInfo('plain110', 1_727_962, 252_887_680), plainNet(110));
