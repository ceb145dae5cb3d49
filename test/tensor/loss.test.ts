import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ShapeError, ValueError } from '../../src/errors.js';
import { getBackend } from '../../src/backend/registry.js';
import {
  type Reduction,
  crossEntropy,
  logSoftmax,
  mseLoss,
  nllLoss,
  oneHot,
  tensor,
} from '../../src/tensor/index.js';
import { assertClose, assertTensor, gradcheck, uniformTensor } from './gradcheck.js';

const labels = () => tensor(new Int32Array([2, 0, 3]));

for (const reduction of ['mean', 'sum', 'none'] as Reduction[]) {
  for (const labelSmoothing of [0, 0.1]) {
    test(`crossEntropy gradient, reduction ${reduction}, labelSmoothing ${labelSmoothing}`, () => {
      gradcheck(
        `crossEntropy ${reduction} ε=${labelSmoothing}`,
        (logits, y) => crossEntropy(logits, y, { reduction, labelSmoothing }),
        [uniformTensor([3, 4], 1, -2, 2), labels()],
      );
    });
  }
  test(`nllLoss gradient, reduction ${reduction}`, () => {
    gradcheck(`nllLoss ${reduction}`, (logp, y) => nllLoss(logp, y, reduction), [
      uniformTensor([3, 4], 2, -3, 0),
      labels(),
    ]);
  });
  test(`mseLoss gradient, reduction ${reduction}, both arguments`, () => {
    gradcheck(`mseLoss ${reduction}`, (p, t) => mseLoss(p, t, reduction), [
      uniformTensor([2, 3], 3),
      uniformTensor([2, 3], 4),
    ]);
  });
}

// The reference backend's log-softmax is exact to float32 rounding; oneDNN's (the native backend, CONVNETS_BACKEND=native)
// approximates exp and log to about 3e-6, within that backend's contract of 1e-4 relative.
const logTolerance = getBackend().name === 'reference' ? 1e-6 : 1e-4;

test('loss values by hand', () => {
  const logits = tensor([
    [0, 0],
    [1, 3],
  ]);
  const y = tensor(new Int32Array([0, 1]));
  const second = -(3 - Math.log(Math.exp(1) + Math.exp(3)));
  assertTensor(
    crossEntropy(logits, y, { reduction: 'none' }),
    [2],
    [Math.LN2, second],
    'cross-entropy per example',
  );
  assertTensor(crossEntropy(logits, y), [], [(Math.LN2 + second) / 2], 'mean cross-entropy');
  assertTensor(
    crossEntropy(logits, y, { reduction: 'sum' }),
    [],
    [Math.LN2 + second],
    'summed cross-entropy',
  );
  // Label smoothing ε: target (1 − ε)·onehot + ε/C, so the loss is (1 − ε)·CE + ε·mean over classes of −log p.
  const eps = 0.2;
  const logp1 = [1 - Math.log(Math.exp(1) + Math.exp(3)), 3 - Math.log(Math.exp(1) + Math.exp(3))];
  const smoothed = (1 - eps) * second - (eps / 2) * (logp1[0] + logp1[1]);
  assertClose(
    crossEntropy(logits, y, { reduction: 'none', labelSmoothing: eps }).data(),
    [Math.LN2, smoothed],
    'label smoothing',
    logTolerance,
  );
  // nllLoss of logSoftmax is cross-entropy.
  assertClose(
    nllLoss(logSoftmax(logits, 1), y, 'none').data(),
    [Math.LN2, second],
    'nll ∘ logSoftmax',
    logTolerance,
  );
  assertTensor(
    nllLoss(
      tensor([
        [-1, -2],
        [-3, -4],
      ]),
      y,
    ),
    [],
    [2.5],
    'nll mean',
  );
  assertTensor(mseLoss(tensor([1, 2, 3]), tensor([1, 4, 0])), [], [13 / 3], 'mse mean');
  assertTensor(mseLoss(tensor([1, 2, 3]), tensor([1, 4, 0]), 'sum'), [], [13], 'mse sum');
  assertTensor(mseLoss(tensor([1, 2, 3]), tensor([1, 4, 0]), 'none'), [3], [0, 4, 9], 'mse none');
  assertTensor(oneHot(tensor(new Int32Array([1, 0, 2])), 3), [3, 3], [0, 1, 0, 1, 0, 0, 0, 0, 1], 'oneHot');
});

test('bad labels in crossEntropy are refused with the op, label and range', () => {
  const logits = uniformTensor([3, 4], 5);
  assert.throws(
    () => crossEntropy(logits, tensor(new Int32Array([0, 4, 1]))),
    (e: unknown) =>
      e instanceof ValueError &&
      /crossEntropy/.test(e.message) &&
      /label 4 at index 1/.test(e.message) &&
      /\[0, 4\)/.test(e.message),
  );
  assert.throws(
    () => crossEntropy(logits, tensor(new Int32Array([0, -1, 1]))),
    (e: unknown) => e instanceof ValueError && /label -1/.test(e.message),
  );
  // Float labels: the usual mistake of passing one-hot or float class indices.
  assert.throws(
    () => crossEntropy(logits, tensor([0, 1, 2])),
    (e: unknown) => e instanceof ValueError && /crossEntropy/.test(e.message) && /int32/.test(e.message),
  );
  assert.throws(
    () => crossEntropy(logits, tensor(new Int32Array([0, 1]))),
    (e: unknown) => e instanceof ShapeError && /\[3, 4\]/.test(e.message) && /\[2\]/.test(e.message),
  );
  assert.throws(
    () => nllLoss(logits, tensor(new Int32Array([0, 9, 1]))),
    (e: unknown) => e instanceof ValueError && /nllLoss/.test(e.message) && /label 9/.test(e.message),
  );
  assert.throws(() => crossEntropy(logits, labels(), { labelSmoothing: 1.5 }), ValueError);
  assert.throws(
    () => mseLoss(tensor([1, 2]), tensor([1, 2, 3])),
    (e: unknown) => e instanceof ShapeError && /\[2\]/.test(e.message) && /\[3\]/.test(e.message),
  );
});
