// Network in Network for CIFAR-10 (src/models/nin.ts): mlpconv blocks, the global-average-pooling head, and the
// figures recorded in the registry; and a 1×1 convolution as a fully connected layer applied at every pixel.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { conv1x1FromLinear, mlpconv, nin } from '../../src/models/nin.js';
import { info } from '../../src/models/registry.js';
import { Conv2d, Linear } from '../../src/nn/index.js';
import { crossEntropy, mean, permute, randn, reshape, tensor } from '../../src/tensor/index.js';
import { assertFailsAt, keysAndShapes, outputOf, parametersWithoutGradient, traceCalls } from './helpers.js';

test('nin: three mlpconv blocks 192-160-96 (5×5), 192-192-192 (5×5), 192-192-10 (3×3); 966,986 parameters; no fully connected layer', () => {
  const net = nin({ seed: 0 });
  assert.deepEqual(keysAndShapes(net), [
    ['features.0.0.weight', [192, 3, 5, 5]],
    ['features.0.0.bias', [192]],
    ['features.0.2.weight', [160, 192, 1, 1]],
    ['features.0.2.bias', [160]],
    ['features.0.4.weight', [96, 160, 1, 1]],
    ['features.0.4.bias', [96]],
    ['features.3.0.weight', [192, 96, 5, 5]],
    ['features.3.0.bias', [192]],
    ['features.3.2.weight', [192, 192, 1, 1]],
    ['features.3.2.bias', [192]],
    ['features.3.4.weight', [192, 192, 1, 1]],
    ['features.3.4.bias', [192]],
    ['features.6.0.weight', [192, 192, 3, 3]],
    ['features.6.0.bias', [192]],
    ['features.6.2.weight', [192, 192, 1, 1]],
    ['features.6.2.bias', [192]],
    ['features.6.4.weight', [10, 192, 1, 1]],
    ['features.6.4.bias', [10]],
  ]);
  assert.deepEqual(
    [0, 3, 6].map((i) => net.features.at(i).numParameters()),
    [14_592 + 30_880 + 15_456, 460_992 + 37_056 + 37_056, 331_968 + 37_056 + 1_930],
  );
  assert.equal(net.numParameters(), 966_986);
  assert.equal(info('nin').parameters, 966_986);
  assert.ok(!net.modules().some((m) => m instanceof Linear));
});

test('nin at 3×32×32: 32 → 16 → 8, ten 8×8 confidence maps averaged to ten logits; 222,486,528 MACs', () => {
  const net = nin({ seed: 1 }).eval();
  const x = randn([1, 3, 32, 32]);
  const { calls, macs, result } = traceCalls(() => net.call(x));
  assert.deepEqual(outputOf(calls, 'features.0'), [1, 96, 32, 32]);
  assert.deepEqual(outputOf(calls, 'features.1'), [1, 96, 16, 16]);
  assert.deepEqual(outputOf(calls, 'features.3'), [1, 192, 16, 16]);
  assert.deepEqual(outputOf(calls, 'features.4'), [1, 192, 8, 8]);
  assert.deepEqual(outputOf(calls, 'features.6'), [1, 10, 8, 8]);
  assert.deepEqual(outputOf(calls, 'avgpool'), [1, 10, 1, 1]);
  assert.deepEqual(result.shape, [1, 10]);
  // Each logit is its class map's mean (evaluation mode: dropout off, so features are deterministic).
  const means = mean(net.features.call(x), [2, 3]).toArray();
  result.toArray().forEach((v, i) => assert.ok(Math.abs(v - means[i]) < 1e-6, `class ${i}`));
  assert.equal(macs, 222_486_528);
  assert.equal(info('nin').macs, macs);
});

test('nin trains: a backward pass at 2×3×8×8 reaches every parameter (global pooling takes any size)', () => {
  const net = nin({ seed: 2 });
  crossEntropy(net.call(randn([2, 3, 8, 8])), tensor(Int32Array.of(4, 9))).backward();
  assert.deepEqual(parametersWithoutGradient(net), []);
});

test('numClasses sets the last 1×1 convolution’s maps', () => {
  const net = nin({ numClasses: 100 });
  assert.deepEqual((net.get('features.6.4') as Conv2d).weight.shape, [100, 192, 1, 1]);
});

test('a grayscale image fails at the first convolution, which names the 3 channels it needs', () => {
  assertFailsAt(() => nin().call(randn([1, 1, 32, 32])), 'features.0.0', /expected input with 3 channels/);
});

test('mlpconv: a k×k convolution (same padding) and two 1×1 convolutions, each with ReLU', () => {
  const block = mlpconv(8, [16, 12, 4], 3);
  assert.deepEqual(
    block.children().map((m) => m.typeName),
    ['Conv2d', 'ReLU', 'Conv2d', 'ReLU', 'Conv2d', 'ReLU'],
  );
  assert.deepEqual(block.call(randn([1, 8, 5, 5])).shape, [1, 4, 5, 5]);
});

test('a 1×1 convolution is a fully connected layer applied at every pixel', () => {
  const linear = new Linear(4, 3);
  const conv = conv1x1FromLinear(linear);
  const x = randn([2, 4, 3, 5]);
  // Per pixel: NCHW → NHWC, each pixel's 4 channels through the linear layer, back to NCHW.
  const pixels = reshape(permute(x, [0, 2, 3, 1]), [2 * 3 * 5, 4]);
  const expected = permute(reshape(linear.call(pixels), [2, 3, 5, 3]), [0, 3, 1, 2]).toArray();
  const actual = conv.call(x).toArray();
  assert.equal(actual.length, expected.length);
  actual.forEach((v, i) => assert.ok(Math.abs(v - expected[i]) < 1e-5, `at ${i}: ${v} vs ${expected[i]}`));
  assert.equal(conv.numParameters(), linear.numParameters());
});
