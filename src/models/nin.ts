/**
 * Network in Network (Lin, Chen & Yan 2013): each "mlpconv" layer is a convolution followed by a small
 * multilayer perceptron shared across positions, that is 1×1 convolutions, and the head is global average
 * pooling over one map per class instead of fully connected layers.
 */
import {
  AdaptiveAvgPool2d,
  AvgPool2d,
  Conv2d,
  Dropout,
  Linear,
  MaxPool2d,
  Module,
  ReLU,
  Sequential,
} from '../nn/index.js';
import { flatten, noGrad, tensor, type Tensor } from '../tensor/index.js';
import { registered, seeded } from './builder.js';
import type { ModelOptions } from './registry.js';
import { checkOptions } from '../options.js';

/**
 * A k×k convolution, then two 1×1 convolutions (the paper's cross-channel parametric pooling, "cccp"), each
 * followed by ReLU. Keys: 0 (the k×k convolution), 2 and 4 (the 1×1 layers).
 */
export function mlpconv(
  inChannels: number,
  channels: readonly [number, number, number],
  kernelSize: number,
): Sequential {
  const [conv, hidden, out] = channels;
  return new Sequential(
    new Conv2d(inChannels, conv, kernelSize, { padding: (kernelSize - 1) / 2 }),
    new ReLU(),
    new Conv2d(conv, hidden, 1),
    new ReLU(),
    new Conv2d(hidden, out, 1),
    new ReLU(),
  );
}

/**
 * A 1×1 convolution with a fully connected layer's weights: applied at every pixel, it computes exactly what
 * `linear` computes on that pixel's channel vector. This is the sense in which mlpconv's micro network is a
 * perceptron slid over the image.
 */
export function conv1x1FromLinear(linear: Linear): Conv2d {
  const conv = new Conv2d(linear.inFeatures, linear.outFeatures, 1, { bias: linear.bias !== null });
  noGrad(() => {
    conv.weight.assign(tensor(linear.weight.data(), [linear.outFeatures, linear.inFeatures, 1, 1]));
    if (linear.bias !== null) conv.bias!.assign(tensor(linear.bias.data(), [linear.outFeatures]));
  });
  return conv;
}

export interface NinOptions extends ModelOptions {
  /** Probability of the dropout after the first two mlpconv layers; 0.5 as in the paper. */
  dropout?: number;
}

/**
 * NiN for CIFAR-10 in the configuration of the authors' released Caffe model (and its PyTorch ports):
 * mlpconv 5×5 192-160-96 → 3×3/2 max pool → dropout → mlpconv 5×5 192-192-192 → 3×3/2 average pool → dropout →
 * mlpconv 3×3 192-192-numClasses → global average pool. Pooling rounds up as Caffe does: 32 → 16 → 8. The last
 * 1×1 layer keeps its ReLU, as in that model. PyTorch's layer defaults initialise it.
 */
export class NiN extends Module {
  readonly features: Sequential;
  readonly avgpool: AdaptiveAvgPool2d;

  constructor(options: NinOptions = {}) {
    super();
    checkOptions('models.NiN', options, { numClasses: true, seed: true, dropout: true });
    const { numClasses = 10, dropout = 0.5 } = options;
    this.features = new Sequential(
      mlpconv(3, [192, 160, 96], 5),
      new MaxPool2d(3, { stride: 2, ceilMode: true }),
      new Dropout(dropout),
      mlpconv(96, [192, 192, 192], 5),
      new AvgPool2d(3, { stride: 2, ceilMode: true }),
      new Dropout(dropout),
      mlpconv(192, [192, 192, numClasses], 3),
    );
    this.avgpool = new AdaptiveAvgPool2d(1);
  }

  /** [N, numClasses] logits: the mean of each class's confidence map. */
  forward(x: Tensor): Tensor {
    return flatten(this.avgpool.call(this.features.call(x)), 1);
  }
}

/**
 * Parameters 966,986: mlpconv1 14,592 + 30,880 + 15,456; mlpconv2 460,992 + 37,056 + 37,056; mlpconv3
 * 331,968 + 37,056 + 1,930. MACs at 3×32×32: at 32² 1,024·(192·75 + 160·192 + 96·160) = 61,931,520; at 16²
 * 256·(192·2,400 + 2·192·192) = 136,839,168; at 8² 64·(192·1,728 + 192·192 + 10·192) = 23,715,840;
 * total 222,486,528.
 */
export const nin = registered(
  {
    name: 'nin',
    family: 'nin',
    paper: 'Network in network (Lin, Chen, Yan)',
    year: 2013,
    inputShape: [3, 32, 32],
    numClasses: 10,
    parameters: 966_986,
    macs: 222_486_528,
    reportedAccuracy: {
      top1: 89.59,
      dataset: 'CIFAR-10 test',
      source: 'Lin et al. 2013, table 2: NIN + dropout, 10.41 % error without augmentation',
    },
  },
  seeded((options: NinOptions) => new NiN(options)),
);
