import { ShapeError, ValueError, formatShape } from '../../errors.js';
import { flatten, linear, reshape, zeros, type Generator, type Tensor } from '../../tensor/index.js';
import { kaimingUniform, uniform } from '../init.js';
import { Module } from '../module.js';
import { checkOptions } from '../../options.js';

/** Options of a Linear layer. */
export interface LinearOptions {
  bias?: boolean;
  /** Draws the initial weights; the global generator when absent. */
  generator?: Generator;
}

/** y = x·Wᵀ + b over the last axis of [*, inFeatures], weight [outFeatures, inFeatures], as torch.nn.Linear. */
export class Linear extends Module {
  static override readonly forwardKeepsNothing = true;
  constructor(
    readonly inFeatures: number,
    readonly outFeatures: number,
    options: LinearOptions = {},
  ) {
    super();
    checkOptions('nn.Linear', options, { bias: true, generator: true });
    for (const [what, value] of [
      ['inFeatures', inFeatures],
      ['outFeatures', outFeatures],
    ] as const) {
      if (!Number.isInteger(value) || value < 1)
        throw new ValueError(`Linear: ${what} must be a positive integer, got ${value}`);
    }
    this.registerParameter('weight', zeros([outFeatures, inFeatures]));
    this.registerParameter('bias', (options.bias ?? true) ? zeros([outFeatures]) : null);
    this.resetParameters(options.generator);
  }

  get weight(): Tensor {
    return this.getParameter('weight')!;
  }

  set weight(value: Tensor) {
    this.registerParameter('weight', value);
  }

  get bias(): Tensor | null {
    return this.getParameter('bias');
  }

  set bias(value: Tensor | null) {
    this.registerParameter('bias', value);
  }

  /** PyTorch's default: weight kaiming_uniform with a = √5 (U(±1/√inFeatures)), bias U(±1/√inFeatures). */
  resetParameters(generator?: Generator): void {
    kaimingUniform(this.weight, { a: Math.sqrt(5), generator });
    const bias = this.bias;
    if (bias !== null)
      uniform(bias, -1 / Math.sqrt(this.inFeatures), 1 / Math.sqrt(this.inFeatures), { generator });
  }

  override macs(_inputShape: readonly number[], outputShape: readonly number[]): number {
    return outputShape.reduce((a, b) => a * b, 1) * this.inFeatures;
  }

  forward(x: Tensor): Tensor {
    if (x.rank < 1 || x.shape[x.rank - 1] !== this.inFeatures) {
      throw new ShapeError(
        `expected input with ${this.inFeatures} features [N, ${this.inFeatures}], got ${formatShape(x.shape)}`,
      );
    }
    if (x.rank === 2) return linear(x, this.weight, this.bias);
    const leading = x.shape.slice(0, -1);
    const y = linear(reshape(x, [-1, this.inFeatures]), this.weight, this.bias);
    return reshape(y, [...leading, this.outFeatures]);
  }

  override extraRepr(): string {
    return `inFeatures=${this.inFeatures}, outFeatures=${this.outFeatures}, bias=${this.bias !== null}`;
  }
}

/** Passes its input through; a placeholder when removing a layer (e.g. `net.fc = new Identity()`). */
export class Identity extends Module {
  static override readonly forwardKeepsNothing = true;
  forward(x: Tensor): Tensor {
    return x;
  }
}

/** Collapses axes startDim…endDim into one; the default keeps the batch axis, [N, C, H, W] → [N, C·H·W]. */
export class Flatten extends Module {
  static override readonly forwardKeepsNothing = true;
  constructor(
    readonly startDim = 1,
    readonly endDim = -1,
  ) {
    super();
  }

  forward(x: Tensor): Tensor {
    return flatten(x, this.startDim, this.endDim);
  }

  override extraRepr(): string {
    return `startDim=${this.startDim}, endDim=${this.endDim}`;
  }
}
