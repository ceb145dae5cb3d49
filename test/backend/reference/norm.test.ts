import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { LrnAttrs } from '../../../src/backend/backend.js';
import {
  batchNormBackward,
  batchNormInference,
  batchNormTraining,
  lrn,
  lrnBackward,
} from '../../../src/backend/reference/norm.js';
import { ShapeError } from '../../../src/errors.js';
import { assertClose, checkGradient, generator, randomArray } from './helpers.js';

function size(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Index of element (n, c, s) of an [N, C, ...] array with `inner` values per channel. */
function at(shape: readonly number[], n: number, c: number, s: number): number {
  return (n * shape[1] + c) * size(shape.slice(2)) + s;
}

/**
 * PyTorch's construction spelled out: square, zero-pad the channel axis by size/2 before and (size − 1)/2
 * after, average `size` consecutive channels, then b = a / (k + alpha · average)^beta.
 */
function naiveLrn(
  x: Float32Array,
  shape: number[],
  { size: window, alpha, beta, k }: LrnAttrs,
): Float64Array {
  const [batch, channels] = shape;
  const inner = size(shape.slice(2));
  const before = Math.floor(window / 2);
  const after = Math.floor((window - 1) / 2);
  const y = new Float64Array(x.length);
  for (let n = 0; n < batch; n++) {
    for (let s = 0; s < inner; s++) {
      const padded = new Array<number>(before + channels + after).fill(0);
      for (let c = 0; c < channels; c++) padded[before + c] = x[at(shape, n, c, s)] ** 2;
      for (let c = 0; c < channels; c++) {
        let average = 0;
        for (let t = 0; t < window; t++) average += padded[c + t] / window;
        y[at(shape, n, c, s)] = x[at(shape, n, c, s)] / (k + alpha * average) ** beta;
      }
    }
  }
  return y;
}

const lrnCases: { shape: number[]; attrs: LrnAttrs }[] = [
  { shape: [2, 7, 3, 2], attrs: { size: 5, alpha: 1e-4 * 400, beta: 0.75, k: 2 } },
  { shape: [1, 4, 2, 3], attrs: { size: 2, alpha: 0.5, beta: 0.6, k: 1 } },
  { shape: [3, 5], attrs: { size: 3, alpha: 0.8, beta: 0.75, k: 1.5 } },
  { shape: [2, 3, 3, 1], attrs: { size: 1, alpha: 0.3, beta: 1.2, k: 0.5 } },
  { shape: [1, 4, 3, 3], attrs: { size: 9, alpha: 2, beta: 0.75, k: 1 } },
];

test('lrn reproduces PyTorch 1.13 values, odd and even window', () => {
  const x = Float32Array.from([1, 2, 3, 4, 5, 6]);
  const odd = lrn(x, [1, 6, 1, 1], { size: 3, alpha: 0.3, beta: 0.75, k: 2 });
  const even = lrn(x, [1, 6, 1, 1], { size: 4, alpha: 0.3, beta: 0.75, k: 2 });
  assertClose(odd, [0.50297338, 0.79876822, 0.91090733, 0.92947239, 0.90968531, 1.24964738], 1e-6, 'size 3');
  assertClose(even, [0.52269977, 0.86657286, 1.01351357, 1.03691566, 1.00885201, 1.28862321], 1e-6, 'size 4');
});

test('lrn matches the padded-average construction', () => {
  const random = generator(31);
  for (const { shape, attrs } of lrnCases) {
    const x = randomArray(random, size(shape)).map((v) => 3 * v);
    assertClose(lrn(x, shape, attrs), naiveLrn(x, shape, attrs), 1e-6, `lrn ${shape} size ${attrs.size}`);
  }
});

test('lrnBackward matches finite differences of the forward', () => {
  const random = generator(37);
  for (const { shape, attrs } of lrnCases) {
    const x = randomArray(random, size(shape)).map((v) => 3 * v);
    const dy = randomArray(random, x.length);
    const dx = lrnBackward(x, dy, shape, attrs);
    checkGradient((v) => lrn(v, shape, attrs), x, dy, dx, `lrnBackward ${shape} size ${attrs.size}`);
  }
});

const batchNormShapes = [
  [4, 3, 2, 5],
  [6, 4],
  [1, 2, 3, 3],
  [3, 2, 1, 1],
];

/** Mean and biased variance of one channel, from the list of its values. */
function channelValues(x: Float32Array, shape: number[], c: number): number[] {
  const values: number[] = [];
  for (let n = 0; n < shape[0]; n++) {
    for (let s = 0; s < size(shape.slice(2)); s++) values.push(x[at(shape, n, c, s)]);
  }
  return values;
}

test('batchNormTraining normalises with the biased batch statistics', () => {
  const random = generator(41);
  for (const shape of batchNormShapes) {
    const channels = shape[1];
    const x = randomArray(random, size(shape)).map((v) => 5 + 2 * v);
    const gamma = randomArray(random, channels);
    const beta = randomArray(random, channels);
    const eps = 1e-5;
    const { y, mean, variance } = batchNormTraining(x, shape, gamma, beta, eps);
    const expectedY = new Float64Array(x.length);
    for (let c = 0; c < channels; c++) {
      const values = channelValues(x, shape, c);
      const mu = values.reduce((a, b) => a + b, 0) / values.length;
      const sigma2 = values.reduce((a, b) => a + (b - mu) ** 2, 0) / values.length;
      assertClose([mean[c]], [mu], 1e-6, `${shape}: mean ${c}`);
      assertClose([variance[c]], [sigma2], 1e-5, `${shape}: variance ${c}`);
      for (let n = 0; n < shape[0]; n++) {
        for (let s = 0; s < size(shape.slice(2)); s++) {
          const i = at(shape, n, c, s);
          expectedY[i] = ((x[i] - mu) / Math.sqrt(sigma2 + eps)) * gamma[c] + beta[c];
        }
      }
    }
    assertClose(y, expectedY, 1e-5, `${shape}: y`);
  }
});

test('batchNormTraining by hand, and its statistics stay accurate far from zero', () => {
  const { y, mean, variance } = batchNormTraining(
    Float32Array.from([1, 2, 3, 4]),
    [4, 1],
    Float32Array.from([1]),
    Float32Array.from([0]),
    0,
  );
  assertClose(
    y,
    [-1.5, -0.5, 0.5, 1.5].map((v) => v / Math.sqrt(1.25)),
    1e-6,
    'y',
  );
  assert.deepEqual([...mean, ...variance], [2.5, 1.25]);
  // A one-pass E[x²] − E[x]² in float32 loses this variance entirely.
  const offset = Float32Array.from({ length: 1000 }, (_, i) => 10000 + (i % 2 === 0 ? 0.5 : -0.5));
  const stats = batchNormTraining(offset, [1000, 1], Float32Array.from([1]), Float32Array.from([0]), 0);
  assertClose(stats.variance, [0.25], 1e-6, 'variance of offset data');
});

test('batchNormInference applies the given statistics', () => {
  const random = generator(43);
  const shape = [2, 3, 2, 2];
  const x = randomArray(random, size(shape));
  const gamma = Float32Array.from([1, 2, -1]);
  const beta = Float32Array.from([0, 0.5, 1]);
  const mean = Float32Array.from([0.1, -0.2, 0.3]);
  const variance = Float32Array.from([1, 4, 0.25]);
  const y = batchNormInference(x, shape, gamma, beta, mean, variance, 0);
  const expected = Float64Array.from(x, (v, i) => {
    const c = Math.floor(i / 4) % 3;
    return ((v - mean[c]) / Math.sqrt(variance[c])) * gamma[c] + beta[c];
  });
  assertClose(y, expected, 1e-6, 'inference');
  assert.throws(() => batchNormInference(x, shape, gamma, beta, mean, variance.subarray(1), 0), ShapeError);
  assert.throws(() => batchNormTraining(x, [24], gamma, beta, 0), ShapeError);
});

test('batchNormBackward matches finite differences through the batch statistics', () => {
  const random = generator(47);
  for (const shape of batchNormShapes) {
    const channels = shape[1];
    const x = randomArray(random, size(shape)).map((v) => 1 + 2 * v);
    const gamma = randomArray(random, channels);
    const beta = randomArray(random, channels);
    const eps = 1e-3;
    const { y, mean, variance } = batchNormTraining(x, shape, gamma, beta, eps);
    const dy = randomArray(random, y.length);
    const { dx, dgamma, dbeta } = batchNormBackward(x, dy, shape, gamma, mean, variance, eps);
    checkGradient((v) => batchNormTraining(v, shape, gamma, beta, eps).y, x, dy, dx, `${shape}: dx`);
    checkGradient((v) => batchNormTraining(x, shape, v, beta, eps).y, gamma, dy, dgamma, `${shape}: dgamma`);
    checkGradient((v) => batchNormTraining(x, shape, gamma, v, eps).y, beta, dy, dbeta, `${shape}: dbeta`);
  }
});
