import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ShapeError, ValueError } from '../../src/errors.js';
import {
  AdaptiveAvgPool2d,
  AvgPool2d,
  BatchNorm1d,
  BatchNorm2d,
  Conv2d,
  Dropout,
  Flatten,
  Identity,
  Linear,
  LocalResponseNorm,
  MaxPool2d,
  ReLU,
  ScaledTanh,
  Sequential,
  Sigmoid,
  Tanh,
} from '../../src/nn/index.js';
import { Generator, ones, randn, tensor, type Tensor } from '../../src/tensor/index.js';

function values(t: Tensor): number[] {
  return Array.from(t.data());
}

function assertAllClose(actual: readonly number[], expected: readonly number[], tolerance = 1e-5): void {
  assert.equal(actual.length, expected.length);
  actual.forEach((a, i) =>
    assert.ok(Math.abs(a - expected[i]) <= tolerance, `at ${i}: ${a} vs ${expected[i]}`),
  );
}

/** x[n][c][0][w] for a [2, 2, 1, 3] batch, and each channel's six values. */
const batch = [
  [[[1, 2, 3]], [[-1, 0, 4]]],
  [[[5, 6, 9]], [[2, 2, -3]]],
];
const channelValues = [
  [1, 2, 3, 5, 6, 9],
  [-1, 0, 4, 2, 2, -3],
];
const meanOf = (v: number[]): number => v.reduce((a, b) => a + b, 0) / v.length;
const squaredDeviations = (v: number[]): number => v.reduce((a, b) => a + (b - meanOf(v)) ** 2, 0);

test('BatchNorm2d in training normalises by batch statistics and moves running stats with momentum and unbiased variance', () => {
  const bn = new BatchNorm2d(2);
  const x = tensor(batch);
  const y = values(bn.call(x));
  const expectedY = channelValues.map((v) =>
    v.map((a) => (a - meanOf(v)) / Math.sqrt(squaredDeviations(v) / 6 + 1e-5)),
  );
  assertAllClose(
    [y[0], y[3], y[6], y[9]],
    [expectedY[0][0], expectedY[1][0], expectedY[0][3], expectedY[1][3]],
    1e-4,
  );
  const means = channelValues.map(meanOf);
  const unbiased = channelValues.map((v) => squaredDeviations(v) / 5);
  assertAllClose(
    values(bn.runningMean!),
    means.map((m) => 0.1 * m),
  );
  assertAllClose(
    values(bn.runningVar!),
    unbiased.map((v) => 0.9 + 0.1 * v),
    1e-5,
  );
  assert.equal(bn.numBatchesTracked!.item(), 1);

  bn.call(x);
  assertAllClose(
    values(bn.runningMean!),
    means.map((m) => 0.9 * 0.1 * m + 0.1 * m),
  );
  assert.equal(bn.numBatchesTracked!.item(), 2);
});

test('BatchNorm2d in evaluation uses the running statistics and leaves them alone', () => {
  const bn = new BatchNorm2d(2);
  bn.runningMean!.assign(tensor([1, -2]));
  bn.runningVar!.assign(tensor([4, 0.25]));
  bn.weight!.assign(tensor([2, 3]));
  bn.bias!.assign(tensor([0.5, 0]));
  bn.eval();
  const y = values(bn.call(tensor(batch)));
  const expected = (a: number, c: number): number =>
    c === 0 ? (2 * (a - 1)) / Math.sqrt(4 + 1e-5) + 0.5 : (3 * (a + 2)) / Math.sqrt(0.25 + 1e-5);
  assertAllClose(
    y.slice(0, 6),
    [1, 2, 3, -1, 0, 4].map((a, i) => expected(a, i < 3 ? 0 : 1)),
    1e-4,
  );
  assert.deepEqual(values(bn.runningMean!), [1, -2]);
  assert.equal(bn.numBatchesTracked!.item(), 0);
  bn.train();
  bn.call(tensor(batch));
  assert.notDeepEqual(values(bn.runningMean!), [1, -2]);
});

test('BatchNorm2d with momentum null keeps a cumulative average', () => {
  const bn = new BatchNorm2d(2, { momentum: null });
  bn.call(tensor(batch));
  const shifted = tensor(batch.map((n) => n.map((c) => c.map((row) => row.map((v) => v + 10)))));
  bn.call(shifted);
  const means = channelValues.map(meanOf);
  assertAllClose(
    values(bn.runningMean!),
    means.map((m) => m + 5),
    1e-4,
  );
});

test('BatchNorm2d without running stats or affine has no buffers or parameters and uses batch statistics in eval', () => {
  const bn = new BatchNorm2d(2, { trackRunningStats: false, affine: false });
  assert.deepEqual([...bn.stateDict().keys()], []);
  assert.equal(bn.numParameters(), 0);
  bn.eval();
  const y = values(bn.call(tensor(batch)));
  const v = channelValues[0];
  assertAllClose([y[0]], [(1 - meanOf(v)) / Math.sqrt(squaredDeviations(v) / 6 + 1e-5)], 1e-4);
});

test('BatchNorm checks its input', () => {
  assert.throws(() => new BatchNorm2d(3).call(randn([2, 4, 2, 2])), {
    name: 'ShapeError',
    message: 'BatchNorm2d: expected input with 3 channels [N, 3, H, W], got [2, 4, 2, 2]',
  });
  assert.throws(() => new BatchNorm1d(3).call(randn([2, 3, 2, 2])), /expected a 2-D input \[N, 3\]/);
  assert.deepEqual(new BatchNorm1d(3).call(randn([4, 3])).shape, [4, 3]);
  assert.throws(() => new BatchNorm2d(3, { momentum: 2 }), ValueError);
});

test('Dropout drops and rescales in training, is the identity in eval, and repeats with its seed', () => {
  const x = ones([2000]);
  const dropout = new Dropout(0.25, { generator: new Generator(9) });
  const y = values(dropout.call(x));
  const dropped = y.filter((v) => v === 0).length;
  assert.ok(dropped > 400 && dropped < 600, `${dropped} of 2000 dropped`);
  assert.ok(y.every((v) => v === 0 || Math.abs(v - 4 / 3) < 1e-6));
  const again = new Dropout(0.25, { generator: new Generator(9) });
  assert.deepEqual(values(again.call(x)), y);

  const net = new Sequential(new Identity(), new Dropout(0.5));
  net.eval();
  assert.deepEqual(values(net.call(x)), values(x));
  net.train();
  assert.ok(values(net.call(x)).includes(0));
  assert.throws(() => new Dropout(1), ValueError);
});

test('Conv2d handles stride, padding forms and groups', () => {
  const x = randn([2, 4, 9, 9]);
  assert.deepEqual(new Conv2d(4, 6, 3).call(x).shape, [2, 6, 7, 7]);
  assert.deepEqual(new Conv2d(4, 6, 3, { stride: 2, padding: 1 }).call(x).shape, [2, 6, 5, 5]);
  assert.deepEqual(new Conv2d(4, 6, [3, 5], { padding: 'same', dilation: 2 }).call(x).shape, [2, 6, 9, 9]);
  assert.deepEqual(new Conv2d(4, 8, 3, { groups: 4, padding: 'valid' }).weight.shape, [8, 1, 3, 3]);
  const noBias = new Conv2d(4, 6, 1, { bias: false });
  assert.deepEqual(
    noBias.namedParameters().map(([name]) => name),
    ['weight'],
  );
  assert.throws(() => new Conv2d(4, 6, 3, { groups: 3 }), /divide into groups=3/);
  assert.throws(() => new Conv2d(4, 6, 3, { stride: 2, padding: 'same' }), /stride 1/);
});

test('Conv2d computes the cross-correlation with its own weight and bias', () => {
  const conv = new Conv2d(1, 1, 2, { bias: true });
  conv.weight.assign(tensor([1, 2, 3, 4], [1, 1, 2, 2]));
  conv.bias!.assign(tensor([0.5]));
  const y = conv.call(tensor([1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 1, 3, 3]));
  assert.deepEqual(values(y), [37.5, 47.5, 67.5, 77.5]);
});

test('Linear maps the last axis of any rank', () => {
  const layer = new Linear(3, 2, { bias: false });
  layer.weight.assign(
    tensor([
      [1, 0, 0],
      [1, 1, 1],
    ]),
  );
  assert.deepEqual(values(layer.call(tensor([[1, 2, 3]]))), [1, 6]);
  assert.deepEqual(layer.call(randn([4, 5, 3])).shape, [4, 5, 2]);
  assert.deepEqual(values(layer.call(tensor([1, 2, 3]))), [1, 6]);
  assert.throws(() => layer.call(randn([4, 2])), ShapeError);
});

test('pooling layers give PyTorch’s output sizes and check rank', () => {
  const x = randn([1, 2, 7, 7]);
  assert.deepEqual(new MaxPool2d(2).call(x).shape, [1, 2, 3, 3]);
  assert.deepEqual(new MaxPool2d(3, { stride: 2, ceilMode: true }).call(x).shape, [1, 2, 3, 3]);
  assert.deepEqual(new MaxPool2d(2, { ceilMode: true }).call(x).shape, [1, 2, 4, 4]);
  assert.deepEqual(
    new AvgPool2d(3, { stride: 1, padding: 1, countIncludePad: false }).call(x).shape,
    [1, 2, 7, 7],
  );
  assert.deepEqual(new AdaptiveAvgPool2d([2, 3]).call(x).shape, [1, 2, 2, 3]);
  assert.deepEqual(values(new AvgPool2d(2).call(tensor([1, 2, 3, 4], [1, 1, 2, 2]))), [2.5]);
  assert.throws(() => new MaxPool2d(2).call(randn([2, 7, 7])), {
    name: 'ShapeError',
    message: 'MaxPool2d: expected a 4-D input [N, C, H, W], got [2, 7, 7]',
  });
  assert.throws(() => new MaxPool2d(0), ShapeError);
});

test('activations, Flatten, Identity and LocalResponseNorm', () => {
  const x = tensor([-1, 0, 2]);
  assert.deepEqual(values(new ReLU().call(x)), [0, 0, 2]);
  assertAllClose(values(new Sigmoid().call(x)), [1 / (1 + Math.E), 0.5, 1 / (1 + Math.exp(-2))]);
  assertAllClose(values(new Tanh().call(x)), [Math.tanh(-1), 0, Math.tanh(2)]);
  assertAllClose(values(new ScaledTanh().call(x)), [
    -1.7159 * Math.tanh(2 / 3),
    0,
    1.7159 * Math.tanh(4 / 3),
  ]);
  assert.deepEqual(new Flatten().call(randn([2, 3, 4, 5])).shape, [2, 60]);
  assert.deepEqual(new Flatten(0, 1).call(randn([2, 3, 4])).shape, [6, 4]);
  assert.equal(new Identity().call(x), x);
  const lrn = new LocalResponseNorm(1, { alpha: 1, beta: 1, k: 1 });
  assertAllClose(values(lrn.call(tensor([2], [1, 1, 1, 1]))), [2 / 5]);
  assert.equal(String(lrn), 'LocalResponseNorm(1, alpha=1, beta=1, k=1)');
});
