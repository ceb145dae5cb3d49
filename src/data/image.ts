import { ShapeError, ValueError } from '../errors.js';

/**
 * One image as transforms see it: float32 values in channel-major (CHW) order with its shape beside them.
 * Transforms never change an image in place; each returns a new one (or the same object when it is a no-op).
 */
export interface ChwImage {
  readonly data: Float32Array;
  readonly channels: number;
  readonly height: number;
  readonly width: number;
}

/** Wraps values as an image, checking that they fill the shape. */
export function chwImage(data: Float32Array, channels: number, height: number, width: number): ChwImage {
  for (const [name, value] of [
    ['channels', channels],
    ['height', height],
    ['width', width],
  ] as const) {
    if (!Number.isInteger(value) || value < 0) {
      throw new ValueError(`image ${name} must be a non-negative integer, got ${value}`);
    }
  }
  if (data.length !== channels * height * width) {
    throw new ShapeError(
      `image: ${data.length} values do not fill shape [${channels}, ${height}, ${width}] (${channels * height * width})`,
    );
  }
  return { data, channels, height, width };
}

/** A new image of the given shape, every value `fill` (one value, or one per channel). */
export function filledImage(
  channels: number,
  height: number,
  width: number,
  fill: number | readonly number[] = 0,
): ChwImage {
  const data = new Float32Array(channels * height * width);
  const perChannel = channelValues(fill, channels, 'fill');
  const plane = height * width;
  for (let c = 0; c < channels; c++)
    if (perChannel[c] !== 0) data.fill(perChannel[c], c * plane, (c + 1) * plane);
  return { data, channels, height, width };
}

/** One value per channel from a single value or a list of `channels` (or one) values. */
export function channelValues(values: number | readonly number[], channels: number, what: string): number[] {
  if (typeof values === 'number') return new Array<number>(channels).fill(values);
  if (values.length === 1) return new Array<number>(channels).fill(values[0]);
  if (values.length !== channels) {
    throw new ShapeError(`${what}: ${values.length} values for an image with ${channels} channels`);
  }
  return [...values];
}

export function shapeOf(image: ChwImage): [number, number, number] {
  return [image.channels, image.height, image.width];
}
