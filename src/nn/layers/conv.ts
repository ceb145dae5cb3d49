import { ValueError } from '../../errors.js';
import {
  conv2d,
  pair,
  zeros,
  type Generator,
  type Pair,
  type Padding,
  type Tensor,
} from '../../tensor/index.js';
import { fanInAndFanOut, kaimingUniform, uniform } from '../init.js';
import { Module } from '../module.js';
import { checkInputShape, formatPair } from './input-shape.js';
import { checkOptions } from '../../options.js';

/** Options of a Conv2d layer, as torch.nn.Conv2d's keyword arguments. */
export interface Conv2dLayerOptions {
  stride?: Pair;
  /** A number, [padH, padW], 'valid' (none) or 'same' (output size = input size; stride 1 only). */
  padding?: Padding;
  dilation?: Pair;
  groups?: number;
  bias?: boolean;
  /** Draws the initial weights; the global generator when absent. */
  generator?: Generator;
}

function checkPositiveInteger(what: string, value: number): void {
  if (!Number.isInteger(value) || value < 1)
    throw new ValueError(`Conv2d: ${what} must be a positive integer, got ${value}`);
}

/** 2-D convolution over [N, C, H, W] with weight [outChannels, inChannels/groups, kH, kW], as torch.nn.Conv2d. */
export class Conv2d extends Module {
  static override readonly forwardKeepsNothing = true;
  readonly kernelSize: [number, number];
  readonly stride: [number, number];
  readonly padding: [number, number] | 'valid' | 'same';
  readonly dilation: [number, number];
  readonly groups: number;

  constructor(
    readonly inChannels: number,
    readonly outChannels: number,
    kernelSize: Pair,
    options: Conv2dLayerOptions = {},
  ) {
    super();
    checkOptions('nn.Conv2d', options, {
      stride: true,
      padding: true,
      dilation: true,
      groups: true,
      bias: true,
      generator: true,
    });
    this.kernelSize = pair(kernelSize);
    this.stride = pair(options.stride ?? 1);
    const padding = options.padding ?? 0;
    this.padding = padding === 'valid' || padding === 'same' ? padding : pair(padding);
    this.dilation = pair(options.dilation ?? 1);
    this.groups = options.groups ?? 1;
    checkPositiveInteger('inChannels', inChannels);
    checkPositiveInteger('outChannels', outChannels);
    checkPositiveInteger('groups', this.groups);
    [...this.kernelSize, ...this.stride, ...this.dilation].forEach((v) =>
      checkPositiveInteger('kernel size, stride and dilation', v),
    );
    if (inChannels % this.groups !== 0 || outChannels % this.groups !== 0) {
      throw new ValueError(
        `Conv2d: inChannels (${inChannels}) and outChannels (${outChannels}) must divide into groups=${this.groups}`,
      );
    }
    if (padding === 'same' && (this.stride[0] !== 1 || this.stride[1] !== 1)) {
      throw new ValueError("Conv2d: padding 'same' needs stride 1, as in PyTorch");
    }
    this.registerParameter('weight', zeros([outChannels, inChannels / this.groups, ...this.kernelSize]));
    this.registerParameter('bias', (options.bias ?? true) ? zeros([outChannels]) : null);
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

  /**
   * PyTorch's default: kaiming_uniform with a = √5, which works out to U(±1/√fanIn) for the weight, and
   * U(±1/√fanIn) for the bias.
   */
  resetParameters(generator?: Generator): void {
    kaimingUniform(this.weight, { a: Math.sqrt(5), generator });
    const bias = this.bias;
    if (bias !== null) {
      const bound = 1 / Math.sqrt(fanInAndFanOut(this.weight.shape).fanIn);
      uniform(bias, -bound, bound, { generator });
    }
  }

  /** Each output element sums (inChannels/groups)·kH·kW products. */
  override macs(_inputShape: readonly number[], outputShape: readonly number[]): number {
    const outputs = outputShape.reduce((a, b) => a * b, 1);
    return outputs * (this.inChannels / this.groups) * this.kernelSize[0] * this.kernelSize[1];
  }

  forward(x: Tensor): Tensor {
    checkInputShape(x, ['N', this.inChannels, 'H', 'W']);
    const { stride, padding, dilation, groups } = this;
    return conv2d(x, this.weight, this.bias, { stride, padding, dilation, groups });
  }

  override extraRepr(): string {
    const parts = [
      `${this.inChannels}, ${this.outChannels}, kernelSize=${formatPair(this.kernelSize)}, stride=${formatPair(this.stride)}`,
    ];
    const padding = this.padding;
    if (typeof padding === 'string') parts.push(`padding='${padding}'`);
    else if (padding[0] !== 0 || padding[1] !== 0) parts.push(`padding=${formatPair(padding)}`);
    if (this.dilation[0] !== 1 || this.dilation[1] !== 1) parts.push(`dilation=${formatPair(this.dilation)}`);
    if (this.groups !== 1) parts.push(`groups=${this.groups}`);
    if (this.bias === null) parts.push('bias=false');
    return parts.join(', ');
  }
}
