/**
 * What is done to an image between its file and the model, recorded in every checkpoint so that eval, predict and
 * export do the same: the channel rule, the size rule and the normalisation.
 *
 * The stated rules. Channels: grey feeds a 3-channel model by copying the grey value into R, G and B; RGB feeds a
 * 1-channel model as its ITU-R 601 luma (0.299 R + 0.587 G + 0.114 B). Size: a model input at most PAD_LIMIT pixels
 * larger than the images is reached by zero padding on every side (LeNet-5 takes 28×28 digits padded to 32×32, as
 * in the paper); any other difference by a bilinear resize. Normalisation: (x − mean) / std per channel, the
 * statistics of the training images after the channel rule.
 */
import { ValueError } from '../errors.js';
import { transforms, type Dataset, type TransformSpec } from '../data/index.js';
import { Generator } from '../tensor/random.js';

type Shape3 = readonly [number, number, number];

/** The largest difference between model input and image side that padding (not resizing) bridges. */
export const PAD_LIMIT = 8;

/** The rules from an image of the data to the model's input, kept in every checkpoint (see the top of this file). */
export interface Preprocessing {
  /** [C, H, W] the data's images come as (an image folder's: what its files are decoded to). */
  imageShape: [number, number, number];
  /** [C, H, W] the model takes. */
  inputShape: [number, number, number];
  /** How the image's height and width become the input's. */
  resize: 'none' | 'pad' | 'resize';
  /** Per input channel. */
  mean: number[];
  std: number[];
}

/** The preprocessing from images of `imageShape` to a model taking `inputShape`, by the stated rules. */
export function planPreprocessing(
  imageShape: Shape3,
  inputShape: Shape3,
  statistics: { mean: readonly number[]; std: readonly number[] },
): Preprocessing {
  const [, height, width] = imageShape;
  const [channels, inputHeight, inputWidth] = inputShape;
  if (statistics.mean.length !== channels || statistics.std.length !== channels)
    throw new ValueError(`preprocessing: ${statistics.mean.length} means for ${channels} input channels`);
  const grow = [inputHeight - height, inputWidth - width];
  const resize =
    grow[0] === 0 && grow[1] === 0
      ? 'none'
      : grow.every((d) => d >= 0 && d <= PAD_LIMIT && d % 2 === 0)
        ? 'pad'
        : 'resize';
  return {
    imageShape: [...imageShape],
    inputShape: [...inputShape],
    resize,
    mean: [...statistics.mean],
    std: [...statistics.std],
  };
}

/** The channel and size steps, before any augmentation. */
function shapeSteps(p: Preprocessing): TransformSpec[] {
  const steps: TransformSpec[] = [];
  if (p.imageShape[0] !== p.inputShape[0]) steps.push(transforms.convertChannels(p.inputShape[0]));
  const [, height, width] = p.inputShape;
  if (p.resize === 'pad')
    steps.push(transforms.pad([(width - p.imageShape[2]) / 2, (height - p.imageShape[1]) / 2]));
  else if (p.resize === 'resize') steps.push(transforms.resize([height, width]));
  return steps;
}

/** Geometric augmentations run before the normalisation; colour ones (on [0, 1] values) too. */
export function trainTransform(p: Preprocessing, augment: readonly TransformSpec[]): TransformSpec {
  return transforms.compose([...shapeSteps(p), ...augment, transforms.normalize(p.mean, p.std)]);
}

/** The test-time transform: channels, size and normalisation, no augmentation. */
export function testTransform(p: Preprocessing): TransformSpec {
  return trainTransform(p, []);
}

const channelName = (channels: number) =>
  channels === 1 ? 'grey' : channels === 3 ? 'RGB' : `${channels}-channel`;
const round = (values: readonly number[]) => values.map((v) => Number(v.toFixed(3))).join(', ');

/** One line: "RGB 32×32 → grey, padded to 32×32, normalised (mean 0.286, std 0.353)". */
export function describePreprocessing(p: Preprocessing, from: Shape3 = p.imageShape): string {
  const [channels, height, width] = p.inputShape;
  const parts: string[] = [];
  if (from[0] !== channels) parts.push(channelName(channels));
  if (from[1] !== p.imageShape[1] || from[2] !== p.imageShape[2])
    parts.push(`resized to ${p.imageShape[1]}×${p.imageShape[2]} (cover, centre crop)`);
  if (p.resize === 'pad') parts.push(`padded to ${height}×${width}`);
  if (p.resize === 'resize') parts.push(`resized to ${height}×${width} (bilinear)`);
  parts.push(`normalised (mean ${round(p.mean)}, std ${round(p.std)})`);
  return `${channelName(from[0])} ${from[2]}×${from[1]} → ${parts.join(', ')}`;
}

/** The samples of `dataset` at `indices`, those a streamed dataset cannot read left out. */
export async function readSamples(dataset: Dataset, indices: Int32Array): Promise<Float32Array[]> {
  if (dataset.fetch === undefined) return Array.from(indices, (i) => dataset.get(i).image);
  return (await dataset.fetch(indices)).flatMap((item) => ('skipped' in item ? [] : [item.image]));
}

/** Indices of up to `count` samples evenly spaced through `length`. */
export function evenlySpaced(length: number, count: number): Int32Array {
  const n = Math.min(length, count);
  return Int32Array.from({ length: n }, (_, k) => Math.floor((k * length) / n));
}

/**
 * Per-channel mean and standard deviation of up to `count` training images evenly spaced through `dataset`, after
 * the channel rule to `channels`.
 */
export async function channelStatistics(
  dataset: Dataset,
  channels: number,
  count = 1000,
): Promise<{ mean: number[]; std: number[] }> {
  const convert = transforms.makeTransform(transforms.convertChannels(channels));
  const [c, h, w] = dataset.shape;
  const sums = new Float64Array(channels);
  const squares = new Float64Array(channels);
  let pixels = 0;
  for (const values of await readSamples(dataset, evenlySpaced(dataset.length, count))) {
    const image =
      c === channels
        ? values
        : convert({ data: values, channels: c, height: h, width: w }, new Generator(0))[0].data;
    const plane = h * w;
    for (let k = 0; k < channels; k++) {
      for (let i = k * plane; i < (k + 1) * plane; i++) {
        sums[k] += image[i];
        squares[k] += image[i] * image[i];
      }
    }
    pixels += plane;
  }
  if (pixels === 0)
    throw new ValueError(
      `the training set (${dataset.length} images): no image could be read for its statistics`,
    );
  const mean = Array.from(sums, (s) => s / pixels);
  // A constant channel (blank test data) would divide by zero: 1 leaves it centred and unscaled.
  const std = Array.from(squares, (s, k) => Math.sqrt(Math.max(0, s / pixels - mean[k] ** 2)) || 1);
  return { mean, std };
}
