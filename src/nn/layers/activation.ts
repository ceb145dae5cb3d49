import { ValueError } from '../../errors.js';
import { dropout, relu, scaledTanh, sigmoid, tanh, type Generator, type Tensor } from '../../tensor/index.js';
import { Module } from '../module.js';
import { checkOptions } from '../../options.js';

export class ReLU extends Module {
  static override readonly forwardKeepsNothing = true;
  forward(x: Tensor): Tensor {
    return relu(x);
  }
}

export class Sigmoid extends Module {
  static override readonly forwardKeepsNothing = true;
  forward(x: Tensor): Tensor {
    return sigmoid(x);
  }
}

export class Tanh extends Module {
  static override readonly forwardKeepsNothing = true;
  forward(x: Tensor): Tensor {
    return tanh(x);
  }
}

/** LeCun et al. 1998, appendix A: 1.7159 · tanh(2x/3), LeNet-5's squashing function. */
export class ScaledTanh extends Module {
  static override readonly forwardKeepsNothing = true;
  forward(x: Tensor): Tensor {
    return scaledTanh(x);
  }
}

/** Options of a Dropout layer. */
export interface DropoutLayerOptions {
  /** Draws the masks; the global generator when absent. */
  generator?: Generator;
}

/** Zeroes each value with probability p in training and scales the rest by 1/(1 − p); the identity in evaluation. */
export class Dropout extends Module {
  static override readonly forwardKeepsNothing = true;
  readonly generator: Generator | undefined;

  constructor(
    readonly p = 0.5,
    options: DropoutLayerOptions = {},
  ) {
    super();
    checkOptions('nn.Dropout', options, { generator: true });
    if (!(p >= 0 && p < 1)) throw new ValueError(`Dropout: p must be in [0, 1), got ${p}`);
    this.generator = options.generator;
  }

  forward(x: Tensor): Tensor {
    return dropout(x, this.p, { training: this.training, generator: this.generator });
  }

  override extraRepr(): string {
    return `p=${this.p}`;
  }
}
