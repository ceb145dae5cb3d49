/**
 * GoogLeNet (Inception v1) and its Inception module, the torchvision way: a conv block helper, the module in its
 * naive and bottlenecked forms, the auxiliary classifier, one GoogLeNet class, one builder with its metadata.
 * Szegedy et al., "Going Deeper with Convolutions", 2014 (CVPR 2015). Parameter names are torchvision's
 * state_dict keys (`inception3a.branch2.1.conv.weight`, `aux1.fc1.bias`).
 */
import { ValueError } from '../errors.js';
import {
  AdaptiveAvgPool2d,
  BatchNorm2d,
  Conv2d,
  Dropout,
  Linear,
  MaxPool2d,
  Module,
  Sequential,
  init,
  lossWithAuxiliary,
  type AuxiliaryOutput,
  type OutputsWithAuxiliary,
  type WithAuxiliaryOutputs,
} from '../nn/index.js';
import {
  adaptiveAvgPool2d,
  concat,
  crossEntropy,
  flatten,
  relu,
  type Pair,
  type Tensor,
} from '../tensor/index.js';
import { imagenetToInceptionRange, registered, seeded, torchvisionAccuracy } from './builder.js';
import { IMAGENET_PREPROCESSING, type ModelInfo, type ModelOptions } from './registry.js';
import { checkOptions } from '../options.js';

/** Convolution settings of a BasicConv2d. */
export interface BasicConv2dOptions {
  stride?: Pair;
  /** A number or [padH, padW] (Inception v3's 1×7 and 7×1 convolutions). */
  padding?: Pair;
}

/** torchvision's conv block: convolution without bias, batch norm (eps 0.001, as the ported weights), ReLU. */
export class BasicConv2d extends Module {
  readonly conv: Conv2d;
  readonly bn: BatchNorm2d;

  constructor(inChannels: number, outChannels: number, kernelSize: Pair, options: BasicConv2dOptions = {}) {
    super();
    checkOptions('models.BasicConv2d', options, { stride: true, padding: true });
    this.conv = new Conv2d(inChannels, outChannels, kernelSize, { ...options, bias: false });
    this.bn = new BatchNorm2d(outChannels, { eps: 0.001 });
  }

  forward(x: Tensor): Tensor {
    return relu(this.bn.call(this.conv.call(x)));
  }
}

/** Makes the convolutions of an Inception module; BasicConv2d unless another block is given. */
export type ConvBlock = (
  inChannels: number,
  outChannels: number,
  kernelSize: number,
  options?: BasicConv2dOptions,
) => Module;

const basicConv2d: ConvBlock = (inChannels, outChannels, kernelSize, options) =>
  new BasicConv2d(inChannels, outChannels, kernelSize, options);

/** 3×3 stride-1 max pooling that keeps the size (torchvision: padding 1, ceil mode). */
function poolBranch(): MaxPool2d {
  return new MaxPool2d(3, { stride: 1, padding: 1, ceilMode: true });
}

function runBranches(x: Tensor, branches: readonly Module[]): Tensor {
  return concat(
    branches.map((branch) => branch.call(x)),
    1,
  );
}

/** How a naive Inception module is built. */
export interface NaiveInceptionOptions {
  convBlock?: ConvBlock;
}

/**
 * The paper's naive Inception module (figure 2a): 1×1, 3×3 and 5×5 convolutions and 3×3 max pooling side by side,
 * concatenated. The pooling branch passes all inChannels through, so the width only grows from module to module,
 * and the 5×5 convolutions on the full input are what make it expensive.
 */
export class NaiveInception extends Module {
  readonly branch1: Module;
  readonly branch2: Module;
  readonly branch3: Module;
  readonly branch4: MaxPool2d;
  readonly outChannels: number;

  constructor(
    readonly inChannels: number,
    ch1x1: number,
    ch3x3: number,
    ch5x5: number,
    options: NaiveInceptionOptions = {},
  ) {
    super();
    checkOptions('models.NaiveInception', options, { convBlock: true });
    const block = options.convBlock ?? basicConv2d;
    this.branch1 = block(inChannels, ch1x1, 1);
    this.branch2 = block(inChannels, ch3x3, 3, { padding: 1 });
    this.branch3 = block(inChannels, ch5x5, 5, { padding: 2 });
    this.branch4 = poolBranch();
    this.outChannels = ch1x1 + ch3x3 + ch5x5 + inChannels;
  }

  forward(x: Tensor): Tensor {
    return runBranches(x, [this.branch1, this.branch2, this.branch3, this.branch4]);
  }
}

/** How an Inception module is built. */
export interface InceptionOptions {
  convBlock?: ConvBlock;
  /**
   * Kernel of branch 3's second convolution. torchvision uses 3 (a known deviation from the paper, kept so its
   * weights load: pytorch/vision issue 906); 5 is the paper's 5×5.
   */
  branch3KernelSize?: 3 | 5;
}

/**
 * The Inception module with 1×1 bottlenecks (figure 2b), as torchvision builds it: branch1 1×1; branch2 1×1 → 3×3;
 * branch3 1×1 → 3×3 (the paper's 5×5 on request); branch4 3×3 max pool → 1×1. Arguments follow table 1's
 * columns; inception 3a is (192, 64, 96, 128, 16, 32, 32): 28×28×192 → 64 + 128 + 32 + 32 = 28×28×256.
 */
export class Inception extends Module {
  readonly branch1: Module;
  readonly branch2: Sequential;
  readonly branch3: Sequential;
  readonly branch4: Sequential;
  readonly outChannels: number;

  constructor(
    readonly inChannels: number,
    ch1x1: number,
    ch3x3Reduce: number,
    ch3x3: number,
    ch5x5Reduce: number,
    ch5x5: number,
    poolProj: number,
    options: InceptionOptions = {},
  ) {
    checkOptions('models.Inception', options, { convBlock: true, branch3KernelSize: true });
    super();
    const block = options.convBlock ?? basicConv2d;
    const kernel3 = options.branch3KernelSize ?? 3;
    if (kernel3 !== 3 && kernel3 !== 5)
      throw new ValueError(`Inception: branch3KernelSize must be 3 or 5, got ${String(kernel3)}`);
    this.branch1 = block(inChannels, ch1x1, 1);
    this.branch2 = new Sequential(
      block(inChannels, ch3x3Reduce, 1),
      block(ch3x3Reduce, ch3x3, 3, { padding: 1 }),
    );
    this.branch3 = new Sequential(
      block(inChannels, ch5x5Reduce, 1),
      block(ch5x5Reduce, ch5x5, kernel3, { padding: (kernel3 - 1) / 2 }),
    );
    this.branch4 = new Sequential(poolBranch(), block(inChannels, poolProj, 1));
    this.outChannels = ch1x1 + ch3x3 + ch5x5 + poolProj;
  }

  forward(x: Tensor): Tensor {
    return runBranches(x, [this.branch1, this.branch2, this.branch3, this.branch4]);
  }
}

/** How an auxiliary classifier head is built. */
export interface InceptionAuxOptions {
  convBlock?: ConvBlock;
  /** The paper's 70 %. */
  dropout?: number;
}

/**
 * Auxiliary classifier on an intermediate map (section 5): average pooling to 4×4, 1×1 conv to 128, fc 1024 with
 * ReLU, dropout 0.7, fc to the classes. torchvision pools adaptively (the paper: 5×5 stride 3, the same 4×4 at 224).
 */
export class InceptionAux extends Module {
  readonly conv: Module;
  readonly fc1: Linear;
  readonly fc2: Linear;
  readonly dropout: Dropout;

  constructor(inChannels: number, numClasses: number, options: InceptionAuxOptions = {}) {
    super();
    checkOptions('models.InceptionAux', options, { convBlock: true, dropout: true });
    this.conv = (options.convBlock ?? basicConv2d)(inChannels, 128, 1);
    this.fc1 = new Linear(2048, 1024);
    this.fc2 = new Linear(1024, numClasses);
    this.dropout = new Dropout(options.dropout ?? 0.7);
  }

  forward(x: Tensor): Tensor {
    const pooled = adaptiveAvgPool2d(x, [4, 4]);
    const features = flatten(this.conv.call(pooled), 1);
    return this.fc2.call(this.dropout.call(relu(this.fc1.call(features))));
  }
}

/** GoogLeNet's outputs: the main logits and, in training with aux heads, the two auxiliary classifiers' logits. */
export interface GoogLeNetOutputs {
  logits: Tensor;
  /** From aux1 on inception 4a's output; null in evaluation or without aux heads. */
  aux1: Tensor | null;
  /** From aux2 on inception 4d's output. */
  aux2: Tensor | null;
}

export interface GoogLeNetOptions extends ModelOptions {
  /** Build the two auxiliary classifiers (torchvision's default, true). */
  auxLogits?: boolean;
  /**
   * Re-normalise ImageNet-normalised input to the [−1, 1] range the original (ported) weights expect; torchvision
   * turns it on when it loads them. Off by default.
   */
  transformInput?: boolean;
  /** Before the final classifier; torchvision's 0.2 (the paper: 0.4). */
  dropout?: number;
  dropoutAux?: number;
  /** See InceptionOptions; 5 gives the paper's module (no longer torchvision's weight shapes). */
  branch3KernelSize?: 3 | 5;
}

/**
 * GoogLeNet, torchvision's structure and keys. `call(x)` returns the main logits only; in training, call
 * `forwardWithAux(x)` to run the auxiliary classifiers too and train with `googlenetLoss`, or let train.fit do so
 * through `callWithAuxiliary` (nn's auxiliary-output protocol). In evaluation the aux heads are skipped either way
 * (the paper discards them at inference).
 */
export class GoogLeNet extends Module implements WithAuxiliaryOutputs {
  readonly auxLogits: boolean;
  /** May be switched after building, as torchvision does when it loads the ported weights. */
  transformInput: boolean;
  readonly conv1: BasicConv2d;
  readonly maxpool1: MaxPool2d;
  readonly conv2: BasicConv2d;
  readonly conv3: BasicConv2d;
  readonly maxpool2: MaxPool2d;
  readonly inception3a: Inception;
  readonly inception3b: Inception;
  readonly maxpool3: MaxPool2d;
  readonly inception4a: Inception;
  readonly inception4b: Inception;
  readonly inception4c: Inception;
  readonly inception4d: Inception;
  readonly inception4e: Inception;
  readonly maxpool4: MaxPool2d;
  readonly inception5a: Inception;
  readonly inception5b: Inception;
  aux1: InceptionAux | null;
  aux2: InceptionAux | null;
  readonly avgpool: AdaptiveAvgPool2d;
  readonly dropout: Dropout;
  fc: Linear;
  /** Where forward puts the aux heads' logits while forwardWithAux runs; null otherwise, so nothing is retained. */
  #auxOutputs: { aux1: Tensor | null; aux2: Tensor | null } | null = null;

  constructor(options: GoogLeNetOptions = {}) {
    super();
    checkOptions('models.GoogLeNet', options, {
      numClasses: true,
      seed: true,
      auxLogits: true,
      transformInput: true,
      dropout: true,
      dropoutAux: true,
      branch3KernelSize: true,
    });
    const numClasses = options.numClasses ?? 1000;
    this.auxLogits = options.auxLogits ?? true;
    this.transformInput = options.transformInput ?? false;
    const inception = (...channels: [number, number, number, number, number, number, number]): Inception =>
      new Inception(...channels, { branch3KernelSize: options.branch3KernelSize });
    const pool = (kernelSize: number): MaxPool2d => new MaxPool2d(kernelSize, { stride: 2, ceilMode: true });

    this.conv1 = new BasicConv2d(3, 64, 7, { stride: 2, padding: 3 });
    this.maxpool1 = pool(3);
    this.conv2 = new BasicConv2d(64, 64, 1);
    this.conv3 = new BasicConv2d(64, 192, 3, { padding: 1 });
    this.maxpool2 = pool(3);
    // Table 1's columns: #1×1, #3×3 reduce, #3×3, #5×5 reduce, #5×5, pool proj.
    this.inception3a = inception(192, 64, 96, 128, 16, 32, 32);
    this.inception3b = inception(256, 128, 128, 192, 32, 96, 64);
    this.maxpool3 = pool(3);
    this.inception4a = inception(480, 192, 96, 208, 16, 48, 64);
    this.inception4b = inception(512, 160, 112, 224, 24, 64, 64);
    this.inception4c = inception(512, 128, 128, 256, 24, 64, 64);
    this.inception4d = inception(512, 112, 144, 288, 32, 64, 64);
    this.inception4e = inception(528, 256, 160, 320, 32, 128, 128);
    this.maxpool4 = pool(2);
    this.inception5a = inception(832, 256, 160, 320, 32, 128, 128);
    this.inception5b = inception(832, 384, 192, 384, 48, 128, 128);
    const auxDropout = { dropout: options.dropoutAux ?? 0.7 };
    this.aux1 = this.auxLogits ? new InceptionAux(512, numClasses, auxDropout) : null;
    this.aux2 = this.auxLogits ? new InceptionAux(528, numClasses, auxDropout) : null;
    this.avgpool = new AdaptiveAvgPool2d([1, 1]);
    this.dropout = new Dropout(options.dropout ?? 0.2);
    this.fc = new Linear(1024, numClasses);

    // torchvision's init: truncated N(0, 0.01²) on [−2, 2] for conv and fc weights (fc biases keep their default),
    // BN 1 and 0. The bounds are 200 σ, beyond any draw the Box–Muller generator can make, so a plain normal is it.
    for (const module of this.modules()) {
      if (module instanceof Conv2d || module instanceof Linear) init.normal(module.weight, 0, 0.01);
    }
  }

  /** Runs an aux head when forwardWithAux asked for it, in training, if the model has it. */
  private auxiliary(head: InceptionAux | null, x: Tensor): Tensor | null {
    if (this.#auxOutputs === null || !this.training || head === null) return null;
    return head.call(x);
  }

  forward(input: Tensor): Tensor {
    let x = this.transformInput ? imagenetToInceptionRange(input) : input;
    for (const stem of [this.conv1, this.maxpool1, this.conv2, this.conv3, this.maxpool2]) x = stem.call(x);
    for (const stage of [this.inception3a, this.inception3b, this.maxpool3, this.inception4a])
      x = stage.call(x);
    const aux1 = this.auxiliary(this.aux1, x);
    for (const stage of [this.inception4b, this.inception4c, this.inception4d]) x = stage.call(x);
    const aux2 = this.auxiliary(this.aux2, x);
    for (const stage of [this.inception4e, this.maxpool4, this.inception5a, this.inception5b])
      x = stage.call(x);
    if (this.#auxOutputs !== null) this.#auxOutputs = { aux1, aux2 };
    const pooled = flatten(this.avgpool.call(x), 1);
    return this.fc.call(this.dropout.call(pooled));
  }

  /** The main logits and, in training with aux heads, aux1's and aux2's (torchvision's GoogLeNetOutputs). */
  forwardWithAux(x: Tensor): GoogLeNetOutputs {
    this.#auxOutputs = { aux1: null, aux2: null };
    try {
      const logits = this.call(x);
      return { logits, ...this.#auxOutputs };
    } finally {
      this.#auxOutputs = null;
    }
  }

  /** The auxiliary-output protocol: forwardWithAux's outputs, each head's loss weighted 0.3 as in the paper. */
  callWithAuxiliary(x: Tensor): OutputsWithAuxiliary {
    return withLossWeights(this.forwardWithAux(x), AUX_LOSS_WEIGHT);
  }
}

/** Weight of each auxiliary classifier's loss in the total (section 5: "a discount weight (0.3)"). */
export const AUX_LOSS_WEIGHT = 0.3;

function withLossWeights(outputs: GoogLeNetOutputs, lossWeight: number): OutputsWithAuxiliary {
  const auxiliary: AuxiliaryOutput[] = [];
  if (outputs.aux1 !== null) auxiliary.push({ name: 'aux1', logits: outputs.aux1, lossWeight });
  if (outputs.aux2 !== null) auxiliary.push({ name: 'aux2', logits: outputs.aux2, lossWeight });
  return { logits: outputs.logits, auxiliary };
}

/** The paper's training loss: cross-entropy of the main logits + 0.3 · each auxiliary head's cross-entropy. */
export function googlenetLoss(
  outputs: GoogLeNetOutputs,
  labels: Tensor,
  auxWeight = AUX_LOSS_WEIGHT,
): Tensor {
  return lossWithAuxiliary(withLossWeights(outputs, auxWeight), labels, crossEntropy);
}

/**
 * GoogLeNet's figures at 224×224×3 beyond ModelInfo's (torchvision 0.14, counted by
 * scripts/fixtures/model_keys_inception_densenet.py): without aux heads it has 6,624,904 parameters, the figure
 * torchvision publishes for its weights (which it loads with the heads, then drops them); the two heads add
 * 8,372,224 MACs in training.
 */
export const googlenetFigures = {
  parametersWithAux: 13_004_888,
  parametersWithoutAux: 6_624_904,
  macs: 1_498_376_192,
  auxMacs: 8_372_224,
} as const;

/**
 * `parameters` is for the default, auxLogits true (torchvision's default, and the paper trains with the heads;
 * torchvision's weight file also holds aux1/aux2 keys, so it loads strictly into the default model).
 * `macs` is the main path (evaluation), aux heads excluded.
 */
export const googlenetInfo: ModelInfo = {
  name: 'googlenet',
  family: 'inception',
  paper: 'Going Deeper with Convolutions (Szegedy et al.)',
  year: 2014,
  inputShape: [3, 224, 224],
  featureLayer: 'inception5b',
  numClasses: 1000,
  parameters: googlenetFigures.parametersWithAux,
  macs: googlenetFigures.macs,
  reportedAccuracy: torchvisionAccuracy(69.778, 'GoogLeNet_Weights'),
  preprocessing: IMAGENET_PREPROCESSING,
};

/** GoogLeNet (Szegedy et al. 2015) with torchvision's layout and keys, auxiliary heads included by default. */
export const googlenet = registered(
  googlenetInfo,
  seeded((options: GoogLeNetOptions) => new GoogLeNet(options)),
);
