/**
 * Inception-ResNet-v2 as Szegedy, Ioffe, Vanhoucke and Alemi define it ("Inception-v4, Inception-ResNet and the
 * Impact of Residual Connections on Learning", arXiv:1602.07261): Inception-v4's stem (figure 3), 5 ×
 * Inception-ResNet-A (figure 16), Reduction-A with table 1's k, l, m, n = 256, 256, 384, 384 (figure 7),
 * 10 × Inception-ResNet-B (figure 17), Reduction-B (figure 18), 5 × Inception-ResNet-C (figure 19), average pooling,
 * dropout (keep 0.8) and a classifier, as the schema of figure 15. 299×299×3 input, 1000 classes.
 *
 * Each residual block runs its branches, joins them with a 1×1 "linear" convolution (bias, no batch norm, no ReLU:
 * the paper puts batch norm on the traditional layers only) back to its input's width, scales that by a constant
 * and adds it to the input, then applies ReLU (section 3.3). The scales are 0.17, 0.10 and 0.20 for the A, B and C
 * blocks, the values of the authors' TensorFlow-slim release and of the PyTorch ports, within the paper's
 * "between 0.1 and 0.3".
 *
 * The paper's figures 17 and 19 print the joining convolution's width as 1154 and 2048, which cannot be added to
 * their inputs: Reduction-A gives 384 (pooled) + 384 + 384 = 1152 channels and Reduction-B 1152 + 384 + 288 + 320 =
 * 2144. Here each joins back to its input's width, 1152 and 2144, so the classifier sees 2144 features.
 */
import { AdaptiveAvgPool2d, Conv2d, Dropout, Linear, Module, Sequential } from '../nn/index.js';
import { add, flatten, mul, relu, type Tensor } from '../tensor/index.js';
import { checkOptions } from '../options.js';
import { registered, seeded } from './builder.js';
import { InceptionStem, MixedBranches, ReductionA, repeated, type BranchStep } from './inception-v4.js';
import { type ModelInfo, type ModelOptions } from './registry.js';

/**
 * A residual Inception block: relu(x + scale · up(concat(branches(x)))), `up` the 1×1 linear convolution back to
 * the input's width.
 */
export class InceptionResNetBlock extends MixedBranches {
  readonly up: Conv2d;

  constructor(
    inChannels: number,
    specs: readonly (readonly BranchStep[])[],
    readonly scale: number,
  ) {
    super(inChannels, specs);
    this.up = new Conv2d(this.outChannels, inChannels, 1);
  }

  override forward(x: Tensor): Tensor {
    return relu(add(x, mul(this.up.call(super.forward(x)), this.scale)));
  }
}

/** Residual scales of the A, B and C blocks (TensorFlow-slim's block35, block17, block8). */
export const INCEPTION_RESNET_SCALES = { a: 0.17, b: 0.1, c: 0.2 } as const;

/** Inception-ResNet-A of Inception-ResNet-v2 (figure 16) on 35×35×384: branches of 32, 32 and 64 joined to 384. */
export class InceptionResNetA extends InceptionResNetBlock {
  constructor(inChannels = 384, scale: number = INCEPTION_RESNET_SCALES.a) {
    super(
      inChannels,
      [
        [[32, 1]],
        [
          [32, 1],
          [32, 3],
        ],
        [
          [32, 1],
          [48, 3],
          [64, 3],
        ],
      ],
      scale,
    );
  }
}

/** Inception-ResNet-B (figure 17) on 17×17×1152: branches of 192 and 192 (1×7, 7×1) joined to 1152. */
export class InceptionResNetB extends InceptionResNetBlock {
  constructor(inChannels = 1152, scale: number = INCEPTION_RESNET_SCALES.b) {
    super(
      inChannels,
      [
        [[192, 1]],
        [
          [128, 1],
          [160, [1, 7]],
          [192, [7, 1]],
        ],
      ],
      scale,
    );
  }
}

/** Inception-ResNet-C (figure 19) on 8×8×2144: branches of 192 and 256 (1×3, 3×1) joined to 2144. */
export class InceptionResNetC extends InceptionResNetBlock {
  constructor(inChannels = 2144, scale: number = INCEPTION_RESNET_SCALES.c) {
    super(
      inChannels,
      [
        [[192, 1]],
        [
          [192, 1],
          [224, [1, 3]],
          [256, [3, 1]],
        ],
      ],
      scale,
    );
  }
}

/** Reduction-B of Inception-ResNet-v2 (figure 18): 17×17×1152 → 8×8×(1152 + 384 + 288 + 320). */
export class ReductionResNetV2B extends MixedBranches {
  constructor(inChannels = 1152) {
    super(inChannels, [
      ['max pool stride 2 V'],
      [
        [256, 1],
        [384, 3, 'stride 2 V'],
      ],
      [
        [256, 1],
        [288, 3, 'stride 2 V'],
      ],
      [
        [256, 1],
        [288, 3],
        [320, 3, 'stride 2 V'],
      ],
    ]);
  }
}

/** Table 1's Reduction-A filter counts (k, l, m, n) for Inception-ResNet-v2. */
export const INCEPTION_RESNET_V2_REDUCTION_A = [256, 256, 384, 384] as const;

export interface InceptionResNetV2Options extends ModelOptions {
  /** Before the classifier; the paper keeps 0.8, so 0.2. */
  dropout?: number;
}

/** Inception-ResNet-v2 (figure 15's schema with figures 3, 16, 7, 17, 18, 19). Smallest input 75×75. */
export class InceptionResNetV2 extends Module {
  readonly stem: InceptionStem;
  readonly inception_resnet_a: Sequential;
  readonly reduction_a: ReductionA;
  readonly inception_resnet_b: Sequential;
  readonly reduction_b: ReductionResNetV2B;
  readonly inception_resnet_c: Sequential;
  readonly avgpool: AdaptiveAvgPool2d;
  readonly dropout: Dropout;
  fc: Linear;

  constructor(options: InceptionResNetV2Options = {}) {
    super();
    checkOptions('models.InceptionResNetV2', options, { numClasses: true, seed: true, dropout: true });
    this.stem = new InceptionStem();
    this.inception_resnet_a = repeated(5, () => new InceptionResNetA());
    this.reduction_a = new ReductionA(384, ...INCEPTION_RESNET_V2_REDUCTION_A);
    this.inception_resnet_b = repeated(10, () => new InceptionResNetB());
    this.reduction_b = new ReductionResNetV2B();
    this.inception_resnet_c = repeated(5, () => new InceptionResNetC());
    this.avgpool = new AdaptiveAvgPool2d([1, 1]);
    this.dropout = new Dropout(options.dropout ?? 0.2);
    this.fc = new Linear(2144, options.numClasses ?? 1000);
  }

  forward(x: Tensor): Tensor {
    const features = [
      this.stem,
      this.inception_resnet_a,
      this.reduction_a,
      this.inception_resnet_b,
      this.reduction_b,
      this.inception_resnet_c,
    ].reduce((y, m) => m.call(y), x);
    return this.fc.call(this.dropout.call(flatten(this.avgpool.call(features), 1)));
  }
}

/**
 * Parameters: the sum over the layer shapes (see InceptionV4's info; test/models/inception-resnet.test.ts redoes
 * it): stem 605,728; Inception-ResNet-A 137,568 each (× 5); Reduction-A 2,902,528; Inception-ResNet-B 1,171,904
 * each (× 10); Reduction-B 3,930,112; Inception-ResNet-C 2,088,736 each (× 5); fc 2,145,000: 32,433,928 in all
 * (PyTorch's count of the network written in scripts/fixtures/inception_fixtures.py agrees). The authors'
 * TensorFlow-slim model is larger: its stem ends at 320 channels, it runs 10, 20 and 10 blocks and adds a 1×1
 * convolution to 1536 before pooling, none of which the paper's figures show.
 */
export const inceptionResNetV2Info: ModelInfo = {
  name: 'inception_resnet_v2',
  family: 'inception',
  paper: 'Inception-v4, Inception-ResNet and the Impact of Residual Connections on Learning (Szegedy et al.)',
  year: 2016,
  inputShape: [3, 299, 299],
  featureLayer: 'inception_resnet_c',
  numClasses: 1000,
  parameters: 32_433_928,
  macs: 9_257_953_632,
  reportedAccuracy: {
    top1: 80.1,
    dataset: 'ImageNet-1k validation',
    source:
      'paper, table 2: single model, single crop, top-1 error 19.9 % (non-blacklisted validation subset)',
  },
};

/** Inception-ResNet-v2 as the paper's figures define it, residual scales 0.17 / 0.10 / 0.20. */
export const inception_resnet_v2 = registered(
  inceptionResNetV2Info,
  seeded((options: InceptionResNetV2Options) => new InceptionResNetV2(options)),
);
