/**
 * Transforms as data. Workers cannot receive closures, so `transforms.randomCrop(28, { padding: 2 })` and its
 * siblings return plain, JSON-like descriptors: the loader posts them to its workers, and both sides turn them
 * into functions with `makeTransform` (build.ts). Constructors validate their options here, on the caller's
 * thread, so a bad option fails at once with a clear message rather than later inside a worker.
 */
import { ValueError } from '../../errors.js';
import type { PcaLighting } from './color.js';
import type { PaddingMode } from './functional.js';
import { toLtrb } from './functional.js';
import { checkOptions } from '../../options.js';

type Pair = [number, number];
type Ltrb = [number, number, number, number];

/**
 * A transform as plain data (so it can travel to a loader's workers); made by the functions of `data.transforms`.
 */
export type TransformSpec =
  | { kind: 'compose'; transforms: TransformSpec[] }
  | { kind: 'randomHorizontalFlip'; p: number }
  | { kind: 'randomVerticalFlip'; p: number }
  | { kind: 'pad'; padding: Ltrb; fill: number | number[]; mode: PaddingMode }
  | {
      kind: 'randomCrop';
      size: Pair;
      padding: Ltrb | null;
      padIfNeeded: boolean;
      fill: number | number[];
      mode: PaddingMode;
    }
  | { kind: 'randomResizedCrop'; size: Pair; scale: Pair; ratio: Pair }
  | { kind: 'randomErasing'; p: number; scale: Pair; ratio: Pair; value: number | 'uniform' }
  | { kind: 'randomRotation'; degrees: Pair; fill: number | number[] }
  | {
      kind: 'randomAffine';
      degrees: Pair;
      translate: Pair | null;
      scale: Pair | null;
      shear: [number, number, number, number] | null;
      fill: number | number[];
    }
  | { kind: 'elasticTransform'; alpha: number; sigma: number; fill: number | number[] }
  | { kind: 'colorShift'; distribution: 'normal' | 'uniform'; scale: number | number[] }
  | { kind: 'pcaLighting'; eigenvalues: number[]; eigenvectors: number[][]; alphaStd: number }
  | { kind: 'resize'; size: number | Pair }
  | { kind: 'centerCrop'; size: Pair }
  | { kind: 'normalize'; mean: number[]; std: number[] }
  | { kind: 'convertChannels'; channels: 1 | 3 }
  | { kind: 'fiveCrop'; size: Pair }
  | { kind: 'tenCrop'; size: Pair; verticalFlip: boolean };

/** The name of a transform kind, such as 'randomCrop'. */
export type TransformKind = TransformSpec['kind'];
/** The spec of one transform kind. */
export type TransformSpecOf<K extends TransformKind> = Extract<TransformSpec, { kind: K }>;

function positiveInteger(what: string, value: number): number {
  if (!Number.isInteger(value) || value < 1)
    throw new ValueError(`${what} must be a positive integer, got ${value}`);
  return value;
}

function size2(what: string, size: number | readonly number[]): Pair {
  const pair = typeof size === 'number' ? [size, size] : [...size];
  if (pair.length !== 2) throw new ValueError(`${what}: size must be one number or [height, width]`);
  return [positiveInteger(`${what} height`, pair[0]), positiveInteger(`${what} width`, pair[1])];
}

function probability(what: string, p: number): number {
  if (!(p >= 0 && p <= 1)) throw new ValueError(`${what}: p must be in [0, 1], got ${p}`);
  return p;
}

/** `d` → [-d, d] (d ≥ 0), or an ordered [min, max]. */
function range(what: string, value: number | readonly number[]): Pair {
  if (typeof value === 'number') {
    if (!(value >= 0)) throw new ValueError(`${what}: a single value must be non-negative, got ${value}`);
    return [-value, value];
  }
  if (value.length !== 2 || !(value[0] <= value[1])) {
    throw new ValueError(`${what}: expected [min, max] with min ≤ max, got [${value.join(', ')}]`);
  }
  return [value[0], value[1]];
}

function fillValue(fill: number | readonly number[] | undefined): number | number[] {
  return fill === undefined ? 0 : typeof fill === 'number' ? fill : [...fill];
}

/** Applies the transforms in order. */
export function compose(transforms: readonly TransformSpec[]): TransformSpecOf<'compose'> {
  return { kind: 'compose', transforms: [...transforms] };
}

/** Mirrors left–right with probability p. */
export function randomHorizontalFlip(p = 0.5): TransformSpecOf<'randomHorizontalFlip'> {
  return { kind: 'randomHorizontalFlip', p: probability('randomHorizontalFlip', p) };
}

/** Mirrors top–bottom with probability p. */
export function randomVerticalFlip(p = 0.5): TransformSpecOf<'randomVerticalFlip'> {
  return { kind: 'randomVerticalFlip', p: probability('randomVerticalFlip', p) };
}

/** How a pad fills the added pixels. */
export interface PadOptions {
  fill?: number | readonly number[];
  mode?: PaddingMode;
}

/** torchvision's Pad: one value for all sides, [left/right, top/bottom], or [left, top, right, bottom]. */
export function pad(padding: number | readonly number[], options: PadOptions = {}): TransformSpecOf<'pad'> {
  checkOptions('data.transforms.pad', options, { fill: true, mode: true });
  return {
    kind: 'pad',
    padding: toLtrb(padding),
    fill: fillValue(options.fill),
    mode: options.mode ?? 'constant',
  };
}

/** torchvision's RandomCrop: pads (if asked), then crops `size` at a uniformly drawn offset. */
export function randomCrop(
  size: number | readonly [number, number],
  options: { padding?: number | readonly number[]; padIfNeeded?: boolean } & PadOptions = {},
): TransformSpecOf<'randomCrop'> {
  checkOptions('data.transforms.randomCrop', options, {
    padding: true,
    padIfNeeded: true,
    fill: true,
    mode: true,
  });
  return {
    kind: 'randomCrop',
    size: size2('randomCrop', size),
    padding: options.padding === undefined ? null : toLtrb(options.padding),
    padIfNeeded: options.padIfNeeded ?? false,
    fill: fillValue(options.fill),
    mode: options.mode ?? 'constant',
  };
}

/**
 * torchvision's RandomResizedCrop (the Inception-style crop): a window of a random area fraction `scale` and
 * aspect ratio `ratio` (drawn log-uniformly), resized bilinearly to `size`.
 */
export function randomResizedCrop(
  size: number | readonly [number, number],
  options: { scale?: readonly [number, number]; ratio?: readonly [number, number] } = {},
): TransformSpecOf<'randomResizedCrop'> {
  checkOptions('data.transforms.randomResizedCrop', options, { scale: true, ratio: true });
  const scale = range('randomResizedCrop scale', options.scale ?? [0.08, 1]);
  const ratio = range('randomResizedCrop ratio', options.ratio ?? [3 / 4, 4 / 3]);
  if (!(scale[0] > 0) || !(ratio[0] > 0)) {
    throw new ValueError('randomResizedCrop: scale and ratio must be positive');
  }
  return { kind: 'randomResizedCrop', size: size2('randomResizedCrop', size), scale, ratio };
}

/** Rotates counter-clockwise by an angle drawn uniformly from `degrees` (d → [-d, d]), bilinear. */
export function randomRotation(
  degrees: number | readonly [number, number],
  options: { fill?: number | readonly number[] } = {},
): TransformSpecOf<'randomRotation'> {
  checkOptions('data.transforms.randomRotation', options, { fill: true });
  return {
    kind: 'randomRotation',
    degrees: range('randomRotation degrees', degrees),
    fill: fillValue(options.fill),
  };
}

/**
 * torchvision's RandomAffine: rotation from `degrees`; translation up to `translate` = [fx, fy] of the width and
 * height (whole pixels); scale from `scale`; shear in degrees: s → x in [-s, s], [a, b] → x in [a, b],
 * [a, b, c, d] → x in [a, b] and y in [c, d]. Inverse-mapped with bilinear sampling.
 */
export function randomAffine(options: {
  degrees: number | readonly [number, number];
  translate?: readonly [number, number];
  scale?: readonly [number, number];
  shear?: number | readonly number[];
  fill?: number | readonly number[];
}): TransformSpecOf<'randomAffine'> {
  checkOptions('data.transforms.randomAffine', options, {
    degrees: true,
    translate: true,
    scale: true,
    shear: true,
    fill: true,
  });
  const { translate, scale, shear } = options;
  if (translate && !(translate.length === 2 && translate.every((t) => t >= 0 && t <= 1))) {
    throw new ValueError(
      `randomAffine: translate must be two fractions in [0, 1], got [${translate.join(', ')}]`,
    );
  }
  if (scale && !(scale.length === 2 && scale[0] > 0 && scale[0] <= scale[1])) {
    throw new ValueError(
      `randomAffine: scale must be [min, max] with 0 < min ≤ max, got [${scale.join(', ')}]`,
    );
  }
  let shears: [number, number, number, number] | null = null;
  if (shear !== undefined) {
    const s = typeof shear === 'number' ? [...range('randomAffine shear', shear), 0, 0] : [...shear];
    if (s.length === 2) s.push(0, 0);
    if (s.length !== 4)
      throw new ValueError(`randomAffine: shear must have 1, 2 or 4 values, got ${s.length}`);
    range('randomAffine shear x', [s[0], s[1]]);
    range('randomAffine shear y', [s[2], s[3]]);
    shears = [s[0], s[1], s[2], s[3]];
  }
  return {
    kind: 'randomAffine',
    degrees: range('randomAffine degrees', options.degrees),
    translate: translate ? [translate[0], translate[1]] : null,
    scale: scale ? [scale[0], scale[1]] : null,
    shear: shears,
    fill: fillValue(options.fill),
  };
}

/**
 * Simard et al. (2003) elastic distortion: uniform [-1, 1] displacement fields smoothed by a Gaussian of `sigma`
 * pixels, scaled by `alpha` pixels (Simard used σ = 4, α = 34 on 28×28 MNIST digits).
 */
export function elasticTransform(options: {
  alpha: number;
  sigma: number;
  fill?: number | readonly number[];
}): TransformSpecOf<'elasticTransform'> {
  checkOptions('data.transforms.elasticTransform', options, { alpha: true, sigma: true, fill: true });
  if (!(options.alpha >= 0))
    throw new ValueError(`elasticTransform: alpha must be ≥ 0, got ${options.alpha}`);
  if (!(options.sigma > 0)) throw new ValueError(`elasticTransform: sigma must be > 0, got ${options.sigma}`);
  return {
    kind: 'elasticTransform',
    alpha: options.alpha,
    sigma: options.sigma,
    fill: fillValue(options.fill),
  };
}

/**
 * Adds one offset per channel to all its pixels: drawn from N(0, scale²) (`normal`, the default) or
 * U(-scale, scale) (`uniform`); `scale` is one value or one per channel.
 */
export function colorShift(
  options: { scale: number | readonly number[]; distribution?: 'normal' | 'uniform' } = { scale: 0.1 },
): TransformSpecOf<'colorShift'> {
  checkOptions('data.transforms.colorShift', options, { scale: true, distribution: true });
  const scales = typeof options.scale === 'number' ? [options.scale] : [...options.scale];
  if (!scales.every((s) => s >= 0))
    throw new ValueError(`colorShift: scale must be ≥ 0, got [${scales.join(', ')}]`);
  return {
    kind: 'colorShift',
    distribution: options.distribution ?? 'normal',
    scale: typeof options.scale === 'number' ? options.scale : scales,
  };
}

/**
 * AlexNet's PCA colour augmentation: adds [p1 p2 p3]·[α1λ1 α2λ2 α3λ3]ᵀ to every pixel, αi ~ N(0, alphaStd²),
 * with the eigenvectors p and eigenvalues λ from `computePcaLighting(trainingSet)`.
 */
export function pcaLighting(
  pca: PcaLighting,
  options: { alphaStd?: number } = {},
): TransformSpecOf<'pcaLighting'> {
  checkOptions('data.transforms.pcaLighting', options, { alphaStd: true });
  const alphaStd = options.alphaStd ?? 0.1;
  if (
    pca.eigenvalues.length !== 3 ||
    pca.eigenvectors.length !== 3 ||
    pca.eigenvectors.some((v) => v.length !== 3)
  ) {
    throw new ValueError('pcaLighting: needs 3 eigenvalues and 3 eigenvectors of 3 components (RGB)');
  }
  if (!(alphaStd >= 0)) throw new ValueError(`pcaLighting: alphaStd must be ≥ 0, got ${alphaStd}`);
  return {
    kind: 'pcaLighting',
    eigenvalues: [...pca.eigenvalues],
    eigenvectors: pca.eigenvectors.map((v) => [...v]),
    alphaStd,
  };
}

/**
 * Random erasing (Zhong et al. 2017; torchvision's RandomErasing): with probability `p`, a rectangle of `scale` of
 * the area (default 0.02–0.4, the paper's) and aspect ratio in `ratio` (default 0.3–1/0.3, log-uniform) is filled
 * with `value`, or with values drawn uniformly from [0, 1) per pixel (`'uniform'`, the default: the paper's random
 * values, for images in [0, 1] before normalisation). When no window fits in 10 tries the image is left unchanged.
 */
export function randomErasing(
  options: {
    p?: number;
    scale?: readonly number[];
    ratio?: readonly number[];
    value?: number | 'uniform';
  } = {},
): TransformSpecOf<'randomErasing'> {
  checkOptions('data.transforms.randomErasing', options, { p: true, scale: true, ratio: true, value: true });
  const scale = range('randomErasing scale', options.scale ?? [0.02, 0.4]);
  const ratio = range('randomErasing ratio', options.ratio ?? [0.3, 1 / 0.3]);
  if (!(scale[0] > 0 && scale[1] <= 1))
    throw new ValueError(`randomErasing: scale must lie in (0, 1], got [${scale.join(', ')}]`);
  if (!(ratio[0] > 0))
    throw new ValueError(`randomErasing: ratio must be positive, got [${ratio.join(', ')}]`);
  const value = options.value ?? 'uniform';
  if (value !== 'uniform' && !Number.isFinite(value))
    throw new ValueError(`randomErasing: value must be a finite number or 'uniform', got ${String(value)}`);
  return { kind: 'randomErasing', p: probability('randomErasing', options.p ?? 0.5), scale, ratio, value };
}

/** Bilinear resize (align_corners=False, no antialias): one number sets the smaller edge, [h, w] the size. */
export function resize(size: number | readonly [number, number]): TransformSpecOf<'resize'> {
  return {
    kind: 'resize',
    size: typeof size === 'number' ? positiveInteger('resize size', size) : size2('resize', size),
  };
}

/** Crops `size` from the centre of the image. */
export function centerCrop(size: number | readonly [number, number]): TransformSpecOf<'centerCrop'> {
  return { kind: 'centerCrop', size: size2('centerCrop', size) };
}

/** (x - mean[c]) / std[c] per channel. */
export function normalize(mean: readonly number[], std: readonly number[]): TransformSpecOf<'normalize'> {
  if (std.some((s) => s === 0)) throw new ValueError(`normalize: std [${std.join(', ')}] contains 0`);
  return { kind: 'normalize', mean: [...mean], std: [...std] };
}

/**
 * To `channels` channels by one stated rule: grey to RGB copies the grey value into R, G and B (torchvision's
 * Grayscale(3)); RGB to grey is the ITU-R 601 luma 0.299 R + 0.587 G + 0.114 B (PIL's convert('L')). An image
 * that already has `channels` channels is left as it is.
 */
export function convertChannels(channels: number): TransformSpecOf<'convertChannels'> {
  if (channels !== 1 && channels !== 3)
    throw new ValueError(`convertChannels: channels must be 1 or 3, got ${channels}`);
  return { kind: 'convertChannels', channels };
}

/** Four corner crops and the centre crop: 5 images per sample. */
export function fiveCrop(size: number | readonly [number, number]): TransformSpecOf<'fiveCrop'> {
  return { kind: 'fiveCrop', size: size2('fiveCrop', size) };
}

/** fiveCrop of the image and of its mirror image (vertical mirror if asked): 10 images per sample. */
export function tenCrop(
  size: number | readonly [number, number],
  options: { verticalFlip?: boolean } = {},
): TransformSpecOf<'tenCrop'> {
  checkOptions('data.transforms.tenCrop', options, { verticalFlip: true });
  return { kind: 'tenCrop', size: size2('tenCrop', size), verticalFlip: options.verticalFlip ?? false };
}
