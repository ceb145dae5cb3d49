import { test } from 'node:test';
import assert from 'node:assert/strict';
import { softmax, softmaxBackward } from '../../../src/backend/reference/softmax.js';
import { ShapeError } from '../../../src/errors.js';
import { assertClose, checkGradient, generator, randomArray } from './helpers.js';

function size(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Each line along `axis` gathered through explicit strides, then exp(v) / Σ exp, in float64. */
function naiveSoftmax(x: Float32Array, shape: number[], axis: number, log: boolean): Float64Array {
  const a = axis < 0 ? axis + shape.length : axis;
  const stride = size(shape.slice(a + 1));
  const y = new Float64Array(x.length);
  for (let start = 0; start < x.length; start++) {
    // A line starts wherever the index along `axis` is 0.
    if (Math.floor(start / stride) % shape[a] !== 0) continue;
    const line = Array.from({ length: shape[a] }, (_, t) => start + t * stride);
    const total = line.reduce((sum, i) => sum + Math.exp(x[i]), 0);
    for (const i of line) y[i] = log ? x[i] - Math.log(total) : Math.exp(x[i]) / total;
  }
  return y;
}

const cases: { shape: number[]; axis: number }[] = [
  { shape: [4, 10], axis: 1 },
  { shape: [4, 10], axis: -1 },
  { shape: [3, 5], axis: 0 },
  { shape: [2, 3, 4, 5], axis: 1 },
  { shape: [2, 3, 4, 5], axis: 2 },
  { shape: [2, 3, 4, 5], axis: -4 },
  { shape: [7], axis: 0 },
  { shape: [3, 1, 2], axis: 1 },
];

test('softmax of [1, 2, 3] by hand, and shifted by 1000 without overflow', () => {
  const expected = [0.09003057317038046, 0.24472847105479764, 0.6652409557748219];
  assertClose(softmax(Float32Array.from([1, 2, 3]), [3], 0, false), expected, 1e-7, 'softmax');
  assertClose(softmax(Float32Array.from([1001, 1002, 1003]), [3], 0, false), expected, 1e-7, 'shifted');
  assertClose(
    softmax(Float32Array.from([-1e4, 0, 0]), [3], 0, true),
    [-1e4 - Math.LN2, -Math.LN2, -Math.LN2],
    1e-7,
    'log',
  );
});

test('softmax and log-softmax match the naive line-by-line version on every axis', () => {
  const random = generator(53);
  for (const { shape, axis } of cases) {
    const x = randomArray(random, size(shape)).map((v) => 4 * v);
    for (const log of [false, true]) {
      assertClose(
        softmax(x, shape, axis, log),
        naiveSoftmax(x, shape, axis, log),
        1e-6,
        `${shape} axis ${axis} log ${log}`,
      );
    }
  }
});

test('softmaxBackward matches finite differences of the forward', () => {
  const random = generator(59);
  for (const { shape, axis } of cases) {
    const x = randomArray(random, size(shape)).map((v) => 2 * v);
    const dy = randomArray(random, x.length);
    for (const log of [false, true]) {
      const y = softmax(x, shape, axis, log);
      const dx = softmaxBackward(y, dy, shape, axis, log);
      checkGradient((v) => softmax(v, shape, axis, log), x, dy, dx, `${shape} axis ${axis} log ${log}`);
    }
  }
});

test('softmax rejects an axis outside the shape', () => {
  assert.throws(() => softmax(new Float32Array(6), [2, 3], 2, false), ShapeError);
  assert.throws(
    () => softmaxBackward(new Float32Array(6), new Float32Array(6), [2, 3], -3, true),
    ShapeError,
  );
});
