import assert from 'node:assert/strict';

/** mulberry32: a tiny seeded generator, so every randomised case is reproducible. */
export function generator(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Uniform values in [−1, 1). */
export function randomArray(random: () => number, size: number): Float32Array {
  return Float32Array.from({ length: size }, () => 2 * random() - 1);
}

/** |actual − expected| ≤ tolerance · (1 + |expected|) everywhere, naming the first element that is not. */
export function assertClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  tolerance: number,
  what: string,
): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < actual.length; i++) {
    const error = Math.abs(actual[i] - expected[i]);
    if (!(error <= tolerance * (1 + Math.abs(expected[i])))) {
      assert.fail(`${what}: element ${i} is ${actual[i]}, expected ${expected[i]}`);
    }
  }
}

function weightedSum(y: Float32Array, dy: Float32Array): number {
  let sum = 0;
  for (let i = 0; i < y.length; i++) sum += y[i] * dy[i];
  return sum;
}

/**
 * Checks `analytic` = d(Σ dy · forward(x))/dx by central differences with step 1e-3 on up to `samples`
 * coordinates of x, summed in float64. Relative tolerance, with a floor of a tenth of the gradient's RMS so
 * that near-zero entries are judged on the gradient's own scale.
 */
export function checkGradient(
  forward: (x: Float32Array) => Float32Array,
  x: Float32Array,
  dy: Float32Array,
  analytic: Float32Array,
  what: string,
  options: { samples?: number; tolerance?: number; seed?: number } = {},
): void {
  const { samples = 40, tolerance = 1e-2, seed = 1 } = options;
  assert.equal(analytic.length, x.length, `${what}: gradient length`);
  let squares = 0;
  for (const g of analytic) squares += g * g;
  const floor = 0.1 * Math.sqrt(squares / Math.max(1, analytic.length));
  const random = generator(seed);
  const indices =
    x.length <= samples
      ? Array.from({ length: x.length }, (_, i) => i)
      : Array.from({ length: samples }, () => Math.floor(random() * x.length));
  for (const i of indices) {
    const plus = x.slice();
    const minus = x.slice();
    plus[i] += 1e-3;
    minus[i] -= 1e-3;
    // The step actually taken after rounding to float32.
    const step = plus[i] - minus[i];
    const numeric = (weightedSum(forward(plus), dy) - weightedSum(forward(minus), dy)) / step;
    const scale = Math.max(Math.abs(numeric), Math.abs(analytic[i]), floor, 1e-6);
    if (!(Math.abs(numeric - analytic[i]) <= tolerance * scale)) {
      assert.fail(`${what}: d/dx[${i}] is ${analytic[i]} analytically but ${numeric} by finite differences`);
    }
  }
}
