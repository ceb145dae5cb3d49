import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ShapeError, ValueError } from '../../src/errors.js';
import { batchNorm, localResponseNorm, mean, ones, tensor, zeros } from '../../src/tensor/index.js';
import { assertClose, assertTensor, gradcheck, uniformTensor } from './gradcheck.js';

// alpha 1 and k 1 rather than AlexNet's 1e-4 and 2, so the cross-channel term of the gradient is O(1).
for (const size of [1, 3, 4, 5]) {
  test(`localResponseNorm gradient, size ${size}`, () => {
    gradcheck(
      `localResponseNorm size ${size}`,
      (x) => localResponseNorm(x, size, { alpha: 1, beta: 0.75, k: 1 }),
      [uniformTensor([2, 6, 2, 2], 1, -1.5, 1.5)],
    );
  });
}

test('localResponseNorm gradient on [N, C, L] input with beta 0.5, k 2', () => {
  gradcheck('localResponseNorm 3-D', (x) => localResponseNorm(x, 3, { alpha: 2, beta: 0.5, k: 2 }), [
    uniformTensor([2, 4, 3], 2),
  ]);
});

test('localResponseNorm values by hand: PyTorch averages over size even at the edges', () => {
  // Channels 1, 2, 3 at one position, size 3, alpha 3, beta 1, k 1: b_c = a_c / (1 + Σ_window a²).
  const x = tensor([1, 2, 3], [1, 3, 1, 1]);
  const y = localResponseNorm(x, 3, { alpha: 3, beta: 1, k: 1 });
  assertTensor(y, [1, 3, 1, 1], [1 / (1 + 1 + 4), 2 / (1 + 1 + 4 + 9), 3 / (1 + 4 + 9)], 'lrn');
  // Defaults are PyTorch's: alpha 1e-4, beta 0.75, k 1.
  const d = localResponseNorm(tensor([2], [1, 1, 1, 1]), 5);
  assertClose(d.data(), [2 / (1 + (1e-4 / 5) * 4) ** 0.75], 'lrn defaults', 1e-6);
  assert.throws(() => localResponseNorm(zeros([2, 3]), 3), ShapeError);
  assert.throws(() => localResponseNorm(zeros([1, 3, 2, 2]), 0), ValueError);
});

test('batchNorm gradient in training, through the batch statistics, NCHW', () => {
  const inputs = [
    uniformTensor([3, 2, 2, 3], 3, -2, 2),
    uniformTensor([2], 4, 0.5, 1.5),
    uniformTensor([2], 5),
  ];
  gradcheck(
    'batchNorm training NCHW',
    (x, g, b) => batchNorm(x, g, b, null, null, { training: true }),
    inputs,
  );
});

test('batchNorm gradient in training on [N, C] input', () => {
  const inputs = [uniformTensor([5, 3], 6, -2, 2), uniformTensor([3], 7, 0.5, 1.5), uniformTensor([3], 8)];
  gradcheck(
    'batchNorm training [N, C]',
    (x, g, b) => batchNorm(x, g, b, null, null, { training: true }),
    inputs,
  );
});

test('batchNorm gradient in evaluation, with running statistics', () => {
  const runningMean = uniformTensor([2], 9);
  const runningVar = uniformTensor([2], 10, 0.5, 2);
  const inputs = [
    uniformTensor([2, 2, 2, 3], 11, -2, 2),
    uniformTensor([2], 12, 0.5, 1.5),
    uniformTensor([2], 13),
  ];
  gradcheck(
    'batchNorm evaluation',
    (x, g, b) => batchNorm(x, g, b, runningMean, runningVar, { training: false }),
    inputs,
  );
  gradcheck(
    'batchNorm evaluation [N, C]',
    (x, g, b) => batchNorm(x, g, b, runningMean, runningVar, { training: false }),
    [uniformTensor([3, 2], 14), inputs[1], inputs[2]],
  );
});

test('batchNorm values and running statistics by hand', () => {
  // One channel, values 1..4: mean 2.5, biased variance 1.25, unbiased 5/3.
  const x = tensor([1, 2, 3, 4], [4, 1]);
  const runningMean = zeros([1]);
  const runningVar = ones([1]);
  const y = batchNorm(x, tensor([2]), tensor([1]), runningMean, runningVar, { training: true, eps: 0 });
  const std = Math.sqrt(1.25);
  assertTensor(
    y,
    [4, 1],
    [1, 2, 3, 4].map((v) => (2 * (v - 2.5)) / std + 1),
    'normalised',
  );
  assertTensor(runningMean, [1], [0.25], 'running mean = 0.9·0 + 0.1·2.5');
  assertTensor(runningVar, [1], [0.9 + 0.1 * (5 / 3)], 'running variance uses the unbiased estimate');
  // Evaluation uses the running statistics, not the batch's.
  const evaluated = batchNorm(x, tensor([1]), tensor([0]), tensor([2]), tensor([4]), {
    training: false,
    eps: 0,
  });
  assertTensor(evaluated, [4, 1], [-0.5, 0, 0.5, 1], 'evaluation');
  // Training output has zero mean per channel.
  const nchw = batchNorm(uniformTensor([4, 3, 2, 2], 15), ones([3]), zeros([3]), null, null, {
    training: true,
  });
  assertClose(mean(nchw, [0, 2, 3]).data(), [0, 0, 0], 'per-channel mean', 1e-5);
});

test('batchNorm misuse names the shapes', () => {
  const x = zeros([2, 3, 4, 4]);
  assert.throws(
    () => batchNorm(x, ones([4]), zeros([4]), null, null, { training: true }),
    (e: unknown) => e instanceof ShapeError && /\[2, 3, 4, 4\]/.test(e.message) && /\[4\]/.test(e.message),
  );
  assert.throws(
    () => batchNorm(zeros([2, 3, 4]), ones([3]), zeros([3]), null, null, { training: true }),
    ShapeError,
  );
  assert.throws(
    () => batchNorm(zeros([1, 3]), ones([3]), zeros([3]), null, null, { training: true }),
    ValueError,
  );
  assert.throws(() => batchNorm(x, ones([3]), zeros([3]), null, null, { training: false }), ValueError);
});
