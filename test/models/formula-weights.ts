// The weight formula of scripts/fixtures/inception_fixtures.py, so a test and PyTorch run one network on the same
// weights without committing them: every value of state_dict entry `key` at flat index i draws
// u = (lowbias32(i XOR fnv1a32(key)) >>> 8) / 2^24, then maps it by the entry's kind (see the script). Both sides
// compute in float64 and round once to float32, so the values are bitwise equal.
import type { Module } from '../../src/nn/index.js';
import { mul, sum, tensor, type Tensor } from '../../src/tensor/index.js';
import { mismatch } from '../pytorch/helpers.js';

export function fnv1a32(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193) >>> 0;
  return hash;
}

export function lowbias32(value: number): number {
  let x = value >>> 0;
  x ^= x >>> 16;
  x = Math.imul(x, 0x7feb352d);
  x ^= x >>> 15;
  x = Math.imul(x, 0x846ca68b);
  x ^= x >>> 16;
  return x >>> 0;
}

/** The formula's values for `key` at `shape`. */
export function formulaValues(key: string, shape: readonly number[]): Float32Array {
  const count = shape.reduce((a, b) => a * b, 1);
  const seed = fnv1a32(key);
  const fanIn = shape.slice(1).reduce((a, b) => a * b, 1);
  const scale = Math.sqrt(6 / fanIn);
  const kind =
    key.endsWith('running_var') || key.endsWith('bn.weight')
      ? 'positive'
      : key.endsWith('bn.bias') || key.endsWith('running_mean')
        ? 'shift'
        : key.endsWith('bias')
          ? 'bias'
          : 'weight';
  const values = new Float32Array(count);
  for (let i = 0; i < count; i++) {
    const u = (lowbias32(i ^ seed) >>> 8) / 16777216;
    values[i] =
      kind === 'positive'
        ? 0.5 + u
        : kind === 'shift'
          ? 0.2 * (2 * u - 1)
          : kind === 'bias'
            ? 0.1 * (2 * u - 1)
            : (2 * u - 1) * scale;
  }
  return values;
}

/** A tensor of the formula's values. */
export function formulaTensor(key: string, shape: readonly number[]): Tensor {
  return tensor(formulaValues(key, shape), [...shape]);
}

/** Sets every parameter and running statistic of `model` by the formula (step counters are left alone). */
export function setFormulaWeights(model: Module): void {
  const state = new Map<string, Tensor>();
  for (const [key, value] of model.stateDict()) {
    if (!key.endsWith('num_batches_tracked')) state.set(key, formulaTensor(key, value.shape));
  }
  const { missingKeys, unexpectedKeys } = model.loadStateDict(state, { strict: false });
  if (unexpectedKeys.length > 0 || missingKeys.some((k) => !k.endsWith('num_batches_tracked')))
    throw new Error(`formula weights: missing ${missingKeys.join()}, unexpected ${unexpectedKeys.join()}`);
}

/** √(Σ v²) in float64. */
export function norm(values: ArrayLike<number>): number {
  let squares = 0;
  for (let i = 0; i < values.length; i++) squares += values[i] * values[i];
  return Math.sqrt(squares);
}

/** The fixture's record of one forward and backward pass (inception_fixtures.py's forward_backward). */
export interface ForwardBackward {
  inputShape: number[];
  output: { shape: number[]; data: number[] };
  inputGradNorm: number;
  inputGradHead: { shape: number[]; data: number[] };
  gradNorms: Record<string, number>;
}

function relativeError(actual: number, expected: number): number {
  return Math.abs(actual - expected) / Math.abs(expected);
}

/**
 * Runs `model` in evaluation mode on the formula's weights and input as the fixture script did, back-propagates
 * sum(output · r), and lists every difference from the fixture beyond `tolerance` (see mismatch; norms relative),
 * gradients beyond `gradientTolerance`.
 */
export function forwardBackwardMismatches(
  model: Module,
  expected: ForwardBackward,
  tolerance: number,
  gradientTolerance = tolerance,
): string[] {
  setFormulaWeights(model);
  model.eval();
  model.zeroGrad();
  const x = formulaTensor('input', expected.inputShape).requireGrad();
  const output = model.call(x);
  const problems: string[] = [];
  const outputMismatch = mismatch(output.data(), output.shape, expected.output, tolerance);
  if (outputMismatch !== null) problems.push(`output: ${outputMismatch}`);
  sum(mul(output, formulaTensor('r', output.shape))).backward();
  const inputGrad = x.grad!.data();
  if (!(relativeError(norm(inputGrad), expected.inputGradNorm) <= gradientTolerance))
    problems.push(`input gradient norm ${norm(inputGrad)}, expected ${expected.inputGradNorm}`);
  const head = inputGrad.slice(0, expected.inputGradHead.data.length);
  const headMismatch = mismatch(head, [head.length], expected.inputGradHead, gradientTolerance);
  if (headMismatch !== null) problems.push(`input gradient head: ${headMismatch}`);
  for (const [name, expectedNorm] of Object.entries(expected.gradNorms)) {
    const grad = model.getParameter(name)?.grad ?? null;
    const actual = grad === null ? NaN : norm(grad.data());
    if (!(relativeError(actual, expectedNorm) <= gradientTolerance))
      problems.push(`${name}: gradient norm ${actual}, expected ${expectedNorm}`);
  }
  model.zeroGrad();
  return problems;
}
