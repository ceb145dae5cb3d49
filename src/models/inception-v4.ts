/**
 * Inception-v4 as Szegedy, Ioffe, Vanhoucke and Alemi define it ("Inception-v4, Inception-ResNet and the Impact of
 * Residual Connections on Learning", arXiv:1602.07261, AAAI 2017): the stem of figure 3, Inception-A, -B, -C
 * (figures 4–6), Reduction-A (figure 7, with table 1's k, l, m, n) and Reduction-B (figure 8), assembled as figure 9
 * for 299×299×3 input and 1000 classes. Each module is written as the figure's branches, left to right, from a
 * small table of convolutions; the paper's "V" marks valid (unpadded) convolutions, all others keep the size.
 *
 * Where the paper leaves a detail open, this follows the authors' TensorFlow-slim release: every convolution is
 * conv (no bias) + batch norm (eps 0.001) + ReLU (torchvision's BasicConv2d); average pooling is 3×3 stride 1
 * without counting the padding (TensorFlow's 'SAME' pooling); dropout before the classifier keeps 0.8.
 *
 * Figure 5's third branch reads 1×7 twice; it is 1×7 then 7×1, as in its fourth branch and the released code (the
 * two orders have equal parameters and MACs on square maps).
 */
import { AvgPool2d, AdaptiveAvgPool2d, Dropout, Linear, MaxPool2d, Module, Sequential } from '../nn/index.js';
import { concat, flatten, type Pair, type Tensor } from '../tensor/index.js';
import { checkOptions } from '../options.js';
import { registered, seeded } from './builder.js';
import { BasicConv2d } from './inception.js';
import { type ModelInfo, type ModelOptions } from './registry.js';

/** One convolution of a figure: output channels, kernel, and the figure's padding and stride marks. */
export type ConvStep = readonly [outChannels: number, kernel: Pair, marks?: 'V' | 'stride 2 V'];

/** One step of a branch: a convolution, 3×3 average pooling (size kept) or 3×3 stride-2 valid max pooling. */
export type BranchStep = ConvStep | 'avg pool' | 'max pool stride 2 V';

function convFor(inChannels: number, [outChannels, kernel, marks]: ConvStep): BasicConv2d {
  const [kh, kw] = typeof kernel === 'number' ? [kernel, kernel] : kernel;
  const padding: Pair = marks === undefined ? [(kh - 1) / 2, (kw - 1) / 2] : 0;
  return new BasicConv2d(inChannels, outChannels, kernel, {
    padding,
    stride: marks === 'stride 2 V' ? 2 : 1,
  });
}

/** A branch as a Sequential, and its output channels (a pooling passes its input's through). */
function branch(
  inChannels: number,
  steps: readonly BranchStep[],
): { module: Sequential; outChannels: number } {
  let channels = inChannels;
  const layers = steps.map((step) => {
    if (step === 'avg pool') return new AvgPool2d(3, { stride: 1, padding: 1, countIncludePad: false });
    if (step === 'max pool stride 2 V') return new MaxPool2d(3, { stride: 2 });
    const layer = convFor(channels, step);
    channels = step[0];
    return layer;
  });
  return { module: new Sequential(...layers), outChannels: channels };
}

/**
 * Branches side by side, concatenated on channels in the figure's order: 'branch0' is the figure's leftmost.
 * The modules of Inception-v4 and Inception-ResNet are this with their tables.
 */
export class MixedBranches extends Module {
  readonly branches: readonly Sequential[];
  readonly outChannels: number;

  constructor(
    readonly inChannels: number,
    specs: readonly (readonly BranchStep[])[],
  ) {
    super();
    const built = specs.map((steps) => branch(inChannels, steps));
    built.forEach(({ module }, i) => this.registerModule(`branch${i}`, module));
    this.branches = built.map(({ module }) => module);
    this.outChannels = built.reduce((sum, b) => sum + b.outChannels, 0);
  }

  forward(x: Tensor): Tensor {
    return concat(
      this.branches.map((b) => b.call(x)),
      1,
    );
  }
}

/**
 * The stem of Inception-v4 and Inception-ResNet-v2 (figure 3): 299×299×3 → 149×149×32 → 147×147×32 → 147×147×64 →
 * 73×73×160 → 71×71×192 → 35×35×384.
 */
export class InceptionStem extends Module {
  readonly conv1: BasicConv2d;
  readonly conv2: BasicConv2d;
  readonly conv3: BasicConv2d;
  readonly mixed1: MixedBranches;
  readonly mixed2: MixedBranches;
  readonly mixed3: MixedBranches;
  readonly outChannels = 384;

  constructor() {
    super();
    this.conv1 = convFor(3, [32, 3, 'stride 2 V']);
    this.conv2 = convFor(32, [32, 3, 'V']);
    this.conv3 = convFor(32, [64, 3]);
    this.mixed1 = new MixedBranches(64, [['max pool stride 2 V'], [[96, 3, 'stride 2 V']]]);
    this.mixed2 = new MixedBranches(160, [
      [
        [64, 1],
        [96, 3, 'V'],
      ],
      [
        [64, 1],
        [64, [7, 1]],
        [64, [1, 7]],
        [96, 3, 'V'],
      ],
    ]);
    this.mixed3 = new MixedBranches(192, [[[192, 3, 'stride 2 V']], ['max pool stride 2 V']]);
  }

  forward(x: Tensor): Tensor {
    return [this.conv1, this.conv2, this.conv3, this.mixed1, this.mixed2, this.mixed3].reduce(
      (y, m) => m.call(y),
      x,
    );
  }
}

/** Inception-A of Inception-v4 (figure 4): 35×35×384 → 35×35×(96 · 4). */
export class InceptionV4A extends MixedBranches {
  constructor(inChannels = 384) {
    super(inChannels, [
      ['avg pool', [96, 1]],
      [[96, 1]],
      [
        [64, 1],
        [96, 3],
      ],
      [
        [64, 1],
        [96, 3],
        [96, 3],
      ],
    ]);
  }
}

/** Reduction-A (figure 7): 35 → 17 with table 1's filter counts k, l, m, n; inChannels + n + m channels. */
export class ReductionA extends MixedBranches {
  constructor(inChannels: number, k: number, l: number, m: number, n: number) {
    super(inChannels, [
      ['max pool stride 2 V'],
      [[n, 3, 'stride 2 V']],
      [
        [k, 1],
        [l, 3],
        [m, 3, 'stride 2 V'],
      ],
    ]);
  }
}

/** Inception-B of Inception-v4 (figure 5): 17×17×1024 → 17×17×(128 + 384 + 256 + 256). */
export class InceptionV4B extends MixedBranches {
  constructor(inChannels = 1024) {
    super(inChannels, [
      ['avg pool', [128, 1]],
      [[384, 1]],
      [
        [192, 1],
        [224, [1, 7]],
        [256, [7, 1]],
      ],
      [
        [192, 1],
        [192, [1, 7]],
        [224, [7, 1]],
        [224, [1, 7]],
        [256, [7, 1]],
      ],
    ]);
  }
}

/** Reduction-B of Inception-v4 (figure 8): 17×17×1024 → 8×8×(1024 + 192 + 320). */
export class ReductionV4B extends MixedBranches {
  constructor(inChannels = 1024) {
    super(inChannels, [
      ['max pool stride 2 V'],
      [
        [192, 1],
        [192, 3, 'stride 2 V'],
      ],
      [
        [256, 1],
        [256, [1, 7]],
        [320, [7, 1]],
        [320, 3, 'stride 2 V'],
      ],
    ]);
  }
}

/**
 * Inception-C of Inception-v4 (figure 6): 8×8×1536 → 8×8×(256 + 256 + 512 + 512); branches 2 and 3 end in a 1×3
 * and a 3×1 convolution side by side, as Inception v3's expanded filter banks.
 */
export class InceptionV4C extends Module {
  readonly branch0: Sequential;
  readonly branch1: Sequential;
  readonly branch2: BasicConv2d;
  readonly branch2a: BasicConv2d;
  readonly branch2b: BasicConv2d;
  readonly branch3: Sequential;
  readonly branch3a: BasicConv2d;
  readonly branch3b: BasicConv2d;
  readonly outChannels = 1536;

  constructor(inChannels = 1536) {
    super();
    this.branch0 = branch(inChannels, ['avg pool', [256, 1]]).module;
    this.branch1 = branch(inChannels, [[256, 1]]).module;
    this.branch2 = convFor(inChannels, [384, 1]);
    this.branch2a = convFor(384, [256, [1, 3]]);
    this.branch2b = convFor(384, [256, [3, 1]]);
    this.branch3 = branch(inChannels, [
      [384, 1],
      [448, [1, 3]],
      [512, [3, 1]],
    ]).module;
    this.branch3a = convFor(512, [256, [3, 1]]);
    this.branch3b = convFor(512, [256, [1, 3]]);
  }

  forward(x: Tensor): Tensor {
    const wide = this.branch2.call(x);
    const deep = this.branch3.call(x);
    return concat(
      [
        this.branch0.call(x),
        this.branch1.call(x),
        this.branch2a.call(wide),
        this.branch2b.call(wide),
        this.branch3a.call(deep),
        this.branch3b.call(deep),
      ],
      1,
    );
  }
}

/** n copies of a module, keyed 0 … n − 1. */
export function repeated(n: number, build: () => Module): Sequential {
  return new Sequential(...Array.from({ length: n }, build));
}

export interface InceptionV4Options extends ModelOptions {
  /** Before the classifier; the paper keeps 0.8, so 0.2. */
  dropout?: number;
}

/** Table 1's Reduction-A filter counts (k, l, m, n) for Inception-v4. */
export const INCEPTION_V4_REDUCTION_A = [192, 224, 256, 384] as const;

/**
 * Inception-v4 (figure 9): stem, 4 × Inception-A, Reduction-A, 7 × Inception-B, Reduction-B, 3 × Inception-C,
 * global average pooling, dropout, fully connected. Smallest input 75×75.
 */
export class InceptionV4 extends Module {
  readonly stem: InceptionStem;
  readonly inception_a: Sequential;
  readonly reduction_a: ReductionA;
  readonly inception_b: Sequential;
  readonly reduction_b: ReductionV4B;
  readonly inception_c: Sequential;
  readonly avgpool: AdaptiveAvgPool2d;
  readonly dropout: Dropout;
  fc: Linear;

  constructor(options: InceptionV4Options = {}) {
    super();
    checkOptions('models.InceptionV4', options, { numClasses: true, seed: true, dropout: true });
    this.stem = new InceptionStem();
    this.inception_a = repeated(4, () => new InceptionV4A());
    this.reduction_a = new ReductionA(384, ...INCEPTION_V4_REDUCTION_A);
    this.inception_b = repeated(7, () => new InceptionV4B());
    this.reduction_b = new ReductionV4B();
    this.inception_c = repeated(3, () => new InceptionV4C());
    this.avgpool = new AdaptiveAvgPool2d([1, 1]);
    this.dropout = new Dropout(options.dropout ?? 0.2);
    this.fc = new Linear(1536, options.numClasses ?? 1000);
  }

  forward(x: Tensor): Tensor {
    const features = [
      this.stem,
      this.inception_a,
      this.reduction_a,
      this.inception_b,
      this.reduction_b,
      this.inception_c,
    ].reduce((y, m) => m.call(y), x);
    return this.fc.call(this.dropout.call(flatten(this.avgpool.call(features), 1)));
  }
}

/**
 * Parameters: the sum over the layer shapes, module by module (each BasicConv2d is out · in · kh · kw weights plus
 * 2 · out BN scales and shifts; test/models/inception-v4.test.ts redoes the sum from the figures' tables): stem
 * 605,728; Inception-A 317,632 each (× 4); Reduction-A 2,306,112; Inception-B 2,936,256 each (× 7); Reduction-B
 * 2,747,392; Inception-C 4,553,088 each (× 3); fc 1,537,000: 42,679,816 in all (PyTorch's count of the same
 * network written from the figures in scripts/fixtures/inception_fixtures.py agrees). MACs at 299×299 from the
 * library's counter, checked module by module against the same table in the test.
 */
export const inceptionV4Info: ModelInfo = {
  name: 'inception_v4',
  family: 'inception',
  paper: 'Inception-v4, Inception-ResNet and the Impact of Residual Connections on Learning (Szegedy et al.)',
  year: 2016,
  inputShape: [3, 299, 299],
  featureLayer: 'inception_c',
  numClasses: 1000,
  parameters: 42_679_816,
  macs: 12_253_974_624,
  reportedAccuracy: {
    top1: 80.0,
    dataset: 'ImageNet-1k validation',
    source:
      'paper, table 2: single model, single crop, top-1 error 20.0 % (non-blacklisted validation subset)',
  },
};

/** Inception-v4 as the paper's figures define it. */
export const inception_v4 = registered(
  inceptionV4Info,
  seeded((options: InceptionV4Options) => new InceptionV4(options)),
);
