import { readFileSync } from 'node:fs';

/** A tensor as the fixture scripts in scripts/fixtures/ write it: row-major values and their shape. */
export interface FixtureArray {
  shape: number[];
  data: number[];
  dtype?: 'int32';
}

/**
 * Reads a fixture from test/fixtures/. Compiled tests run from dist/test/pytorch/, so the repository root is
 * three levels up from this file either way (test/pytorch/ → ../../).
 */
export function loadFixture<T>(name: string): T {
  const here = new URL('.', import.meta.url).pathname;
  const relative = here.includes('/dist/test/') ? '../../../test/fixtures/' : '../fixtures/';
  return JSON.parse(readFileSync(new URL(relative + name, import.meta.url), 'utf8')) as T;
}

/**
 * Elementwise closeness with a floor of 1 on the scale: |actual − expected| ≤ tolerance · max(1, |expected|).
 * Relative for values above 1 in magnitude, absolute below, so float32 round-off in near-zero gradients passes
 * while any real error in a value of ordinary size fails. Returns a message naming the worst element, or null.
 */
export function mismatch(
  actual: ArrayLike<number>,
  actualShape: readonly number[],
  expected: FixtureArray,
  tolerance: number,
): string | null {
  if (actualShape.join(',') !== expected.shape.join(',')) {
    return `shape [${actualShape.join(', ')}], expected [${expected.shape.join(', ')}]`;
  }
  if (actual.length !== expected.data.length)
    return `${actual.length} values, expected ${expected.data.length}`;
  let worst = -1;
  let worstRatio = 0;
  let failures = 0;
  for (let i = 0; i < actual.length; i++) {
    const b = expected.data[i];
    const error = Math.abs(actual[i] - b);
    const ratio = error / (tolerance * Math.max(1, Math.abs(b)));
    // A NaN in `actual` makes the ratio NaN: count it as a failure, not a pass.
    if (!(ratio <= 1)) failures++;
    if (!(ratio <= worstRatio)) {
      worstRatio = ratio;
      worst = i;
    }
  }
  if (failures === 0) return null;
  return (
    `${failures} of ${actual.length} values differ beyond ${tolerance}·max(1, |expected|); ` +
    `worst at flat index ${worst}: ${actual[worst]} vs ${expected.data[worst]}`
  );
}
