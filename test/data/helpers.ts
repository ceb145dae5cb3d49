import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { ChwImage } from '../../src/data/image.js';
import { Generator } from '../../src/tensor/random.js';

/** An image from nested [c][y][x] values. */
export function image(values: number[][][]): ChwImage {
  const channels = values.length;
  const height = values[0].length;
  const width = values[0][0].length;
  return { data: Float32Array.from(values.flat(2)), channels, height, width };
}

/** [c][y][x] values of an image, for readable comparisons. */
export function nested(img: ChwImage): number[][][] {
  return Array.from({ length: img.channels }, (_, c) =>
    Array.from({ length: img.height }, (_, y) =>
      Array.from(img.data.subarray((c * img.height + y) * img.width, (c * img.height + y + 1) * img.width)),
    ),
  );
}

/** 0, 1, 2, … in CHW order. */
export function ramp(channels: number, height: number, width: number): ChwImage {
  const data = Float32Array.from({ length: channels * height * width }, (_, i) => i);
  return { data, channels, height, width };
}

export function assertClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  tolerance: number,
  what = '',
): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < actual.length; i++) {
    if (!(Math.abs(actual[i] - expected[i]) <= tolerance)) {
      assert.fail(`${what}: value ${i} is ${actual[i]}, expected ${expected[i]} (tolerance ${tolerance})`);
    }
  }
}

export function assertImage(
  actual: ChwImage,
  shape: number[],
  expected: ArrayLike<number>,
  tolerance = 0,
  what = '',
): void {
  assert.deepEqual([actual.channels, actual.height, actual.width], shape, `${what}: shape`);
  assertClose(actual.data, expected, tolerance, what);
}

/** A generator whose uniform() returns the given values in turn (to force offsets, angles, coin flips). */
export class ScriptedGenerator extends Generator {
  private position = 0;

  constructor(private readonly values: number[]) {
    super(0);
  }

  override uniform(): number {
    if (this.position >= this.values.length) throw new Error('ScriptedGenerator: ran out of values');
    return this.values[this.position++];
  }

  get used(): number {
    return this.position;
  }
}

export function fixtureJson<T>(name: string): T {
  return JSON.parse(
    readFileSync(new URL(`../../../test/fixtures/data/${name}`, import.meta.url), 'utf8'),
  ) as T;
}
