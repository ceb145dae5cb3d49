/**
 * LeNet-5 (LeCun, Bottou, Bengio & Haffner 1998, "Gradient-based learning applied to document recognition"):
 * the modern form taught today (`lenet5`), and the original exactly as the paper's section II.B builds it
 * (`lenet5-1998`). Neither has torchvision weights; the modern one names its parameters the way torchvision's
 * AlexNet and VGG do (features.N, classifier.N), the original after the paper's layer labels (c1.weight, s2.bias).
 */
import { ValueError } from '../errors.js';
import {
  AvgPool2d,
  Conv2d,
  Linear,
  MaxPool2d,
  Module,
  ReLU,
  Sequential,
  Tanh,
  init,
  type Parameter,
} from '../nn/index.js';
import {
  broadcastTo,
  conv2d,
  flatten,
  globalGenerator,
  matmul,
  reshape,
  scaledTanh,
  sigmoid,
  square,
  sub,
  sum,
  tensor,
  zeros,
  type Tensor,
} from '../tensor/index.js';
import { registered, seeded } from './builder.js';
import type { ModelOptions } from './registry.js';
import { checkOptions } from '../options.js';

const product = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

// ---- modern LeNet-5 ----

export interface LeNet5Options extends ModelOptions {
  /** Nonlinearity after each convolution and hidden fully connected layer; 'relu' by default. */
  activation?: 'relu' | 'tanh';
  /** 2×2 stride-2 pooling after each convolution; 'max' by default. */
  pooling?: 'max' | 'avg';
}

/**
 * conv 5×5 (6) → pool → conv 5×5 (16) → pool → 400 → 120 → 84 → numClasses logits; the softmax lives in the loss
 * (crossEntropy), as in torchvision's classifiers. Parameters: features.0 (C1), features.3 (C3, fully connected
 * to all six maps), classifier.0 (C5 as a 400 → 120 layer), classifier.2 (F6), classifier.4 (output).
 * PyTorch's layer defaults initialise it.
 */
export class LeNet5 extends Module {
  readonly features: Sequential;
  readonly classifier: Sequential;

  constructor(options: LeNet5Options = {}) {
    super();
    checkOptions('models.LeNet5', options, { numClasses: true, seed: true, activation: true, pooling: true });
    const { numClasses = 10, activation = 'relu', pooling = 'max' } = options;
    if (activation !== 'relu' && activation !== 'tanh')
      throw new ValueError(`lenet5: activation must be 'relu' or 'tanh', got '${String(activation)}'`);
    if (pooling !== 'max' && pooling !== 'avg')
      throw new ValueError(`lenet5: pooling must be 'max' or 'avg', got '${String(pooling)}'`);
    const act = (): Module => (activation === 'relu' ? new ReLU() : new Tanh());
    const pool = (): Module => (pooling === 'max' ? new MaxPool2d(2) : new AvgPool2d(2));
    this.features = new Sequential(new Conv2d(1, 6, 5), act(), pool(), new Conv2d(6, 16, 5), act(), pool());
    this.classifier = new Sequential(
      new Linear(16 * 5 * 5, 120),
      act(),
      new Linear(120, 84),
      act(),
      new Linear(84, numClasses),
    );
  }

  forward(x: Tensor): Tensor {
    return this.classifier.call(flatten(this.features.call(x), 1));
  }
}

// ---- LeNet-5 of 1998: its own layers ----

/** 1.7159 · tanh(2a/3), the paper's squashing function (appendix A), or the logistic function. */
type Squash = 'scaledTanh' | 'sigmoid';

/** LeCun et al. 1998, appendix A: weights (biases included) drawn from U(−2.4/F, 2.4/F), F the unit's fan-in. */
function lecun1998Uniform(target: Tensor, fanIn: number): void {
  init.uniform(target, -2.4 / fanIn, 2.4 / fanIn);
}

/**
 * S2 and S4: each unit adds its 2×2 block of one map, multiplies the sum by the map's trainable coefficient
 * (weight) and adds the map's bias (§II.B). Computed as a stride-2 depthwise convolution whose four taps share
 * the coefficient, so it counts 4 multiply-accumulates per output: the paper's connections less the bias.
 */
export class Subsampling extends Module {
  constructor(readonly channels: number) {
    super();
    this.registerParameter('weight', zeros([channels]));
    this.registerParameter('bias', zeros([channels]));
    lecun1998Uniform(this.weight, 4);
    lecun1998Uniform(this.bias, 4);
  }

  get weight(): Parameter {
    return this.getParameter('weight')!;
  }

  get bias(): Parameter {
    return this.getParameter('bias')!;
  }

  override macs(_inputShape: readonly number[], outputShape: readonly number[]): number {
    return product(outputShape) * 4;
  }

  forward(x: Tensor): Tensor {
    const kernel = broadcastTo(reshape(this.weight, [this.channels, 1, 1, 1]), [this.channels, 1, 2, 2]);
    return conv2d(x, kernel, this.bias, { stride: 2, groups: this.channels });
  }

  override extraRepr(): string {
    return `${this.channels}, kernelSize=2, stride=2`;
  }
}

/**
 * Table I of the paper: the S2 maps each C3 map reads. Maps 0–5 take 3 adjacent maps, 6–11 take 4 adjacent,
 * 12–14 take 4 non-adjacent and 15 takes all six: 60 kernels of 5×5, so 1,500 weights and 16 biases.
 */
export const C3_CONNECTIONS: readonly (readonly number[])[] = [
  [0, 1, 2],
  [1, 2, 3],
  [2, 3, 4],
  [3, 4, 5],
  [4, 5, 0],
  [5, 0, 1],
  [0, 1, 2, 3],
  [1, 2, 3, 4],
  [2, 3, 4, 5],
  [3, 4, 5, 0],
  [4, 5, 0, 1],
  [5, 0, 1, 2],
  [0, 1, 3, 4],
  [1, 2, 4, 5],
  [0, 2, 3, 5],
  [0, 1, 2, 3, 4, 5],
];

/**
 * A convolution in which output map o sees only the input maps connections[o]. Only connected kernels are
 * parameters: weight is packed [kernels, kH, kW], one row per (o, i) pair in table order, and a fixed 0/1
 * selection matrix scatters it into the full [out, in, kH, kW] kernel (unconnected kernels stay zero) before
 * an ordinary convolution. Gradients reach only the packed rows, so numParameters counts exactly the paper's.
 * The selection matrix is a constant of the table, not state: it is uploaded at each forward pass on the backend
 * that runs it (summary's meta backend included), and stays out of the state_dict.
 */
export class ConnectionTableConv2d extends Module {
  readonly outChannels: number;
  readonly kernelSize: [number, number];
  readonly connections: readonly (readonly number[])[];
  /** [out · in, kernels] 0/1 values: row (o, i) picks the packed kernel of that connection, if any. */
  readonly #selection: Float32Array;

  constructor(
    readonly inChannels: number,
    connections: readonly (readonly number[])[],
    kernelSize: number,
  ) {
    super();
    this.connections = connections.map((inputs) => [...inputs]);
    this.outChannels = connections.length;
    this.kernelSize = [kernelSize, kernelSize];
    const kernels = this.connections.reduce((n, inputs) => n + inputs.length, 0);
    const selection = new Float32Array(this.outChannels * inChannels * kernels);
    let row = 0;
    this.connections.forEach((inputs, o) => {
      if (new Set(inputs).size !== inputs.length || inputs.some((i) => !(i >= 0 && i < inChannels)))
        throw new ValueError(
          `ConnectionTableConv2d: output map ${o} lists inputs [${inputs.join(', ')}]; each must be a distinct ` +
            `map in 0…${inChannels - 1}`,
        );
      for (const i of inputs) selection[(o * inChannels + i) * kernels + row++] = 1;
    });
    this.#selection = selection;
    this.registerParameter('weight', zeros([kernels, kernelSize, kernelSize]));
    this.registerParameter('bias', zeros([this.outChannels]));
    this.resetParameters();
  }

  get weight(): Parameter {
    return this.getParameter('weight')!;
  }

  get bias(): Parameter {
    return this.getParameter('bias')!;
  }

  /** The paper's U(±2.4/F) with each output map's own fan-in F = (its inputs)·kH·kW. */
  resetParameters(): void {
    const area = this.kernelSize[0] * this.kernelSize[1];
    const fanIns = this.connections.flatMap((inputs) => inputs.map(() => inputs.length * area));
    const values = fanIns.flatMap((fanIn) =>
      Array.from({ length: area }, () => (2 * globalGenerator().uniform() - 1) * (2.4 / fanIn)),
    );
    this.weight.assign(tensor(values, this.weight.shape));
    const biases = this.connections.map((inputs) => {
      const bound = 2.4 / (inputs.length * area);
      return (2 * globalGenerator().uniform() - 1) * bound;
    });
    this.bias.assign(tensor(biases, [this.outChannels]));
  }

  /** The full [out, in, kH, kW] kernel, zero where the table has no connection. */
  fullWeight(): Tensor {
    const [kh, kw] = this.kernelSize;
    const kernels = this.weight.shape[0];
    // Made where the weight lives (summary's shape-only stand-in, or a backend other than the active one).
    const selection = tensor(this.#selection, [this.outChannels * this.inChannels, kernels], {
      backend: this.weight.backend,
    });
    const packed = reshape(this.weight, [kernels, kh * kw]);
    return reshape(matmul(selection, packed), [this.outChannels, this.inChannels, kh, kw]);
  }

  /** Only connected kernels multiply: each output position sums (its inputs)·kH·kW products. */
  override macs(_inputShape: readonly number[], outputShape: readonly number[]): number {
    const [n, , h, w] = outputShape;
    return n * h * w * this.weight.size;
  }

  forward(x: Tensor): Tensor {
    return conv2d(x, this.fullWeight(), this.bias);
  }

  override extraRepr(): string {
    const kernels = this.weight.shape[0];
    return `${this.inChannels}, ${this.outChannels}, kernelSize=${this.kernelSize[0]}, connections=${kernels}`;
  }
}

/**
 * Euclidean radial basis function units (§II.B, eq. 7): y_i = Σ_j (x_j − w_ij)², a distance, so lower means a
 * better match. The paper fixes w to ±1 codes (stylised 7×12 bitmaps of the characters, hence 84 inputs);
 * here they are a ±1 pattern drawn from the (seeded) generator and kept as the buffer `centers`, not trained.
 */
export class EuclideanRBF extends Module {
  constructor(
    readonly inFeatures: number,
    readonly outFeatures: number,
  ) {
    super();
    const generator = globalGenerator();
    const codes = Array.from({ length: outFeatures * inFeatures }, () =>
      generator.uniform() < 0.5 ? -1 : 1,
    );
    this.registerBuffer('centers', tensor(codes, [outFeatures, inFeatures]));
  }

  get centers(): Tensor {
    return this.getBuffer('centers')!;
  }

  /** One subtract-and-square-accumulate per input per unit, the work of a fully connected layer. */
  override macs(_inputShape: readonly number[], outputShape: readonly number[]): number {
    return product(outputShape) * this.inFeatures;
  }

  forward(x: Tensor): Tensor {
    const n = x.shape[0];
    const differences = sub(
      reshape(x, [n, 1, this.inFeatures]),
      reshape(this.centers, [1, this.outFeatures, this.inFeatures]),
    );
    return sum(square(differences), 2);
  }

  override extraRepr(): string {
    return `inFeatures=${this.inFeatures}, outFeatures=${this.outFeatures}`;
  }
}

export interface LeNet1998Options extends ModelOptions {
  /**
   * The function after S2 and S4. The paper passes every unit up to F6 through its "sigmoid squashing
   * function", which it defines as 1.7159·tanh(2a/3) (the default); 'sigmoid' uses the logistic function.
   */
  subsamplingActivation?: Squash;
}

/**
 * LeNet-5 as published: C1 conv 5×5 (6 maps) → S2 → C3 conv 5×5 through Table I → S4 → C5 conv 5×5 (120 maps,
 * all 16 inputs) → F6 (84) → Euclidean RBF (numClasses). Every layer up to F6 is followed by the scaled tanh.
 * Input 1×32×32 (MNIST's 28×28 padded by 2), scaled so the background is −0.1 and the ink 1.175.
 *
 * The output is a distance per class, lower = better: classify by argmin, or use `neg(output)` as logits for
 * crossEntropy (the paper's MAP criterion, eq. 9, without its constant "rubbish" class). Its simplest loss,
 * eq. 8, is the mean of the correct class's output.
 */
export class LeNet1998 extends Module {
  readonly c1: Conv2d;
  readonly s2: Subsampling;
  readonly c3: ConnectionTableConv2d;
  readonly s4: Subsampling;
  readonly c5: Conv2d;
  readonly f6: Linear;
  readonly output: EuclideanRBF;
  readonly subsamplingActivation: Squash;

  constructor(options: LeNet1998Options = {}) {
    super();
    checkOptions('models.LeNet1998', options, { numClasses: true, seed: true, subsamplingActivation: true });
    const { numClasses = 10, subsamplingActivation = 'scaledTanh' } = options;
    if (subsamplingActivation !== 'scaledTanh' && subsamplingActivation !== 'sigmoid') {
      throw new ValueError(
        `lenet5-1998: subsamplingActivation must be 'scaledTanh' or 'sigmoid', got '${String(subsamplingActivation)}'`,
      );
    }
    this.subsamplingActivation = subsamplingActivation;
    this.c1 = new Conv2d(1, 6, 5);
    this.s2 = new Subsampling(6);
    this.c3 = new ConnectionTableConv2d(6, C3_CONNECTIONS, 5);
    this.s4 = new Subsampling(16);
    this.c5 = new Conv2d(16, 120, 5);
    this.f6 = new Linear(120, 84);
    this.output = new EuclideanRBF(84, numClasses);
    for (const layer of [this.c1, this.c5, this.f6]) {
      const fanIn = product(layer.weight.shape.slice(1));
      lecun1998Uniform(layer.weight, fanIn);
      lecun1998Uniform(layer.bias!, fanIn);
    }
  }

  forward(x: Tensor): Tensor {
    const f = scaledTanh;
    const g = this.subsamplingActivation === 'sigmoid' ? sigmoid : scaledTanh;
    let y = g(this.s2.call(f(this.c1.call(x))));
    y = g(this.s4.call(f(this.c3.call(y))));
    y = f(this.c5.call(y));
    return this.output.call(f(this.f6.call(flatten(y, 1))));
  }
}

// ---- builders, each with the figures tests check ----

const paper = 'Gradient-based learning applied to document recognition (LeCun, Bottou, Bengio, Haffner)';

/**
 * 61,706 parameters: 156 + 2,416 (convolutions) + 48,120 + 10,164 + 850 (fully connected). MACs at 1×32×32:
 * 28·28·6·25 = 117,600 + 10·10·16·150 = 240,000 + 400·120 + 120·84 + 84·10 = 58,920, total 416,520.
 */
export const lenet5 = registered(
  {
    name: 'lenet5',
    family: 'lenet',
    paper,
    year: 1998,
    inputShape: [1, 32, 32],
    // The second convolution's rectified 10×10 maps: the pool after it leaves Grad-CAM only 5×5.
    featureLayer: 'features.4',
    numClasses: 10,
    parameters: 61_706,
    macs: 416_520,
    // Tuned here for ≥ 0.90 test accuracy in the fewest epochs (measured figures: README).
    training: {
      inputSize: 32,
      modelOptions: {},
      epochs: 8,
      batchSize: 64,
      optimizer: 'sgd',
      lr: 0.05,
      momentum: 0.9,
      weightDecay: 0,
      schedule: 'cosine',
      augment: 'none',
    },
  },
  seeded((options: LeNet5Options) => new LeNet5(options)),
);

/**
 * Trainable parameters 60,000: C1 156, S2 12, C3 1,516, S4 32, C5 48,120, F6 10,164 (the RBF codes are buffers).
 * MACs at 1×32×32, each the paper's connection count less one bias per output: C1 122,304 − 4,704 = 117,600;
 * S2 5,880 − 1,176 = 4,704; C3 151,600 − 1,600 = 150,000; S4 2,000 − 400 = 1,600; C5 48,120 − 120 = 48,000;
 * F6 10,164 − 84 = 10,080; plus the RBF layer's 84·10 = 840: 332,824 in all.
 */
export const lenet5_1998 = registered(
  {
    name: 'lenet5-1998',
    family: 'lenet',
    paper,
    year: 1998,
    inputShape: [1, 32, 32],
    numClasses: 10,
    parameters: 60_000,
    macs: 332_824,
    reportedAccuracy: {
      top1: 99.05,
      dataset: 'MNIST test',
      source: 'LeCun et al. 1998, §III.C: 0.95 % test error without distortions',
    },
  },
  seeded((options: LeNet1998Options) => new LeNet1998(options)),
);
