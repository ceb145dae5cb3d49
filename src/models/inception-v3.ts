/**
 * Inception v3 (Szegedy, Vanhoucke, Ioffe, Shlens, Wojna, "Rethinking the Inception Architecture for Computer
 * Vision", arXiv:1512.00567, CVPR 2016) exactly as torchvision 0.14 builds it: the modules it calls InceptionA … E
 * (figures 5, 6 and 7 of the paper and its grid reductions), the auxiliary classifier on the 17×17 grid, 299×299
 * input. Parameter names are torchvision's state_dict keys ('Mixed_6b.branch7x7_2.conv.weight',
 * 'AuxLogits.conv1.bn.running_var'), so its .pth weights load by name.
 */
import {
  AdaptiveAvgPool2d,
  Conv2d,
  Dropout,
  Linear,
  MaxPool2d,
  Module,
  init,
  lossWithAuxiliary,
  type OutputsWithAuxiliary,
  type WithAuxiliaryOutputs,
} from '../nn/index.js';
import {
  adaptiveAvgPool2d,
  avgPool2d,
  concat,
  crossEntropy,
  flatten,
  maxPool2d,
  type Pair,
  type Tensor,
} from '../tensor/index.js';
import { checkOptions } from '../options.js';
import { imagenetToInceptionRange, registered, seeded, torchvisionAccuracy } from './builder.js';
import { BasicConv2d } from './inception.js';
import { IMAGENET_PREPROCESSING, type ModelInfo, type ModelOptions } from './registry.js';

function conv(inChannels: number, outChannels: number, kernelSize: Pair, padding: Pair = 0): BasicConv2d {
  return new BasicConv2d(inChannels, outChannels, kernelSize, { padding });
}

/** A 1×7 (or 1×3) convolution that keeps the size. */
function row(inChannels: number, outChannels: number, length: number): BasicConv2d {
  return conv(inChannels, outChannels, [1, length], [0, (length - 1) / 2]);
}

/** A 7×1 (or 3×1) convolution that keeps the size. */
function column(inChannels: number, outChannels: number, length: number): BasicConv2d {
  return conv(inChannels, outChannels, [length, 1], [(length - 1) / 2, 0]);
}

/** 3×3 stride-2 convolution without padding: the grid reductions' 35 → 17 and 17 → 8. */
function reduce(inChannels: number, outChannels: number): BasicConv2d {
  return new BasicConv2d(inChannels, outChannels, 3, { stride: 2 });
}

/**
 * The pooling branch: 3×3 stride-1 average pooling. torchvision counts the zero padding in each window
 * (F.avg_pool2d's default); Keras's AveragePooling2D(padding='same') averages over the window's pixels inside the
 * image only (countIncludePad false), which changes the border values.
 */
function averageSameSize(x: Tensor, countIncludePad: boolean): Tensor {
  return avgPool2d(x, 3, { stride: 1, padding: 1, countIncludePad });
}

function chain(x: Tensor, convs: readonly Module[]): Tensor {
  return convs.reduce((y, c) => c.call(y), x);
}

/**
 * The 35×35 module (the paper's figure 5: the 5×5 factorised into two 3×3s; torchvision keeps a 5×5 branch as the
 * released weights have it): 64 + 64 + 96 + poolFeatures channels.
 */
export class InceptionA extends Module {
  readonly branch1x1: BasicConv2d;
  readonly branch5x5_1: BasicConv2d;
  readonly branch5x5_2: BasicConv2d;
  readonly branch3x3dbl_1: BasicConv2d;
  readonly branch3x3dbl_2: BasicConv2d;
  readonly branch3x3dbl_3: BasicConv2d;
  readonly branch_pool: BasicConv2d;
  /** Whether the pooling branch's averages count the padding (torchvision's true, Keras's false). */
  readonly poolCountIncludePad: boolean;

  constructor(inChannels: number, poolFeatures: number, poolCountIncludePad = true) {
    super();
    this.poolCountIncludePad = poolCountIncludePad;
    this.branch1x1 = conv(inChannels, 64, 1);
    this.branch5x5_1 = conv(inChannels, 48, 1);
    this.branch5x5_2 = conv(48, 64, 5, 2);
    this.branch3x3dbl_1 = conv(inChannels, 64, 1);
    this.branch3x3dbl_2 = conv(64, 96, 3, 1);
    this.branch3x3dbl_3 = conv(96, 96, 3, 1);
    this.branch_pool = conv(inChannels, poolFeatures, 1);
  }

  forward(x: Tensor): Tensor {
    return concat(
      [
        this.branch1x1.call(x),
        chain(x, [this.branch5x5_1, this.branch5x5_2]),
        chain(x, [this.branch3x3dbl_1, this.branch3x3dbl_2, this.branch3x3dbl_3]),
        this.branch_pool.call(averageSameSize(x, this.poolCountIncludePad)),
      ],
      1,
    );
  }
}

/** Grid reduction 35 → 17 (the paper's figure 10): 384 + 96 channels and the input's, side by side. */
export class InceptionB extends Module {
  readonly branch3x3: BasicConv2d;
  readonly branch3x3dbl_1: BasicConv2d;
  readonly branch3x3dbl_2: BasicConv2d;
  readonly branch3x3dbl_3: BasicConv2d;

  constructor(inChannels: number) {
    super();
    this.branch3x3 = reduce(inChannels, 384);
    this.branch3x3dbl_1 = conv(inChannels, 64, 1);
    this.branch3x3dbl_2 = conv(64, 96, 3, 1);
    this.branch3x3dbl_3 = reduce(96, 96);
  }

  forward(x: Tensor): Tensor {
    return concat(
      [
        this.branch3x3.call(x),
        chain(x, [this.branch3x3dbl_1, this.branch3x3dbl_2, this.branch3x3dbl_3]),
        maxPool2d(x, 3, { stride: 2 }),
      ],
      1,
    );
  }
}

/**
 * The 17×17 module with 7×7 convolutions factorised into 1×7 and 7×1 (the paper's figure 6, n = 7): 4 × 192
 * channels; channels7x7 is the width inside the factorised branches (128, 160, 160, 192 in Mixed_6b … 6e).
 */
export class InceptionC extends Module {
  readonly branch1x1: BasicConv2d;
  readonly branch7x7_1: BasicConv2d;
  readonly branch7x7_2: BasicConv2d;
  readonly branch7x7_3: BasicConv2d;
  readonly branch7x7dbl_1: BasicConv2d;
  readonly branch7x7dbl_2: BasicConv2d;
  readonly branch7x7dbl_3: BasicConv2d;
  readonly branch7x7dbl_4: BasicConv2d;
  readonly branch7x7dbl_5: BasicConv2d;
  readonly branch_pool: BasicConv2d;

  /** Whether the pooling branch's averages count the padding (torchvision's true, Keras's false). */
  readonly poolCountIncludePad: boolean;

  constructor(inChannels: number, channels7x7: number, poolCountIncludePad = true) {
    super();
    this.poolCountIncludePad = poolCountIncludePad;
    const c7 = channels7x7;
    this.branch1x1 = conv(inChannels, 192, 1);
    this.branch7x7_1 = conv(inChannels, c7, 1);
    this.branch7x7_2 = row(c7, c7, 7);
    this.branch7x7_3 = column(c7, 192, 7);
    this.branch7x7dbl_1 = conv(inChannels, c7, 1);
    this.branch7x7dbl_2 = column(c7, c7, 7);
    this.branch7x7dbl_3 = row(c7, c7, 7);
    this.branch7x7dbl_4 = column(c7, c7, 7);
    this.branch7x7dbl_5 = row(c7, 192, 7);
    this.branch_pool = conv(inChannels, 192, 1);
  }

  forward(x: Tensor): Tensor {
    return concat(
      [
        this.branch1x1.call(x),
        chain(x, [this.branch7x7_1, this.branch7x7_2, this.branch7x7_3]),
        chain(x, [
          this.branch7x7dbl_1,
          this.branch7x7dbl_2,
          this.branch7x7dbl_3,
          this.branch7x7dbl_4,
          this.branch7x7dbl_5,
        ]),
        this.branch_pool.call(averageSameSize(x, this.poolCountIncludePad)),
      ],
      1,
    );
  }
}

/** Grid reduction 17 → 8: 320 + 192 channels and the input's. */
export class InceptionD extends Module {
  readonly branch3x3_1: BasicConv2d;
  readonly branch3x3_2: BasicConv2d;
  readonly branch7x7x3_1: BasicConv2d;
  readonly branch7x7x3_2: BasicConv2d;
  readonly branch7x7x3_3: BasicConv2d;
  readonly branch7x7x3_4: BasicConv2d;

  constructor(inChannels: number) {
    super();
    this.branch3x3_1 = conv(inChannels, 192, 1);
    this.branch3x3_2 = reduce(192, 320);
    this.branch7x7x3_1 = conv(inChannels, 192, 1);
    this.branch7x7x3_2 = row(192, 192, 7);
    this.branch7x7x3_3 = column(192, 192, 7);
    this.branch7x7x3_4 = reduce(192, 192);
  }

  forward(x: Tensor): Tensor {
    return concat(
      [
        chain(x, [this.branch3x3_1, this.branch3x3_2]),
        chain(x, [this.branch7x7x3_1, this.branch7x7x3_2, this.branch7x7x3_3, this.branch7x7x3_4]),
        maxPool2d(x, 3, { stride: 2 }),
      ],
      1,
    );
  }
}

/**
 * The 8×8 module with expanded filter banks (the paper's figure 7): 1×3 and 3×1 side by side rather than in
 * sequence, 320 + 768 + 768 + 192 = 2048 channels.
 */
export class InceptionE extends Module {
  readonly branch1x1: BasicConv2d;
  readonly branch3x3_1: BasicConv2d;
  readonly branch3x3_2a: BasicConv2d;
  readonly branch3x3_2b: BasicConv2d;
  readonly branch3x3dbl_1: BasicConv2d;
  readonly branch3x3dbl_2: BasicConv2d;
  readonly branch3x3dbl_3a: BasicConv2d;
  readonly branch3x3dbl_3b: BasicConv2d;
  readonly branch_pool: BasicConv2d;
  /** Whether the pooling branch's averages count the padding (torchvision's true, Keras's false). */
  readonly poolCountIncludePad: boolean;

  constructor(inChannels: number, poolCountIncludePad = true) {
    super();
    this.poolCountIncludePad = poolCountIncludePad;
    this.branch1x1 = conv(inChannels, 320, 1);
    this.branch3x3_1 = conv(inChannels, 384, 1);
    this.branch3x3_2a = row(384, 384, 3);
    this.branch3x3_2b = column(384, 384, 3);
    this.branch3x3dbl_1 = conv(inChannels, 448, 1);
    this.branch3x3dbl_2 = conv(448, 384, 3, 1);
    this.branch3x3dbl_3a = row(384, 384, 3);
    this.branch3x3dbl_3b = column(384, 384, 3);
    this.branch_pool = conv(inChannels, 192, 1);
  }

  forward(x: Tensor): Tensor {
    const narrow = this.branch3x3_1.call(x);
    const deep = chain(x, [this.branch3x3dbl_1, this.branch3x3dbl_2]);
    return concat(
      [
        this.branch1x1.call(x),
        concat([this.branch3x3_2a.call(narrow), this.branch3x3_2b.call(narrow)], 1),
        concat([this.branch3x3dbl_3a.call(deep), this.branch3x3dbl_3b.call(deep)], 1),
        this.branch_pool.call(averageSameSize(x, this.poolCountIncludePad)),
      ],
      1,
    );
  }
}

/**
 * The auxiliary classifier on the 17×17×768 grid: 5×5 stride-3 average pooling (to 5×5), 1×1 conv to 128, 5×5
 * conv to 768, global average, fc. Its map must be at least 17×17, so it runs only near the 299×299 input.
 */
export class InceptionV3Aux extends Module {
  readonly conv0: BasicConv2d;
  readonly conv1: BasicConv2d;
  readonly fc: Linear;

  constructor(inChannels: number, numClasses: number) {
    super();
    this.conv0 = conv(inChannels, 128, 1);
    this.conv1 = conv(128, 768, 5);
    this.fc = new Linear(768, numClasses);
  }

  forward(x: Tensor): Tensor {
    const pooled = avgPool2d(x, 5, { stride: 3 });
    const features = adaptiveAvgPool2d(this.conv1.call(this.conv0.call(pooled)), 1);
    return this.fc.call(flatten(features, 1));
  }
}

/** Inception v3's outputs: the main logits and, in training with the auxiliary head, its logits. */
export interface InceptionV3Outputs {
  logits: Tensor;
  /** Null in evaluation or without the head. */
  aux: Tensor | null;
}

export interface InceptionV3Options extends ModelOptions {
  /** Build the auxiliary classifier (torchvision's default, true; its IMAGENET1K_V1 weights include it). */
  auxLogits?: boolean;
  /**
   * Re-normalise ImageNet-normalised input to the [−1, 1] range of the weights ported from TensorFlow. Off by
   * default, as torchvision's `inception_v3()`; torchvision turns it on when it loads IMAGENET1K_V1.
   */
  transformInput?: boolean;
  /** Before the classifier; torchvision's 0.5. */
  dropout?: number;
  /**
   * Whether the 3×3 average pooling branches of Mixed_5b … 5d, 6b … 6e, 7b and 7c count the zero padding in their
   * border windows: true as torchvision (its weights were trained so), false as Keras's InceptionV3 (TensorFlow's
   * 'same' pooling averages over the pixels inside the image), which its weights need.
   */
  poolCountIncludePad?: boolean;
}

/**
 * Weight of the auxiliary head's loss: 0.4, as TensorFlow-slim's training script (the authors' release) weights
 * 'AuxLogits'; the paper gives none.
 */
export const INCEPTION_V3_AUX_LOSS_WEIGHT = 0.4;

/**
 * Inception v3, torchvision's structure and keys. `call(x)` returns the main logits; `forwardWithAux(x)` in
 * training adds the auxiliary head's, and train.fit trains both through `callWithAuxiliary` (nn's
 * auxiliary-output protocol). Smallest input 75×75 (the head needs about 299×299, so at smaller sizes train without
 * it: `auxLogits: false`).
 */
export class InceptionV3 extends Module implements WithAuxiliaryOutputs {
  readonly auxLogits: boolean;
  /** May be switched after building, as torchvision does when it loads the ported weights. */
  transformInput: boolean;
  readonly Conv2d_1a_3x3: BasicConv2d;
  readonly Conv2d_2a_3x3: BasicConv2d;
  readonly Conv2d_2b_3x3: BasicConv2d;
  readonly maxpool1: MaxPool2d;
  readonly Conv2d_3b_1x1: BasicConv2d;
  readonly Conv2d_4a_3x3: BasicConv2d;
  readonly maxpool2: MaxPool2d;
  readonly Mixed_5b: InceptionA;
  readonly Mixed_5c: InceptionA;
  readonly Mixed_5d: InceptionA;
  readonly Mixed_6a: InceptionB;
  readonly Mixed_6b: InceptionC;
  readonly Mixed_6c: InceptionC;
  readonly Mixed_6d: InceptionC;
  readonly Mixed_6e: InceptionC;
  AuxLogits: InceptionV3Aux | null;
  readonly Mixed_7a: InceptionD;
  readonly Mixed_7b: InceptionE;
  readonly Mixed_7c: InceptionE;
  readonly avgpool: AdaptiveAvgPool2d;
  readonly dropout: Dropout;
  fc: Linear;
  /** Set while forwardWithAux runs, so forward keeps the head's logits; null otherwise. */
  #aux: { logits: Tensor | null } | null = null;

  constructor(options: InceptionV3Options = {}) {
    super();
    checkOptions('models.InceptionV3', options, {
      numClasses: true,
      seed: true,
      auxLogits: true,
      transformInput: true,
      dropout: true,
      poolCountIncludePad: true,
    });
    const numClasses = options.numClasses ?? 1000;
    this.auxLogits = options.auxLogits ?? true;
    this.transformInput = options.transformInput ?? false;
    const countPad = options.poolCountIncludePad ?? true;
    this.Conv2d_1a_3x3 = new BasicConv2d(3, 32, 3, { stride: 2 });
    this.Conv2d_2a_3x3 = conv(32, 32, 3);
    this.Conv2d_2b_3x3 = conv(32, 64, 3, 1);
    this.maxpool1 = new MaxPool2d(3, { stride: 2 });
    this.Conv2d_3b_1x1 = conv(64, 80, 1);
    this.Conv2d_4a_3x3 = conv(80, 192, 3);
    this.maxpool2 = new MaxPool2d(3, { stride: 2 });
    this.Mixed_5b = new InceptionA(192, 32, countPad);
    this.Mixed_5c = new InceptionA(256, 64, countPad);
    this.Mixed_5d = new InceptionA(288, 64, countPad);
    this.Mixed_6a = new InceptionB(288);
    this.Mixed_6b = new InceptionC(768, 128, countPad);
    this.Mixed_6c = new InceptionC(768, 160, countPad);
    this.Mixed_6d = new InceptionC(768, 160, countPad);
    this.Mixed_6e = new InceptionC(768, 192, countPad);
    this.AuxLogits = this.auxLogits ? new InceptionV3Aux(768, numClasses) : null;
    this.Mixed_7a = new InceptionD(768);
    this.Mixed_7b = new InceptionE(1280, countPad);
    this.Mixed_7c = new InceptionE(2048, countPad);
    this.avgpool = new AdaptiveAvgPool2d([1, 1]);
    this.dropout = new Dropout(options.dropout ?? 0.5);
    this.fc = new Linear(2048, numClasses);

    // torchvision's init: truncated N(0, σ²) on [−2, 2] for conv and fc weights, σ 0.1 except the head's 5×5 conv
    // (0.01) and fc (0.001); BN 1 and 0. The bounds are ≥ 20 σ, beyond any draw, so a plain normal is it.
    for (const module of this.modules()) {
      if (module instanceof Conv2d || module instanceof Linear) init.normal(module.weight, 0, 0.1);
    }
    if (this.AuxLogits !== null) {
      init.normal(this.AuxLogits.conv1.conv.weight, 0, 0.01);
      init.normal(this.AuxLogits.fc.weight, 0, 0.001);
    }
  }

  forward(input: Tensor): Tensor {
    let x = this.transformInput ? imagenetToInceptionRange(input) : input;
    x = chain(x, [
      this.Conv2d_1a_3x3,
      this.Conv2d_2a_3x3,
      this.Conv2d_2b_3x3,
      this.maxpool1,
      this.Conv2d_3b_1x1,
      this.Conv2d_4a_3x3,
      this.maxpool2,
    ]);
    x = chain(x, [
      this.Mixed_5b,
      this.Mixed_5c,
      this.Mixed_5d,
      this.Mixed_6a,
      this.Mixed_6b,
      this.Mixed_6c,
      this.Mixed_6d,
      this.Mixed_6e,
    ]);
    if (this.#aux !== null && this.training && this.AuxLogits !== null)
      this.#aux.logits = this.AuxLogits.call(x);
    x = chain(x, [this.Mixed_7a, this.Mixed_7b, this.Mixed_7c]);
    return this.fc.call(this.dropout.call(flatten(this.avgpool.call(x), 1)));
  }

  /** The main logits and, in training with the head, the auxiliary logits (torchvision's InceptionOutputs). */
  forwardWithAux(x: Tensor): InceptionV3Outputs {
    this.#aux = { logits: null };
    try {
      const logits = this.call(x);
      return { logits, aux: this.#aux.logits };
    } finally {
      this.#aux = null;
    }
  }

  /** The auxiliary-output protocol: forwardWithAux's outputs, the head's loss weighted 0.4. */
  callWithAuxiliary(x: Tensor): OutputsWithAuxiliary {
    return auxiliaryOutputs(this.forwardWithAux(x));
  }
}

function auxiliaryOutputs(outputs: InceptionV3Outputs): OutputsWithAuxiliary {
  const { logits, aux } = outputs;
  const auxiliary =
    aux === null ? [] : [{ name: 'AuxLogits', logits: aux, lossWeight: INCEPTION_V3_AUX_LOSS_WEIGHT }];
  return { logits, auxiliary };
}

/** Cross-entropy of the main logits + 0.4 × the auxiliary head's, as the authors trained. */
export function inceptionV3Loss(outputs: InceptionV3Outputs, labels: Tensor): Tensor {
  return lossWithAuxiliary(auxiliaryOutputs(outputs), labels, crossEntropy);
}

/**
 * Inception v3's figures at 299×299×3 (torchvision 0.14, counted by scripts/fixtures/inception_fixtures.py): the
 * auxiliary head holds 3,326,696 of the 27,161,264 parameters (torchvision's IMAGENET1K_V1 file has them: it loads
 * strictly into the default model) and costs 5,683,200 MACs in training.
 */
export const inceptionV3Figures = {
  parametersWithAux: 27_161_264,
  parametersWithoutAux: 23_834_568,
  macs: 5_713_216_096,
  auxMacs: 5_683_200,
} as const;

/** `parameters` is the default's, with the auxiliary head; `macs` the main path (evaluation). */
export const inceptionV3Info: ModelInfo = {
  name: 'inception_v3',
  family: 'inception',
  paper: 'Rethinking the Inception Architecture for Computer Vision (Szegedy et al.)',
  year: 2015,
  inputShape: [3, 299, 299],
  featureLayer: 'Mixed_7c',
  numClasses: 1000,
  parameters: inceptionV3Figures.parametersWithAux,
  macs: inceptionV3Figures.macs,
  reportedAccuracy: torchvisionAccuracy(77.294, 'Inception_V3_Weights'),
  preprocessing: IMAGENET_PREPROCESSING,
};

/** Inception v3 with torchvision's layout and keys, auxiliary head included by default. */
export const inception_v3 = registered(
  inceptionV3Info,
  seeded((options: InceptionV3Options) => new InceptionV3(options)),
);
