/**
 * ResNet (He, Zhang, Ren, Sun, "Deep Residual Learning for Image Recognition", arXiv:1512.03385, CVPR 2016) as
 * torchvision builds it, and its plain twins: the same stacked layers with every shortcut removed (the paper's
 * section 4.1 baselines). Parameter names are torchvision's state_dict keys ('layer1.0.conv1.weight',
 * 'layer2.0.downsample.0.weight', 'layer2.0.downsample.1.running_mean').
 */
import {
  AdaptiveAvgPool2d,
  BatchNorm2d,
  Conv2d,
  Linear,
  MaxPool2d,
  Module,
  ReLU,
  Sequential,
  init,
} from '../nn/index.js';
import { callInTurn, releaseConsumed } from '../nn/release.js';
import { add, flatten, type Tensor } from '../tensor/index.js';
import { ValueError } from '../errors.js';
import { registered, seeded, torchvisionAccuracy } from './builder.js';
import { IMAGENET_PREPROCESSING, type ModelInfo, type ModelOptions } from './registry.js';
import { checkOptions } from '../options.js';

/** 3×3 convolution with padding 1 and no bias (the batch norm after it has one). */
export function conv3x3(inPlanes: number, outPlanes: number, stride = 1): Conv2d {
  return new Conv2d(inPlanes, outPlanes, 3, { stride, padding: 1, bias: false });
}

/** 1×1 convolution with no bias: bottleneck reductions and projection shortcuts. */
export function conv1x1(inPlanes: number, outPlanes: number, stride = 1): Conv2d {
  return new Conv2d(inPlanes, outPlanes, 1, { stride, bias: false });
}

/** How a residual block is built. */
export interface BlockOptions {
  stride?: number;
  /** Shortcut where the identity does not fit (a projection, or CIFAR option A's zero padding); null: identity. */
  downsample?: Module | null;
  /** false: a plain block, no shortcut at all (then downsample must be null). */
  residual?: boolean;
  /**
   * Which convolution of a bottleneck takes the stride: '3x3' (torchvision's v1.5, the default) or '1x1' (the
   * first 1×1: the paper's v1, Caffe's and Keras's ResNets). A basic block has only 3×3 convolutions.
   */
  strideOn?: '3x3' | '1x1';
  /** BatchNorm's epsilon; default 1e-5 (Keras's ResNets use 1.001e-5). */
  batchNormEps?: number;
}

/** What ResNet needs of a block type: its constructor and how many times `planes` it outputs. */
export interface BlockType {
  new (inPlanes: number, planes: number, options?: BlockOptions): Module;
  readonly expansion: number;
}

function blockSettings(options: BlockOptions): {
  stride: number;
  downsample: Module | null;
  residual: boolean;
} {
  const residual = options.residual ?? true;
  const downsample = options.downsample ?? null;
  if (!residual && downsample !== null)
    throw new ValueError('a plain block (residual: false) has no downsample');
  return { stride: options.stride ?? 1, downsample, residual };
}

const blockOptionKeys = {
  stride: true,
  downsample: true,
  residual: true,
  strideOn: true,
  batchNormEps: true,
} as const;

/**
 * A block's output: relu of its branch's output plus x, or downsample(x) where the identity does not fit (a plain
 * block: of the branch's output alone). The addends go as soon as the sum is made (an addition's gradient reads
 * neither), the sum once the ReLU has read it (which reads its own output), unless a recorded rule reads them.
 */
function blockOutput(branch: Tensor, x: Tensor, block: BasicBlock | Bottleneck): Tensor {
  let sum = branch;
  if (block.residual) {
    const shortcut = block.downsample === null ? x : block.downsample.call(x);
    sum = add(branch, shortcut);
    releaseConsumed(branch, sum);
    if (shortcut !== x) releaseConsumed(shortcut, sum);
  }
  const y = block.relu.call(sum);
  releaseConsumed(sum, y);
  return y;
}

/** Two 3×3 convolutions (ResNet-18/34, and the CIFAR nets): relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)). */
export class BasicBlock extends Module {
  static override readonly forwardKeepsNothing = true;
  static readonly expansion = 1;
  readonly conv1: Conv2d;
  readonly bn1: BatchNorm2d;
  readonly relu: ReLU;
  readonly conv2: Conv2d;
  readonly bn2: BatchNorm2d;
  readonly downsample: Module | null;
  readonly stride: number;
  readonly residual: boolean;

  constructor(inPlanes: number, planes: number, options: BlockOptions = {}) {
    super();
    checkOptions('models.BasicBlock', options, blockOptionKeys);
    const { stride, downsample, residual } = blockSettings(options);
    if (options.strideOn === '1x1')
      throw new ValueError('a basic block has no 1×1 convolution for the stride');
    const eps = options.batchNormEps;
    this.conv1 = conv3x3(inPlanes, planes, stride);
    this.bn1 = new BatchNorm2d(planes, { eps });
    this.relu = new ReLU();
    this.conv2 = conv3x3(planes, planes);
    this.bn2 = new BatchNorm2d(planes, { eps });
    this.downsample = downsample;
    this.stride = stride;
    this.residual = residual;
  }

  forward(x: Tensor): Tensor {
    const out = callInTurn(x, [this.conv1, this.bn1, this.relu, this.conv2, this.bn2]);
    return blockOutput(out, x, this);
  }

  override extraRepr(): string {
    return this.residual ? '' : 'residual=false';
  }
}

/**
 * 1×1 reduce, 3×3, 1×1 expand to 4·planes (ResNet-50/101/152). Stride 2 sits in the 3×3 conv: torchvision's
 * ResNet v1.5 (the paper put it in the first 1×1), about 0.5 % more top-1 for the same parameters.
 */
export class Bottleneck extends Module {
  static override readonly forwardKeepsNothing = true;
  static readonly expansion = 4;
  readonly conv1: Conv2d;
  readonly bn1: BatchNorm2d;
  readonly conv2: Conv2d;
  readonly bn2: BatchNorm2d;
  readonly conv3: Conv2d;
  readonly bn3: BatchNorm2d;
  readonly relu: ReLU;
  readonly downsample: Module | null;
  readonly stride: number;
  readonly residual: boolean;

  constructor(inPlanes: number, planes: number, options: BlockOptions = {}) {
    super();
    checkOptions('models.Bottleneck', options, blockOptionKeys);
    const { stride, downsample, residual } = blockSettings(options);
    const onFirst = options.strideOn === '1x1';
    const eps = options.batchNormEps;
    this.conv1 = conv1x1(inPlanes, planes, onFirst ? stride : 1);
    this.bn1 = new BatchNorm2d(planes, { eps });
    this.conv2 = conv3x3(planes, planes, onFirst ? 1 : stride);
    this.bn2 = new BatchNorm2d(planes, { eps });
    this.conv3 = conv1x1(planes, planes * Bottleneck.expansion);
    this.bn3 = new BatchNorm2d(planes * Bottleneck.expansion, { eps });
    this.relu = new ReLU();
    this.downsample = downsample;
    this.stride = stride;
    this.residual = residual;
  }

  forward(x: Tensor): Tensor {
    const branch = [this.conv1, this.bn1, this.relu, this.conv2, this.bn2, this.relu, this.conv3, this.bn3];
    const out = callInTurn(x, branch);
    return blockOutput(out, x, this);
  }

  override extraRepr(): string {
    return this.residual ? '' : 'residual=false';
  }
}

/**
 * torchvision's initialisation: convolutions kaiming normal (fan_out, ReLU gain), batch norm scale 1 and shift 0,
 * Linear left at PyTorch's default. zeroInitResidual zeroes each block's last BN scale, so every residual branch
 * starts at 0 and each block at the identity (Goyal et al. 2017).
 */
export function initResNet(net: Module, zeroInitResidual = false): void {
  for (const module of net.modules()) {
    if (module instanceof Conv2d) init.kaimingNormal(module.weight, { mode: 'fanOut', nonlinearity: 'relu' });
    else if (module instanceof BatchNorm2d && module.weight !== null && module.bias !== null) {
      init.ones(module.weight);
      init.zeros(module.bias);
    }
  }
  if (!zeroInitResidual) return;
  for (const module of net.modules()) {
    const last = module instanceof Bottleneck ? module.bn3 : module instanceof BasicBlock ? module.bn2 : null;
    if (last?.weight) init.zeros(last.weight);
  }
}

export interface ResNetOptions extends ModelOptions {
  /** Zero the last BN scale of every block (torchvision's zero_init_residual); default false. */
  zeroInitResidual?: boolean;
  /** Channels of the input image; default 3. */
  inChannels?: number;
  /** Which bottleneck convolution takes a stage's stride: '3x3' (torchvision, default) or '1x1' (Keras, Caffe). */
  strideOn?: '3x3' | '1x1';
  /** BatchNorm's epsilon everywhere; default 1e-5 (Keras's ResNets: 1.001e-5). */
  batchNormEps?: number;
}

/**
 * The generic ImageNet ResNet: a 7×7 stride-2 stem and 3×3 stride-2 max pool (224 → 56), four stages of
 * `layers[i]` blocks with 64/128/256/512 planes, the last three starting at stride 2 (56 → 28 → 14 → 7), global
 * average pooling and one fully connected layer. With residual false, the plain net: no shortcuts, so no
 * downsample projections either.
 */
export class ResNet extends Module {
  static override readonly forwardKeepsNothing = true;
  readonly conv1: Conv2d;
  readonly bn1: BatchNorm2d;
  readonly relu: ReLU;
  readonly maxpool: MaxPool2d;
  readonly layer1: Sequential;
  readonly layer2: Sequential;
  readonly layer3: Sequential;
  readonly layer4: Sequential;
  readonly avgpool: AdaptiveAvgPool2d;
  readonly fc: Linear;
  readonly residual: boolean;
  readonly strideOn: '3x3' | '1x1';
  readonly batchNormEps: number | undefined;
  private inPlanes = 64;

  constructor(
    readonly block: BlockType,
    readonly layers: readonly [number, number, number, number],
    options: ResNetOptions & { residual?: boolean } = {},
  ) {
    super();
    checkOptions('models.ResNet', options, {
      numClasses: true,
      seed: true,
      zeroInitResidual: true,
      inChannels: true,
      residual: true,
      strideOn: true,
      batchNormEps: true,
    });
    this.strideOn = options.strideOn ?? '3x3';
    if (this.strideOn !== '3x3' && this.strideOn !== '1x1')
      throw new ValueError(
        `models.ResNet: strideOn must be '3x3' or '1x1', got ${JSON.stringify(options.strideOn)}`,
      );
    this.batchNormEps = options.batchNormEps;
    this.residual = options.residual ?? true;
    this.conv1 = new Conv2d(options.inChannels ?? 3, 64, 7, { stride: 2, padding: 3, bias: false });
    this.bn1 = new BatchNorm2d(64, { eps: this.batchNormEps });
    this.relu = new ReLU();
    this.maxpool = new MaxPool2d(3, { stride: 2, padding: 1 });
    this.layer1 = this.makeLayer(64, layers[0], 1);
    this.layer2 = this.makeLayer(128, layers[1], 2);
    this.layer3 = this.makeLayer(256, layers[2], 2);
    this.layer4 = this.makeLayer(512, layers[3], 2);
    this.avgpool = new AdaptiveAvgPool2d(1);
    this.fc = new Linear(512 * block.expansion, options.numClasses ?? 1000);
    initResNet(this, options.zeroInitResidual);
  }

  private makeLayer(planes: number, blocks: number, stride: number): Sequential {
    const { block, residual } = this;
    const outPlanes = planes * block.expansion;
    const eps = this.batchNormEps;
    // A projection (1×1 conv + BN: torchvision's option B) only where the identity does not fit.
    const downsample =
      residual && (stride !== 1 || this.inPlanes !== outPlanes)
        ? new Sequential(conv1x1(this.inPlanes, outPlanes, stride), new BatchNorm2d(outPlanes, { eps }))
        : null;
    // Only a bottleneck has a 1×1 for the stride: a basic block is told nothing, so it keeps refusing '1x1'.
    const variant = this.strideOn === '1x1' ? { strideOn: this.strideOn } : {};
    const common = { residual, batchNormEps: eps, ...variant };
    const first = new block(this.inPlanes, planes, { stride, downsample, ...common });
    this.inPlanes = outPlanes;
    const rest = Array.from({ length: blocks - 1 }, () => new block(outPlanes, planes, common));
    return new Sequential(first, ...rest);
  }

  forward(x: Tensor): Tensor {
    const stages = [
      this.conv1,
      this.bn1,
      this.relu,
      this.maxpool,
      this.layer1,
      this.layer2,
      this.layer3,
      this.layer4,
    ];
    return this.fc.call(flatten(callInTurn(x, [...stages, this.avgpool]), 1));
  }
}

/** Blocks per stage of each depth: the paper's Table 1. */
export const resnetDepths = {
  18: { block: BasicBlock, layers: [2, 2, 2, 2] },
  34: { block: BasicBlock, layers: [3, 4, 6, 3] },
  50: { block: Bottleneck, layers: [3, 4, 6, 3] },
  101: { block: Bottleneck, layers: [3, 4, 23, 3] },
  152: { block: Bottleneck, layers: [3, 8, 36, 3] },
} as const satisfies Record<number, { block: BlockType; layers: readonly [number, number, number, number] }>;

/** The depths the ImageNet ResNets come in: 18, 34, 50, 101, 152. */
export type ResNetDepth = keyof typeof resnetDepths;

/** The builder of one depth, residual or plain. */
function resnet(depth: ResNetDepth, residual: boolean): (options?: ResNetOptions) => ResNet {
  const { block, layers } = resnetDepths[depth];
  return seeded((options: ResNetOptions) => new ResNet(block, layers, { ...options, residual }));
}

// ---- named builders, each with the facts tests check ----

/** The paper the ResNets come from, as their facts cite it. */
export const RESNET_PAPER =
  'Deep Residual Learning for Image Recognition (He, Zhang, Ren, Sun; arXiv:1512.03385, CVPR 2016)';

/**
 * Facts of one builder. Parameters and MACs (convolutions and fully connected layers, at 3×224×224) are
 * torchvision's and were checked with PyTorch's forward hooks (scripts/fixtures/model_keys_resnet.py). Only the
 * residual nets have published weights, hence preprocessing.
 */
function imagenetInfo(
  name: string,
  parameters: number,
  macs: number,
  reportedAccuracy?: ModelInfo['reportedAccuracy'],
): ModelInfo {
  const residual = name.startsWith('resnet');
  return {
    name,
    family: 'resnet',
    paper: RESNET_PAPER,
    year: 2015,
    inputShape: [3, 224, 224],
    featureLayer: 'layer4',
    numClasses: 1000,
    parameters,
    macs,
    reportedAccuracy,
    ...(residual ? { preprocessing: IMAGENET_PREPROCESSING } : {}),
  };
}

/** torchvision's IMAGENET1K_V1 weights, acc@1 on the ImageNet-1k validation set (single 224 centre crop). */
function torchvisionTop1(depth: ResNetDepth, top1: number): ModelInfo['reportedAccuracy'] {
  return torchvisionAccuracy(top1, `ResNet${depth}_Weights`);
}

/** The paper's Table 2: plain nets' top-1 error on ImageNet val, 10-crop testing (no published weights). */
function paperPlainTop1(error: number): ModelInfo['reportedAccuracy'] {
  return {
    top1: Math.round((100 - error) * 100) / 100,
    dataset: 'ImageNet-1k validation (10-crop)',
    source: `He et al. 2015, Table 2: ${error} % top-1 error`,
  };
}

/** ResNet-18 (He et al. 2016) with torchvision's layout and keys. */
export const resnet18 = registered(
  imagenetInfo('resnet18', 11_689_512, 1_814_073_344, torchvisionTop1(18, 69.758)),
  resnet(18, true),
);
/** ResNet-34 (He et al. 2016) with torchvision's layout and keys. */
export const resnet34 = registered(
  imagenetInfo('resnet34', 21_797_672, 3_663_761_408, torchvisionTop1(34, 73.314)),
  resnet(34, true),
);
/** ResNet-50 (He et al. 2016) with torchvision's layout and keys (v1.5: stride 2 in the 3×3 convolution). */
export const resnet50 = registered(
  imagenetInfo('resnet50', 25_557_032, 4_089_184_256, torchvisionTop1(50, 76.13)),
  resnet(50, true),
);
/** ResNet-101 (He et al. 2016) with torchvision's layout and keys (v1.5: stride 2 in the 3×3 convolution). */
export const resnet101 = registered(
  imagenetInfo('resnet101', 44_549_160, 7_801_405_440, torchvisionTop1(101, 77.374)),
  resnet(101, true),
);
/** ResNet-152 (He et al. 2016) with torchvision's layout and keys (v1.5: stride 2 in the 3×3 convolution). */
export const resnet152 = registered(
  imagenetInfo('resnet152', 60_192_808, 11_513_626_624, torchvisionTop1(152, 78.312)),
  resnet(152, true),
);

// Plain twins: the residual nets less the downsample projections (their parameters and MACs) and the additions.
/** ResNet-18 without shortcuts: the paper's plain-18. */
export const plain18 = registered(
  imagenetInfo('plain18', 11_515_688, 1_794_805_760, paperPlainTop1(27.94)),
  resnet(18, false),
);
/** ResNet-34 without shortcuts: the paper's plain-34. */
export const plain34 = registered(
  imagenetInfo('plain34', 21_623_848, 3_644_493_824, paperPlainTop1(28.54)),
  resnet(34, false),
);
/** ResNet-50 without shortcuts (a plain net of the same layers). */
export const plain50 = registered(imagenetInfo('plain50', 22_780_456, 3_729_522_688), resnet(50, false));
/** ResNet-101 without shortcuts (a plain net of the same layers). */
export const plain101 = registered(imagenetInfo('plain101', 41_772_584, 7_441_743_872), resnet(101, false));
/** ResNet-152 without shortcuts (a plain net of the same layers). */
export const plain152 = registered(imagenetInfo('plain152', 57_416_232, 11_153_965_056), resnet(152, false));
