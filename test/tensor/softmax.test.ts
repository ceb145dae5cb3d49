import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ValueError } from '../../src/errors.js';
import { exp, logSoftmax, softmax, sum, tensor } from '../../src/tensor/index.js';
import { assertClose, assertTensor, gradcheck, uniformTensor } from './gradcheck.js';

for (const axis of [0, 1, -1]) {
  test(`softmax gradient along axis ${axis}`, () => {
    gradcheck(`softmax axis ${axis}`, (x) => softmax(x, axis), [uniformTensor([2, 3, 4], 1, -2, 2)]);
  });
  test(`logSoftmax gradient along axis ${axis}`, () => {
    gradcheck(`logSoftmax axis ${axis}`, (x) => logSoftmax(x, axis), [uniformTensor([2, 3, 4], 2, -2, 2)]);
  });
}

test('softmax values by hand, stable for large logits', () => {
  const e = Math.exp(1);
  assertTensor(
    softmax(
      tensor([
        [0, 1],
        [2, 2],
      ]),
    ),
    [2, 2],
    [1 / (1 + e), e / (1 + e), 0.5, 0.5],
    'softmax rows',
  );
  assertTensor(
    softmax(
      tensor([
        [0, 1],
        [2, 2],
      ]),
      0,
    ),
    [2, 2],
    [1 / (1 + e * e), 1 / (1 + e), (e * e) / (1 + e * e), e / (1 + e)],
    'softmax columns',
  );
  assertTensor(softmax(tensor([1000, 1000])), [2], [0.5, 0.5], 'no overflow');
  assertTensor(logSoftmax(tensor([1000, 1000])), [2], [-Math.LN2, -Math.LN2], 'log-softmax, no overflow');
  const x = uniformTensor([3, 5], 3, -3, 3);
  assertClose(exp(logSoftmax(x)).data(), softmax(x).data(), 'exp ∘ logSoftmax = softmax', 1e-6);
  assertClose(sum(softmax(x), 1).data(), [1, 1, 1], 'rows sum to 1', 1e-6);
  assert.throws(() => softmax(x, 2), ValueError);
});
