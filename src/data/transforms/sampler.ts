import type { ChwImage } from '../image.js';
import { channelValues } from '../image.js';

/**
 * What a sample that falls outside the source reads: the nearest edge pixel (`clamp`, as PyTorch's bilinear
 * resize does) or a fill colour (rotation, affine, elastic warping: torchvision's grid_sample with zero padding
 * when the fill is 0).
 */
export type Outside = { kind: 'clamp' } | { kind: 'fill'; fill: number | readonly number[] };

/**
 * Bilinear sampling shared by resize, rotation, affine and elastic warping. `coordinates` holds, for each output
 * pixel in row-major order, the (x, y) source position in pixel-index units: (0, 0) is the centre of the
 * top-left pixel, so align_corners=False conventions are the caller's arithmetic, not the sampler's.
 */
export function sampleBilinear(
  source: ChwImage,
  height: number,
  width: number,
  coordinates: Float64Array,
  outside: Outside,
): ChwImage {
  const { channels, height: sourceHeight, width: sourceWidth, data: input } = source;
  const plane = height * width;
  const sourcePlane = sourceHeight * sourceWidth;
  const data = new Float32Array(channels * plane);
  const fill = outside.kind === 'fill' ? channelValues(outside.fill, channels, 'fill') : undefined;
  for (let p = 0; p < plane; p++) {
    let x = coordinates[2 * p];
    let y = coordinates[2 * p + 1];
    if (fill === undefined) {
      x = Math.min(Math.max(x, 0), sourceWidth - 1);
      y = Math.min(Math.max(y, 0), sourceHeight - 1);
    }
    const x0 = Math.floor(x);
    const y0 = Math.floor(y);
    const wx1 = x - x0;
    const wy1 = y - y0;
    const wx0 = 1 - wx1;
    const wy0 = 1 - wy1;
    const inX0 = x0 >= 0 && x0 < sourceWidth;
    const inX1 = x0 + 1 >= 0 && x0 + 1 < sourceWidth;
    const inY0 = y0 >= 0 && y0 < sourceHeight;
    const inY1 = y0 + 1 >= 0 && y0 + 1 < sourceHeight;
    // Corner weights; a corner outside the source contributes the fill colour instead of a pixel.
    const w00 = wy0 * wx0;
    const w01 = wy0 * wx1;
    const w10 = wy1 * wx0;
    const w11 = wy1 * wx1;
    const i00 = y0 * sourceWidth + x0;
    for (let c = 0; c < channels; c++) {
      const base = c * sourcePlane + i00;
      const outsideValue = fill === undefined ? 0 : fill[c];
      let value = 0;
      if (w00 !== 0) value += w00 * (inY0 && inX0 ? input[base] : outsideValue);
      if (w01 !== 0) value += w01 * (inY0 && inX1 ? input[base + 1] : outsideValue);
      if (w10 !== 0) value += w10 * (inY1 && inX0 ? input[base + sourceWidth] : outsideValue);
      if (w11 !== 0) value += w11 * (inY1 && inX1 ? input[base + sourceWidth + 1] : outsideValue);
      data[c * plane + p] = value;
    }
  }
  return { data, channels, height, width };
}
