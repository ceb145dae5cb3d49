/**
 * Deterministic image operations, the counterparts of torchvision.transforms.functional. Random transforms draw
 * their parameters and call these, so tests can force a crop offset or an angle by calling them directly.
 */
import { ShapeError, ValueError } from '../../errors.js';
import type { ChwImage } from '../image.js';
import { channelValues, filledImage } from '../image.js';
import { sampleBilinear } from './sampler.js';
import { checkOptions } from '../../options.js';

/** How padding fills: a constant, or the image reflected, its edge repeated, or mirrored (torchvision's modes). */
export type PaddingMode = 'constant' | 'reflect' | 'edge' | 'symmetric';
/** [left, top, right, bottom], as torchvision's `pad` orders them. */
export type Ltrb = [number, number, number, number];

/** Mirrors an image left to right. */
export function horizontalFlip(image: ChwImage): ChwImage {
  const { channels, height, width } = image;
  const data = new Float32Array(image.data.length);
  for (let row = 0; row < channels * height; row++) {
    const base = row * width;
    for (let x = 0; x < width; x++) data[base + x] = image.data[base + width - 1 - x];
  }
  return { data, channels, height, width };
}

/** Mirrors an image top to bottom. */
export function verticalFlip(image: ChwImage): ChwImage {
  const { channels, height, width } = image;
  const data = new Float32Array(image.data.length);
  for (let c = 0; c < channels; c++) {
    for (let y = 0; y < height; y++) {
      const from = (c * height + height - 1 - y) * width;
      data.set(image.data.subarray(from, from + width), (c * height + y) * width);
    }
  }
  return { data, channels, height, width };
}

/** Source index for position `i` of a padded axis of length `n` (i may be negative or ≥ n), or -1 for the fill. */
function paddedIndex(i: number, n: number, mode: PaddingMode): number {
  if (i >= 0 && i < n) return i;
  switch (mode) {
    case 'constant':
      return -1;
    case 'edge':
      return i < 0 ? 0 : n - 1;
    case 'reflect': {
      // Mirror without repeating the edge pixel (numpy 'reflect'): period 2(n - 1).
      if (n === 1) return 0;
      const period = 2 * (n - 1);
      const m = ((i % period) + period) % period;
      return m < n ? m : period - m;
    }
    case 'symmetric': {
      // Mirror repeating the edge pixel (numpy 'symmetric'): period 2n.
      const period = 2 * n;
      const m = ((i % period) + period) % period;
      return m < n ? m : period - 1 - m;
    }
  }
}

/** torchvision's padding argument: one value for all sides, [left/right, top/bottom], or [left, top, right, bottom]. */
export function toLtrb(padding: number | readonly number[]): Ltrb {
  const values = typeof padding === 'number' ? [padding] : padding;
  const ltrb: Ltrb =
    values.length === 1
      ? [values[0], values[0], values[0], values[0]]
      : values.length === 2
        ? [values[0], values[1], values[0], values[1]]
        : values.length === 4
          ? [values[0], values[1], values[2], values[3]]
          : (() => {
              throw new ValueError(`padding: expected 1, 2 or 4 values, got ${values.length}`);
            })();
  if (!ltrb.every((p) => Number.isInteger(p) && p >= 0)) {
    throw new ValueError(`padding must be non-negative integers, got [${values.join(', ')}]`);
  }
  return ltrb;
}

/** Pads an image on its four sides: one value for all, [left/right, top/bottom] or [left, top, right, bottom]. */
export function pad(
  image: ChwImage,
  padding: number | readonly number[],
  options: { fill?: number | readonly number[]; mode?: PaddingMode } = {},
): ChwImage {
  checkOptions('data.transforms.functional.pad', options, { fill: true, mode: true });
  const [left, top, right, bottom] = toLtrb(padding);
  const mode = options.mode ?? 'constant';
  const { channels, height, width } = image;
  if (mode === 'reflect' && (left >= width || right >= width || top >= height || bottom >= height)) {
    throw new ValueError(
      `pad: reflect padding of [${left}, ${top}, ${right}, ${bottom}] needs each side smaller than the image ` +
        `(${height}×${width})`,
    );
  }
  const outHeight = height + top + bottom;
  const outWidth = width + left + right;
  const fill = channelValues(options.fill ?? 0, channels, 'pad fill');
  const data = new Float32Array(channels * outHeight * outWidth);
  const columns = Int32Array.from({ length: outWidth }, (_, x) => paddedIndex(x - left, width, mode));
  for (let c = 0; c < channels; c++) {
    for (let y = 0; y < outHeight; y++) {
      const sourceY = paddedIndex(y - top, height, mode);
      const out = (c * outHeight + y) * outWidth;
      const row = (c * height + sourceY) * width;
      for (let x = 0; x < outWidth; x++) {
        const sourceX = columns[x];
        data[out + x] = sourceY < 0 || sourceX < 0 ? fill[c] : image.data[row + sourceX];
      }
    }
  }
  return { data, channels, height: outHeight, width: outWidth };
}

/** The `height`×`width` window whose top-left corner is (top, left); parts outside the image read 0. */
export function crop(image: ChwImage, top: number, left: number, height: number, width: number): ChwImage {
  const { channels } = image;
  const out = filledImage(channels, height, width, 0);
  const y0 = Math.max(0, -top);
  const y1 = Math.min(height, image.height - top);
  const x0 = Math.max(0, -left);
  const x1 = Math.min(width, image.width - left);
  if (x1 <= x0) return out;
  for (let c = 0; c < channels; c++) {
    for (let y = y0; y < y1; y++) {
      const from = (c * image.height + top + y) * image.width + left;
      out.data.set(image.data.subarray(from + x0, from + x1), (c * height + y) * width + x0);
    }
  }
  return out;
}

/** Python's round(): halves go to the even neighbour (torchvision's centre crop uses it). */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** torchvision's center_crop: zero-pads first when the crop is larger than the image. */
export function centerCrop(image: ChwImage, height: number, width: number): ChwImage {
  let source = image;
  if (width > image.width || height > image.height) {
    const dw = width - image.width;
    const dh = height - image.height;
    source = pad(image, [
      dw > 0 ? Math.floor(dw / 2) : 0,
      dh > 0 ? Math.floor(dh / 2) : 0,
      dw > 0 ? Math.floor((dw + 1) / 2) : 0,
      dh > 0 ? Math.floor((dh + 1) / 2) : 0,
    ]);
    if (source.width === width && source.height === height) return source;
  }
  const top = roundHalfEven((source.height - height) / 2);
  const left = roundHalfEven((source.width - width) / 2);
  return crop(source, top, left, height, width);
}

/** torchvision's resize size: one number sets the smaller edge (keeping the aspect ratio), two set [h, w]. */
export function resizeTarget(
  height: number,
  width: number,
  size: number | readonly number[],
): [number, number] {
  if (typeof size !== 'number') return [size[0], size[1]];
  if (height <= width) return [size, Math.floor((size * width) / height)];
  return [Math.floor((size * height) / width), size];
}

/** Bilinear resize with align_corners=False and no antialiasing: PyTorch's interpolate(mode='bilinear'). */
export function resize(image: ChwImage, size: number | readonly number[]): ChwImage {
  const [height, width] = resizeTarget(image.height, image.width, size);
  if (height < 1 || width < 1) throw new ValueError(`resize: target size ${height}×${width} is empty`);
  if (height === image.height && width === image.width) return image;
  // PyTorch's area_pixel_compute_source_index: src = max(0, (dst + 0.5) · in/out - 0.5), edges clamped.
  const scaleY = image.height / height;
  const scaleX = image.width / width;
  const coordinates = new Float64Array(2 * height * width);
  for (let y = 0; y < height; y++) {
    const sourceY = Math.max(0, (y + 0.5) * scaleY - 0.5);
    for (let x = 0; x < width; x++) {
      coordinates[2 * (y * width + x)] = Math.max(0, (x + 0.5) * scaleX - 0.5);
      coordinates[2 * (y * width + x) + 1] = sourceY;
    }
  }
  return sampleBilinear(image, height, width, coordinates, { kind: 'clamp' });
}

/** Crops the window (top, left, h, w), then resizes it to `size` (torchvision's resized_crop). */
export function resizedCrop(
  image: ChwImage,
  top: number,
  left: number,
  height: number,
  width: number,
  size: readonly [number, number],
): ChwImage {
  return resize(crop(image, top, left, height, width), size);
}

/** The parameters of one affine transform. */
export interface AffineParameters {
  /** Degrees; positive turns the picture clockwise on screen, as in torchvision's `affine`. */
  angle: number;
  /** Pixels, [x, y]. */
  translate: readonly [number, number];
  scale: number;
  /** Degrees, [x, y]. */
  shear: readonly [number, number];
}

/**
 * torchvision's _get_inverse_affine_matrix with the centre at the image centre: the 2×3 matrix taking output
 * positions (relative to the centre) to input positions. M = T·C·R·S·SHy·SHx·C⁻¹, inverted.
 */
export function inverseAffineMatrix(parameters: AffineParameters): number[] {
  const { angle, translate, scale, shear } = parameters;
  if (!(scale > 0)) throw new ValueError(`affine: scale must be positive, got ${scale}`);
  const rotation = (angle * Math.PI) / 180;
  const shearX = (shear[0] * Math.PI) / 180;
  const shearY = (shear[1] * Math.PI) / 180;
  const a = Math.cos(rotation - shearY) / Math.cos(shearY);
  const b = (-Math.cos(rotation - shearY) * Math.tan(shearX)) / Math.cos(shearY) - Math.sin(rotation);
  const c = Math.sin(rotation - shearY) / Math.cos(shearY);
  const d = (-Math.sin(rotation - shearY) * Math.tan(shearX)) / Math.cos(shearY) + Math.cos(rotation);
  // det([[a, b], [c, d]]) = 1, so the inverse of the rotation-shear part is [[d, -b], [-c, a]].
  const m = [d / scale, -b / scale, 0, -c / scale, a / scale, 0];
  const [tx, ty] = translate;
  m[2] = m[0] * -tx + m[1] * -ty;
  m[5] = m[3] * -tx + m[4] * -ty;
  return m;
}

/**
 * Applies an inverse affine matrix (output position relative to the image centre → input position relative to
 * the centre) by bilinear sampling, as torchvision's tensor `affine` and `rotate` do (grid_sample,
 * align_corners=False). Samples outside the image read `fill` (torchvision with fill=None reads 0).
 */
export function warpAffine(
  image: ChwImage,
  inverse: readonly number[],
  fill: number | readonly number[] = 0,
): ChwImage {
  const { height, width } = image;
  const centreX = (width - 1) / 2;
  const centreY = (height - 1) / 2;
  const coordinates = new Float64Array(2 * height * width);
  for (let y = 0; y < height; y++) {
    const yc = y - centreY;
    for (let x = 0; x < width; x++) {
      const xc = x - centreX;
      coordinates[2 * (y * width + x)] = inverse[0] * xc + inverse[1] * yc + inverse[2] + centreX;
      coordinates[2 * (y * width + x) + 1] = inverse[3] * xc + inverse[4] * yc + inverse[5] + centreY;
    }
  }
  return sampleBilinear(image, height, width, coordinates, { kind: 'fill', fill });
}

/**
 * Rotates, translates, scales and shears an image about its centre, sampling bilinearly (torchvision's `affine`).
 */
export function affine(
  image: ChwImage,
  parameters: AffineParameters,
  fill: number | readonly number[] = 0,
): ChwImage {
  return warpAffine(image, inverseAffineMatrix(parameters), fill);
}

/** Rotates counter-clockwise by `angle` degrees about the image centre (torchvision's `rotate`, bilinear). */
export function rotate(image: ChwImage, angle: number, fill: number | readonly number[] = 0): ChwImage {
  // torchvision rotates tensors with the affine matrix of -angle: the two functions turn opposite ways.
  return affine(image, { angle: -angle, translate: [0, 0], scale: 1, shear: [0, 0] }, fill);
}

/** Subtracts each channel's mean and divides by its standard deviation. */
export function normalize(image: ChwImage, mean: readonly number[], std: readonly number[]): ChwImage {
  const { channels, height, width } = image;
  const means = channelValues(mean, channels, 'normalize mean');
  const stds = channelValues(std, channels, 'normalize std');
  if (stds.some((s) => s === 0)) throw new ValueError(`normalize: std [${stds.join(', ')}] contains 0`);
  const plane = height * width;
  const data = new Float32Array(image.data.length);
  for (let c = 0; c < channels; c++) {
    const inverse = 1 / stds[c];
    for (let i = c * plane; i < (c + 1) * plane; i++) data[i] = (image.data[i] - means[c]) * inverse;
  }
  return { data, channels, height, width };
}

/** ITU-R 601 luma weights of R, G and B, as PIL's convert('L') and torchvision's rgb_to_grayscale use. */
export const LUMA_WEIGHTS = [0.299, 0.587, 0.114] as const;

/** Grey to RGB by copying the plane three times; RGB to grey by LUMA_WEIGHTS (see spec.ts convertChannels). */
export function convertChannels(image: ChwImage, channels: 1 | 3): ChwImage {
  const { height, width } = image;
  if (image.channels === channels) return image;
  const plane = height * width;
  if (image.channels === 1 && channels === 3) {
    const data = new Float32Array(3 * plane);
    for (let c = 0; c < 3; c++) data.set(image.data, c * plane);
    return { data, channels, height, width };
  }
  if (image.channels === 3 && channels === 1) {
    const data = new Float32Array(plane);
    const [r, g, b] = LUMA_WEIGHTS;
    for (let i = 0; i < plane; i++)
      data[i] = r * image.data[i] + g * image.data[plane + i] + b * image.data[2 * plane + i];
    return { data, channels, height, width };
  }
  throw new ShapeError(`convertChannels: cannot turn ${image.channels} channels into ${channels}`);
}

/** Four corners then the centre: top-left, top-right, bottom-left, bottom-right, centre (torchvision's order). */
export function fiveCrop(image: ChwImage, height: number, width: number): ChwImage[] {
  if (height > image.height || width > image.width) {
    throw new ShapeError(
      `fiveCrop: crop ${height}×${width} is larger than the image ${image.height}×${image.width}`,
    );
  }
  const bottom = image.height - height;
  const right = image.width - width;
  return [
    crop(image, 0, 0, height, width),
    crop(image, 0, right, height, width),
    crop(image, bottom, 0, height, width),
    crop(image, bottom, right, height, width),
    centerCrop(image, height, width),
  ];
}

/** The five crops of the image, then the five crops of its mirror image (torchvision's ten_crop order). */
export function tenCrop(image: ChwImage, height: number, width: number, vertical = false): ChwImage[] {
  const mirrored = vertical ? verticalFlip(image) : horizontalFlip(image);
  return [...fiveCrop(image, height, width), ...fiveCrop(mirrored, height, width)];
}
