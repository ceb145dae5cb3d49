import assert from 'node:assert/strict';
import type { Shape, TypedArray } from '../../src/backend/backend.js';
import { Generator, Tensor, mul, noGrad, scope, sum, tensor } from '../../src/tensor/index.js';
import { unreleased } from '../memory.js';

/**
 * Finite-difference gradient checks. For an op f and inputs x₀…xₙ, the analytic gradient of
 * L = Σ f(x)·r (r a fixed random tensor, so every output element counts) is compared with central
 * differences (L(x + h·eᵢ) − L(x − h·eᵢ)) / 2h, L evaluated from float32 outputs summed in float64.
 *
 * Step and tolerance: with h = 1e-2 the truncation error is h²/6·|L'''| ≈ 2e-5·|L'''|, and float32 rounding of
 * the outputs (relative 6e-8 each, a few roundings per op) adds about √M·1e-7·|y|/2h ≈ 1e-4 for M ≈ 100
 * outputs of size ~1. The default bound |analytic − numeric| ≤ 1e-2·(1 + |numeric|) is two orders above both,
 * while the bugs gradient rules have (a wrong factor, sign, index or divisor) are O(1) errors. Tests choose
 * inputs whose gradients are O(1), so the absolute part of the bound cannot hide a wrong term.
 */
export interface GradcheckOptions {
  /** Central-difference step (default 1e-2); inputs must stay 2·step away from kinks. */
  step?: number;
  /** Bound on |analytic − numeric| / (1 + |numeric|) (default 1e-2). */
  tolerance?: number;
  /** Seed of the output weights r. */
  seed?: number;
  /** Indices of the inputs to check (default: every float32 input). Others are passed as constants. */
  check?: readonly number[];
  /** Also require that forward + backward leave the backend's live storages where they were (default true). */
  checkMemory?: boolean;
}

export interface GradcheckResult {
  /** Worst |analytic − numeric| / (1 + |numeric|) over every checked element. */
  worst: number;
}

export function gradcheck(
  op: string,
  f: (...inputs: Tensor[]) => Tensor,
  inputs: readonly Tensor[],
  options: GradcheckOptions = {},
): GradcheckResult {
  const step = options.step ?? 1e-2;
  const tolerance = options.tolerance ?? 1e-2;
  const checked = options.check ?? inputs.flatMap((t, i) => (t.dtype === 'float32' ? [i] : []));
  const values = inputs.map((t) => t.data());
  const make = (vals: readonly TypedArray[]) =>
    vals.map((v, i) => tensor(v, inputs[i].shape, { dtype: inputs[i].dtype }));

  const storagesBefore = unreleased();
  const { analytic, weights } = scope(() => {
    const leaves = make(values);
    for (const i of checked) leaves[i].requireGrad();
    const y = f(...leaves);
    assert.ok(y.requiresGrad, `${op}: the output does not require a gradient`);
    const weights = uniformValues(y.size, options.seed ?? 12345, -1, 1);
    sum(mul(y, tensor(weights, y.shape))).backward();
    const analytic = checked.map((i) => {
      const g = leaves[i].grad;
      assert.ok(g !== null, `${op}: input ${i} got no gradient`);
      assert.deepEqual(g.shape, leaves[i].shape, `${op}: gradient of input ${i} has the wrong shape`);
      const a = g.data();
      g.dispose();
      return a;
    });
    return { analytic, weights };
  });
  if (options.checkMemory ?? true) {
    assert.equal(unreleased(), storagesBefore, `${op}: forward and backward inside a scope leaked storages`);
  }

  const objective = (vals: readonly TypedArray[]): number =>
    noGrad(() =>
      scope(() => {
        const y = f(...make(vals)).data();
        let total = 0;
        for (let j = 0; j < y.length; j++) total += y[j] * weights[j];
        return total;
      }),
    );

  let worst = 0;
  let worstReport = '';
  checked.forEach((inputIndex, k) => {
    const x = values[inputIndex];
    for (let j = 0; j < x.length; j++) {
      const plus = values.slice();
      const minus = values.slice();
      plus[inputIndex] = x.slice();
      minus[inputIndex] = x.slice();
      plus[inputIndex][j] = x[j] + step;
      minus[inputIndex][j] = x[j] - step;
      // The step actually taken after rounding to float32.
      const taken = plus[inputIndex][j] - minus[inputIndex][j];
      const numeric = (objective(plus) - objective(minus)) / taken;
      const error = Math.abs(analytic[k][j] - numeric) / (1 + Math.abs(numeric));
      if (!(error <= worst)) {
        worst = Number.isNaN(error) ? Infinity : error;
        worstReport =
          `${op}: input ${inputIndex} ${formatIndex(inputs[inputIndex].shape, j)}: analytic ${analytic[k][j]}, ` +
          `numeric ${numeric} (error ${error.toExponential(2)} > ${tolerance})`;
      }
    }
  });
  if (worst > tolerance) assert.fail(worstReport);
  return { worst };
}

function formatIndex(shape: Shape, flat: number): string {
  const index = new Array<number>(shape.length);
  for (let d = shape.length - 1; d >= 0; d--) {
    index[d] = flat % shape[d];
    flat = Math.floor(flat / shape[d]);
  }
  return `element [${index.join(', ')}]`;
}

/** Uniform float32 values in [low, high) from a seeded generator. */
export function uniformValues(size: number, seed: number, low = -1, high = 1): Float32Array {
  const g = new Generator(seed);
  return Float32Array.from({ length: size }, () => low + (high - low) * g.uniform());
}

/** A float32 tensor of uniform values in [low, high). */
export function uniformTensor(shape: Shape, seed: number, low = -1, high = 1): Tensor {
  return tensor(
    uniformValues(
      shape.reduce((a, b) => a * b, 1),
      seed,
      low,
      high,
    ),
    shape,
  );
}

/** Uniform magnitudes in [margin, 1 + margin) with random signs: clear of a kink at 0. */
export function awayFromZero(shape: Shape, seed: number, margin = 0.1): Tensor {
  const g = new Generator(seed);
  const size = shape.reduce((a, b) => a * b, 1);
  return tensor(
    Float32Array.from({ length: size }, () => (g.uniform() < 0.5 ? -1 : 1) * (margin + g.uniform())),
    shape,
  );
}

/**
 * Distinct values a shuffled grid `spacing` apart, centred on 0: max, min and max pooling see no ties, and a
 * step below spacing/2 never reorders them.
 */
export function distinctTensor(shape: Shape, seed: number, spacing = 0.1): Tensor {
  const g = new Generator(seed);
  const size = shape.reduce((a, b) => a * b, 1);
  const values = Float32Array.from({ length: size }, (_, i) => (i - (size - 1) / 2) * spacing);
  for (let i = size - 1; i > 0; i--) {
    const j = g.int(i + 1);
    [values[i], values[j]] = [values[j], values[i]];
  }
  return tensor(values, shape);
}

/** |actual − expected| ≤ tolerance · (1 + |expected|) everywhere, naming the first element that is not. */
export function assertClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  what: string,
  tolerance = 1e-5,
): void {
  assert.equal(
    actual.length,
    expected.length,
    `${what}: length ${actual.length}, expected ${expected.length}`,
  );
  for (let i = 0; i < actual.length; i++) {
    if (!(Math.abs(actual[i] - expected[i]) <= tolerance * (1 + Math.abs(expected[i])))) {
      assert.fail(`${what}: element ${i} is ${actual[i]}, expected ${expected[i]}`);
    }
  }
}

/** Shape and values of a tensor against expectations. */
export function assertTensor(
  t: Tensor,
  shape: readonly number[],
  values: ArrayLike<number>,
  what: string,
  tolerance = 1e-5,
): void {
  assert.deepEqual(t.shape, shape, `${what}: shape`);
  assertClose(t.data(), values, what, tolerance);
}

/** Values on the grid offset + 0.1·k, k in [−10, 10]: two grids with offsets 0.05 apart never tie. */
export function gridTensor(shape: Shape, seed: number, offset = 0): Tensor {
  const g = new Generator(seed);
  const size = shape.reduce((a, b) => a * b, 1);
  return tensor(
    Float32Array.from({ length: size }, () => (g.int(21) - 10) * 0.1 + offset),
    shape,
  );
}
