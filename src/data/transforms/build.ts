/**
 * Turns transform descriptors (spec.ts) into functions, one row per kind: the mapped type makes a kind without
 * a builder a compile error. Every random transform draws its parameters from the generator it is handed, in
 * the order its row documents, so a sample's augmentation depends only on that generator's seed. Transforms map
 * lists of images, so that after fiveCrop/tenCrop the rest of a pipeline applies to each crop.
 */
import { ShapeError, ValueError } from '../../errors.js';
import type { Generator } from '../../tensor/random.js';
import type { ChwImage } from '../image.js';
import { channelValues } from '../image.js';
import { addChannelOffsets, pcaOffset } from './color.js';
import { elasticDisplacement, elasticWarp } from './elastic.js';
import * as F from './functional.js';
import type { TransformKind, TransformSpec, TransformSpecOf } from './spec.js';

type ListTransform = (images: ChwImage[], generator: Generator) => ChwImage[];

function each(transform: (image: ChwImage, generator: Generator) => ChwImage): ListTransform {
  return (images, generator) => images.map((image) => transform(image, generator));
}

function uniform(generator: Generator, low: number, high: number): number {
  return low + (high - low) * generator.uniform();
}

/** torchvision's RandomCrop.get_params: top then left, no draw when the crop is the whole image. */
export function randomCropOffset(
  height: number,
  width: number,
  cropHeight: number,
  cropWidth: number,
  generator: Generator,
): [number, number] {
  if (cropHeight > height || cropWidth > width) {
    throw new ShapeError(
      `randomCrop: crop ${cropHeight}×${cropWidth} is larger than the (padded) image ${height}×${width}`,
    );
  }
  if (cropHeight === height && cropWidth === width) return [0, 0];
  return [generator.int(height - cropHeight + 1), generator.int(width - cropWidth + 1)];
}

/**
 * torchvision's RandomResizedCrop.get_params: up to 10 tries of (area fraction, log aspect ratio), then top and
 * left for the first window that fits; else the centre crop clamped to the ratio range. Returns [top, left, h, w].
 */
export function randomResizedCropWindow(
  height: number,
  width: number,
  scale: readonly [number, number],
  ratio: readonly [number, number],
  generator: Generator,
): [number, number, number, number] {
  const area = height * width;
  const logRatio = [Math.log(ratio[0]), Math.log(ratio[1])];
  for (let attempt = 0; attempt < 10; attempt++) {
    const targetArea = area * uniform(generator, scale[0], scale[1]);
    const aspect = Math.exp(uniform(generator, logRatio[0], logRatio[1]));
    const w = F.roundHalfEven(Math.sqrt(targetArea * aspect));
    const h = F.roundHalfEven(Math.sqrt(targetArea / aspect));
    if (w > 0 && w <= width && h > 0 && h <= height) {
      const top = generator.int(height - h + 1);
      const left = generator.int(width - w + 1);
      return [top, left, h, w];
    }
  }
  const inRatio = width / height;
  let w = width;
  let h = height;
  if (inRatio < ratio[0]) h = F.roundHalfEven(w / ratio[0]);
  else if (inRatio > ratio[1]) w = F.roundHalfEven(h * ratio[1]);
  return [Math.floor((height - h) / 2), Math.floor((width - w) / 2), h, w];
}

/**
 * torchvision's RandomErasing.get_params: up to 10 tries of (area fraction, log aspect ratio) until the window
 * fits strictly inside the image, then top and left. Returns [top, left, h, w], or null when no try fits.
 */
export function randomErasingWindow(
  height: number,
  width: number,
  scale: readonly [number, number],
  ratio: readonly [number, number],
  generator: Generator,
): [number, number, number, number] | null {
  const logRatio = [Math.log(ratio[0]), Math.log(ratio[1])];
  for (let attempt = 0; attempt < 10; attempt++) {
    const erasedArea = height * width * uniform(generator, scale[0], scale[1]);
    const aspect = Math.exp(uniform(generator, logRatio[0], logRatio[1]));
    const h = F.roundHalfEven(Math.sqrt(erasedArea * aspect));
    const w = F.roundHalfEven(Math.sqrt(erasedArea / aspect));
    if (h < height && w < width) return [generator.int(height - h + 1), generator.int(width - w + 1), h, w];
  }
  return null;
}

/** The image with the window [top, left, h, w] of every channel set to `value`, or to uniform draws in row order. */
function erase(
  image: ChwImage,
  [top, left, h, w]: readonly number[],
  value: number | 'uniform',
  generator: Generator,
): ChwImage {
  const data = Float32Array.from(image.data);
  for (let c = 0; c < image.channels; c++) {
    for (let y = top; y < top + h; y++) {
      const row = (c * image.height + y) * image.width;
      for (let x = left; x < left + w; x++) data[row + x] = value === 'uniform' ? generator.uniform() : value;
    }
  }
  return { ...image, data };
}

/** torchvision's RandomAffine.get_params: angle, then tx, ty (if translate), scale (if set), shear x, shear y. */
export function randomAffineParameters(
  spec: TransformSpecOf<'randomAffine'>,
  height: number,
  width: number,
  generator: Generator,
): F.AffineParameters {
  const angle = uniform(generator, spec.degrees[0], spec.degrees[1]);
  let translate: [number, number] = [0, 0];
  if (spec.translate) {
    const maxDx = spec.translate[0] * width;
    const maxDy = spec.translate[1] * height;
    translate = [
      F.roundHalfEven(uniform(generator, -maxDx, maxDx)),
      F.roundHalfEven(uniform(generator, -maxDy, maxDy)),
    ];
  }
  const scale = spec.scale ? uniform(generator, spec.scale[0], spec.scale[1]) : 1;
  let shear: [number, number] = [0, 0];
  if (spec.shear) {
    const [x0, x1, y0, y1] = spec.shear;
    shear = [uniform(generator, x0, x1), y0 === 0 && y1 === 0 ? 0 : uniform(generator, y0, y1)];
  }
  return { angle, translate, scale, shear };
}

const builders: { [K in TransformKind]: (spec: TransformSpecOf<K>) => ListTransform } = {
  compose: (spec) => {
    const steps = spec.transforms.map(build);
    return (images, generator) => steps.reduce((current, step) => step(current, generator), images);
  },
  // One uniform draw: flip when it is below p.
  randomHorizontalFlip: (spec) =>
    each((image, generator) => (generator.uniform() < spec.p ? F.horizontalFlip(image) : image)),
  randomVerticalFlip: (spec) =>
    each((image, generator) => (generator.uniform() < spec.p ? F.verticalFlip(image) : image)),
  pad: (spec) => each((image) => F.pad(image, spec.padding, { fill: spec.fill, mode: spec.mode })),
  // Pads, then draws top and left (none if the crop is the whole padded image).
  randomCrop: (spec) =>
    each((image, generator) => {
      const [cropHeight, cropWidth] = spec.size;
      let padded = spec.padding ? F.pad(image, spec.padding, { fill: spec.fill, mode: spec.mode }) : image;
      if (spec.padIfNeeded && padded.width < cropWidth) {
        padded = F.pad(padded, [cropWidth - padded.width, 0], { fill: spec.fill, mode: spec.mode });
      }
      if (spec.padIfNeeded && padded.height < cropHeight) {
        padded = F.pad(padded, [0, cropHeight - padded.height], { fill: spec.fill, mode: spec.mode });
      }
      const [top, left] = randomCropOffset(padded.height, padded.width, cropHeight, cropWidth, generator);
      return F.crop(padded, top, left, cropHeight, cropWidth);
    }),
  randomResizedCrop: (spec) =>
    each((image, generator) => {
      const [top, left, h, w] = randomResizedCropWindow(
        image.height,
        image.width,
        spec.scale,
        spec.ratio,
        generator,
      );
      return F.resizedCrop(image, top, left, h, w, spec.size);
    }),
  // One uniform draw against p; if erasing, the window's draws, then one uniform per erased value ('uniform').
  randomErasing: (spec) =>
    each((image, generator) => {
      if (!(generator.uniform() < spec.p)) return image;
      const window = randomErasingWindow(image.height, image.width, spec.scale, spec.ratio, generator);
      return window === null ? image : erase(image, window, spec.value, generator);
    }),
  // One uniform draw for the angle.
  randomRotation: (spec) =>
    each((image, generator) =>
      F.rotate(image, uniform(generator, spec.degrees[0], spec.degrees[1]), spec.fill),
    ),
  randomAffine: (spec) =>
    each((image, generator) =>
      F.affine(image, randomAffineParameters(spec, image.height, image.width, generator), spec.fill),
    ),
  // height·width uniforms for dx, then as many for dy.
  elasticTransform: (spec) =>
    each((image, generator) =>
      elasticWarp(
        image,
        elasticDisplacement(image.height, image.width, spec.alpha, spec.sigma, generator),
        spec.fill,
      ),
    ),
  // One draw per channel, in channel order.
  colorShift: (spec) =>
    each((image, generator) => {
      const scales = channelValues(spec.scale, image.channels, 'colorShift scale');
      const offsets = scales.map((s) =>
        spec.distribution === 'normal' ? s * generator.normal() : s * (2 * generator.uniform() - 1),
      );
      return addChannelOffsets(image, offsets);
    }),
  // Three normal draws: α1, α2, α3.
  pcaLighting: (spec) => {
    const pca = {
      eigenvalues: spec.eigenvalues as [number, number, number],
      eigenvectors: spec.eigenvectors as [number[], number[], number[]],
    };
    return each((image, generator) => {
      if (image.channels !== 3) {
        throw new ShapeError(`pcaLighting: needs RGB images, got ${image.channels} channels`);
      }
      const alphas = [0, 1, 2].map(() => spec.alphaStd * generator.normal());
      return addChannelOffsets(image, pcaOffset(pca, alphas));
    });
  },
  resize: (spec) => each((image) => F.resize(image, spec.size)),
  centerCrop: (spec) => each((image) => F.centerCrop(image, spec.size[0], spec.size[1])),
  normalize: (spec) => each((image) => F.normalize(image, spec.mean, spec.std)),
  convertChannels: (spec) => each((image) => F.convertChannels(image, spec.channels)),
  fiveCrop: (spec) => (images) => images.flatMap((image) => F.fiveCrop(image, spec.size[0], spec.size[1])),
  tenCrop: (spec) => (images) =>
    images.flatMap((image) => F.tenCrop(image, spec.size[0], spec.size[1], spec.verticalFlip)),
};

function build(spec: TransformSpec): ListTransform {
  const builder = builders[spec.kind] as (spec: TransformSpec) => ListTransform;
  if (builder === undefined)
    throw new ValueError(`unknown transform kind '${(spec as { kind: string }).kind}'`);
  return builder(spec);
}

/** The function a descriptor stands for: one image in, one or more (after fiveCrop/tenCrop) out. */
export function makeTransform(spec: TransformSpec): (image: ChwImage, generator: Generator) => ChwImage[] {
  const transform = build(spec);
  return (image, generator) => transform([image], generator);
}
