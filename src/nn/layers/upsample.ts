import { interpolate, pair, type InterpolateOptions, type Tensor } from '../../tensor/index.js';
import { Module } from '../module.js';
import { checkInputShape, formatPair } from './input-shape.js';
import { checkOptions } from '../../options.js';

/** PyTorch's nn.Upsample: resamples [N, C, H, W] to a size or by a scale factor, nearest or bilinear. */
export class Upsample extends Module {
  static override readonly forwardKeepsNothing = true;
  constructor(readonly options: InterpolateOptions) {
    super();
    checkOptions('nn.Upsample', options, { size: true, scaleFactor: true, mode: true });
  }

  forward(x: Tensor): Tensor {
    checkInputShape(x, ['N', 'C', 'H', 'W']);
    return interpolate(x, this.options);
  }

  override extraRepr(): string {
    const { size, scaleFactor, mode = 'nearest' } = this.options;
    const what =
      size !== undefined ? `size=${formatPair(pair(size))}` : `scaleFactor=${formatPair(pair(scaleFactor!))}`;
    return `${what}, mode='${mode}'`;
  }
}
