/** interpolate: PyTorch's F.interpolate for [N, C, H, W] inputs, nearest or bilinear (align_corners false). */
import type { ResizeMode } from '../../backend/backend.js';
import { ShapeError, ValueError, formatShape } from '../../errors.js';
import { record } from '../autograd.js';
import type { Tensor } from '../tensor.js';
import { backendOf, pair, wrap } from './common.js';
import { checkOptions } from '../../options.js';

/** Options of interpolate. */
export interface InterpolateOptions {
  /** The output's [H, W] (or one number for both). Give this or scaleFactor. */
  size?: number | readonly [number, number];
  /**
   * Multiplies H and W (floored). The source positions follow from the sizes (in / out), as PyTorch computes them
   * with recompute_scale_factor: the same as 1 / scaleFactor whenever in × scaleFactor is whole.
   */
  scaleFactor?: number | readonly [number, number];
  /** Default 'nearest', as PyTorch's. */
  mode?: ResizeMode;
}

const MODES: readonly ResizeMode[] = ['nearest', 'bilinear'];

function outputSize(x: Tensor, options: InterpolateOptions): [number, number] {
  const { size, scaleFactor } = options;
  if ((size === undefined) === (scaleFactor === undefined)) {
    throw new ValueError('interpolate: give either size or scaleFactor');
  }
  const out =
    size !== undefined
      ? pair(size)
      : pair(scaleFactor!).map((s, i) => {
          if (!(s > 0) || !Number.isFinite(s))
            throw new ValueError(`interpolate: scaleFactor ${s} must be > 0`);
          return Math.floor(x.shape[2 + i] * s);
        });
  if (out.some((s) => !Number.isInteger(s) || s < 1)) {
    throw new ShapeError(
      `interpolate: output size [${out.join(', ')}] of ${formatShape(x.shape)} must be ≥ 1`,
    );
  }
  return [out[0], out[1]];
}

/** Resamples [N, C, H, W] to a size or by a scale factor, nearest or bilinear, as PyTorch's F.interpolate. */
export function interpolate(x: Tensor, options: InterpolateOptions): Tensor {
  checkOptions('interpolate', options, { size: true, scaleFactor: true, mode: true });
  if (x.rank !== 4)
    throw new ShapeError(`interpolate expects a 4-D input [N, C, H, W], got ${formatShape(x.shape)}`);
  if (x.shape[2] < 1 || x.shape[3] < 1)
    throw new ShapeError(`interpolate: input ${formatShape(x.shape)} has no pixels to read`);
  const mode = options.mode ?? 'nearest';
  if (!MODES.includes(mode)) {
    throw new ValueError(`interpolate: mode '${mode}' is not one of ${MODES.join(', ')}`);
  }
  const size = outputSize(x, options);
  const backend = backendOf('interpolate', [x]);
  const shape = [x.shape[0], x.shape[1], ...size];
  const y = wrap(backend.resize2d(x.storage, x.shape, size, mode), shape, backend);
  return record('interpolate', y, [x], (dy) => [
    wrap(backend.resize2dBackward(dy.storage, dy.shape, x.shape, mode), x.shape, backend),
  ]);
}
