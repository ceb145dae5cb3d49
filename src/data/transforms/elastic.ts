/**
 * Local elastic warping after Simard, Steinkraus and Platt (2003), "Best practices for convolutional neural
 * networks applied to visual document analysis": each pixel moves by a displacement drawn uniformly from
 * [-1, 1], the two displacement fields are smoothed by a Gaussian of standard deviation `sigma` pixels and
 * scaled by `alpha` pixels, and the image is resampled bilinearly at the displaced positions.
 */
import type { Generator } from '../../tensor/random.js';
import { ValueError } from '../../errors.js';
import type { ChwImage } from '../image.js';
import { sampleBilinear } from './sampler.js';

/** A displacement field: where each output pixel samples the input. */
export interface Displacement {
  /** Per output pixel (row-major), how far right (dx) and down (dy) its source lies, in pixels. */
  dx: Float32Array;
  dy: Float32Array;
}

/** A normalised Gaussian kernel truncated at 4σ, as scipy.ndimage.gaussian_filter does. */
export function gaussianKernel(sigma: number): Float64Array {
  if (!(sigma > 0)) throw new ValueError(`gaussian kernel: sigma must be positive, got ${sigma}`);
  const radius = Math.floor(4 * sigma + 0.5);
  const kernel = new Float64Array(2 * radius + 1);
  let sum = 0;
  for (let i = -radius; i <= radius; i++)
    sum += kernel[i + radius] = Math.exp(-(i * i) / (2 * sigma * sigma));
  for (let i = 0; i < kernel.length; i++) kernel[i] /= sum;
  return kernel;
}

/** Separable Gaussian smoothing of a height×width field; values beyond the border count as 0. */
export function gaussianSmooth(
  field: Float64Array,
  height: number,
  width: number,
  sigma: number,
): Float64Array {
  const kernel = gaussianKernel(sigma);
  const radius = (kernel.length - 1) / 2;
  const rows = new Float64Array(field.length);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      let sum = 0;
      for (let k = Math.max(-radius, -x); k <= Math.min(radius, width - 1 - x); k++) {
        sum += kernel[k + radius] * field[y * width + x + k];
      }
      rows[y * width + x] = sum;
    }
  }
  const out = new Float64Array(field.length);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      let sum = 0;
      for (let k = Math.max(-radius, -y); k <= Math.min(radius, height - 1 - y); k++) {
        sum += kernel[k + radius] * rows[(y + k) * width + x];
      }
      out[y * width + x] = sum;
    }
  }
  return out;
}

/** Draws a displacement field: height·width uniforms for dx, then as many for dy. */
export function elasticDisplacement(
  height: number,
  width: number,
  alpha: number,
  sigma: number,
  generator: Generator,
): Displacement {
  const draw = (): Float32Array => {
    const field = new Float64Array(height * width);
    for (let i = 0; i < field.length; i++) field[i] = 2 * generator.uniform() - 1;
    return Float32Array.from(gaussianSmooth(field, height, width, sigma), (v) => v * alpha);
  };
  const dx = draw();
  const dy = draw();
  return { dx, dy };
}

/** Moves every pixel by the displacement field (the same for all channels); outside samples read `fill`. */
export function elasticWarp(
  image: ChwImage,
  displacement: Displacement,
  fill: number | readonly number[] = 0,
): ChwImage {
  const { height, width } = image;
  if (displacement.dx.length !== height * width || displacement.dy.length !== height * width) {
    throw new ValueError(
      `elasticWarp: displacement fields of ${displacement.dx.length} and ${displacement.dy.length} values ` +
        `for a ${height}×${width} image`,
    );
  }
  const coordinates = new Float64Array(2 * height * width);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const p = y * width + x;
      coordinates[2 * p] = x + displacement.dx[p];
      coordinates[2 * p + 1] = y + displacement.dy[p];
    }
  }
  return sampleBilinear(image, height, width, coordinates, { kind: 'fill', fill });
}
