import {
  adaptiveAvgPool2d,
  avgPool2d,
  maxPool2d,
  pair,
  pool2dAttrs,
  type Pair,
  type Tensor,
} from '../../tensor/index.js';
import { Module } from '../module.js';
import { checkInputShape, formatPair } from './input-shape.js';
import { checkOptions } from '../../options.js';

/** Options of a MaxPool2d layer. */
export interface MaxPool2dOptions {
  /** Defaults to the kernel size, as in PyTorch. */
  stride?: Pair;
  /** A number, a pair, or 'same' (stride 1, output the input's size). */
  padding?: Pair | 'same';
  ceilMode?: boolean;
}

/** Options of an AvgPool2d layer. */
export interface AvgPool2dOptions extends MaxPool2dOptions {
  /** Count padded zeros in the divisor (PyTorch's default, true). */
  countIncludePad?: boolean;
}

function describePool(kernelSize: Pair, options: AvgPool2dOptions): string {
  const padding = options.padding ?? 0;
  return [
    `kernelSize=${formatPair(pair(kernelSize))}`,
    `stride=${formatPair(pair(options.stride ?? kernelSize))}`,
    `padding=${padding === 'same' ? "'same'" : formatPair(pair(padding))}`,
    `ceilMode=${options.ceilMode ?? false}`,
  ].join(', ');
}

export class MaxPool2d extends Module {
  static override readonly forwardKeepsNothing = true;
  constructor(
    readonly kernelSize: Pair,
    readonly options: MaxPool2dOptions = {},
  ) {
    super();
    checkOptions('nn.MaxPool2d', options, { stride: true, padding: true, ceilMode: true });
    pool2dAttrs(kernelSize, options);
  }

  forward(x: Tensor): Tensor {
    checkInputShape(x, ['N', 'C', 'H', 'W']);
    return maxPool2d(x, this.kernelSize, this.options);
  }

  override extraRepr(): string {
    return describePool(this.kernelSize, this.options);
  }
}

export class AvgPool2d extends Module {
  static override readonly forwardKeepsNothing = true;
  constructor(
    readonly kernelSize: Pair,
    readonly options: AvgPool2dOptions = {},
  ) {
    super();
    checkOptions('nn.AvgPool2d', options, {
      stride: true,
      padding: true,
      ceilMode: true,
      countIncludePad: true,
    });
    pool2dAttrs(kernelSize, options);
  }

  forward(x: Tensor): Tensor {
    checkInputShape(x, ['N', 'C', 'H', 'W']);
    return avgPool2d(x, this.kernelSize, this.options);
  }

  override extraRepr(): string {
    return `${describePool(this.kernelSize, this.options)}, countIncludePad=${this.options.countIncludePad ?? true}`;
  }
}

/** Averages over PyTorch's adaptive bins to a fixed outH × outW whatever the input size ([1, 1]: global pooling). */
export class AdaptiveAvgPool2d extends Module {
  static override readonly forwardKeepsNothing = true;
  readonly outputSize: [number, number];

  constructor(outputSize: Pair) {
    super();
    this.outputSize = pair(outputSize);
  }

  forward(x: Tensor): Tensor {
    checkInputShape(x, ['N', 'C', 'H', 'W']);
    return adaptiveAvgPool2d(x, this.outputSize);
  }

  override extraRepr(): string {
    return `outputSize=${formatPair(this.outputSize)}`;
  }
}
