// Fine-tuning's saving, counted in kernel calls: with everything frozen below ResNet-50's layer4, backward computes
// no gradient for a frozen weight and none for the activations below layer4, and frozen BatchNorm (evaluation mode)
// records nothing, so the graph holds no activation of the frozen stages.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Conv2dAttrs, Shape, Storage } from '../../src/backend/backend.js';
import { ReferenceBackend } from '../../src/backend/reference/index.js';
import { withBackend } from '../../src/backend/registry.js';
import * as models from '../../src/models/index.js';
import { Conv2d, type Module } from '../../src/nn/index.js';
import {
  batchNorm,
  crossEntropy,
  Generator,
  matmul,
  mul,
  randn,
  sum,
  tensor,
  type Tensor,
} from '../../src/tensor/index.js';
import { freezeModel } from '../../src/train/index.js';

/** The reference kernels, counting the calls that tell what backward computed and what BatchNorm ran. */
class CountingBackend extends ReferenceBackend {
  /** The weight storage of each backward-data call: which convolution passed a gradient to its input. */
  readonly backwardData: Storage[] = [];
  /** The weight shape of each backward-weights call. */
  readonly backwardFilter: string[] = [];
  readonly batchNorm = { training: 0, inference: 0, backward: 0 };
  matmuls = 0;
  reductions = 0;

  override conv2dBackwardData(
    dy: Storage,
    dyShape: Shape,
    w: Storage,
    wShape: Shape,
    xShape: Shape,
    attrs: Conv2dAttrs,
  ): Storage {
    this.backwardData.push(w);
    return super.conv2dBackwardData(dy, dyShape, w, wShape, xShape, attrs);
  }
  override conv2dBackwardFilter(
    x: Storage,
    xShape: Shape,
    dy: Storage,
    dyShape: Shape,
    wShape: Shape,
    attrs: Conv2dAttrs,
  ): Storage {
    this.backwardFilter.push(wShape.join('×'));
    return super.conv2dBackwardFilter(x, xShape, dy, dyShape, wShape, attrs);
  }
  override batchNormTraining(...args: Parameters<ReferenceBackend['batchNormTraining']>) {
    this.batchNorm.training++;
    return super.batchNormTraining(...args);
  }
  override batchNormInference(...args: Parameters<ReferenceBackend['batchNormInference']>) {
    this.batchNorm.inference++;
    return super.batchNormInference(...args);
  }
  override batchNormBackward(...args: Parameters<ReferenceBackend['batchNormBackward']>) {
    this.batchNorm.backward++;
    return super.batchNormBackward(...args);
  }
  override reduce(...args: Parameters<ReferenceBackend['reduce']>) {
    this.reductions++;
    return super.reduce(...args);
  }
  override matmul(...args: Parameters<ReferenceBackend['matmul']>) {
    this.matmuls++;
    return super.matmul(...args);
  }
}

/** Every tensor the recorded graph of `root` holds for backward: the inputs and saved tensors of its nodes. */
function heldByGraph(root: Tensor): Set<Tensor> {
  const held = new Set<Tensor>();
  const stack = [root];
  while (stack.length > 0) {
    const t = stack.pop()!;
    for (const u of [...(t.node?.inputs ?? []), ...(t.node?.saved ?? [])]) {
      if (held.has(u)) continue;
      held.add(u);
      stack.push(u);
    }
  }
  return held;
}

/** The sides of the 4-D tensors in `held` that are not parameters of `net`: the activations. */
function activationSides(net: Module, held: Set<Tensor>): number[] {
  const parameters = new Set(net.parameters());
  return [...held].filter((t) => t.rank === 4 && !parameters.has(t)).map((t) => t.shape[2]);
}

const convolutions = (net: Module, prefix = '') =>
  net
    .namedModules()
    .filter(([path, m]) => m instanceof Conv2d && path.startsWith(prefix))
    .map(([path, m]) => [path, m as Conv2d] as const);

/** One training-mode forward pass of ResNet-50 on 2 images of 32×32 and its loss; its backward() not yet run. */
function forward(backend: CountingBackend, freezeUpTo: string | null) {
  return withBackend(backend, () => {
    const net = models.get('resnet50', { seed: 3, numClasses: 10 });
    net.train();
    if (freezeUpTo !== null) freezeModel(net, freezeUpTo);
    const x = randn([2, 3, 32, 32], { generator: new Generator(5) });
    const loss = crossEntropy(net.call(x), tensor(Int32Array.from([1, 7]), [2]));
    return { net, loss };
  });
}

test('fine-tuning layer4 and fc: no gradient for frozen weights, none below layer4, frozen BatchNorm records nothing', () => {
  const backend = new CountingBackend();
  const { net, loss } = forward(backend, 'layer3');
  // Frozen BatchNorm normalises with its running statistics; only layer4's 10 BatchNorms compute batch statistics.
  assert.deepEqual(backend.batchNorm, { training: 10, inference: 53 - 10, backward: 0 });
  const held = heldByGraph(loss);
  const nodes = [...held, loss].filter((t) => t.node !== null).map((t) => t.node!.op);
  const normalisations = nodes.filter((op) => op === 'batchNorm' || op === 'batchNormRelu');
  assert.equal(normalisations.length, 10, 'a frozen BatchNorm records no node');
  // 32×32 in: layer3's output is 2×2 (the input of layer4.0.conv1, kept for its weight gradient), layer4's 1×1.
  const sides = activationSides(net, held);
  assert.ok(sides.length > 0);
  assert.equal(Math.max(...sides), 2, `the graph holds activations of sides ${[...new Set(sides)]}`);

  withBackend(backend, () => loss.backward());
  const trainable = convolutions(net, 'layer4.');
  assert.equal(trainable.length, 10);
  assert.deepEqual(
    [...backend.backwardFilter].sort(),
    trainable.map(([, conv]) => conv.weight.shape.join('×')).sort(),
    'weight gradients for layer4 only',
  );
  // Gradients reach layer4's input no further: its first block's conv1 and downsample read layer3's output.
  const names = new Map(convolutions(net).map(([path, conv]) => [conv.weight.storage, path]));
  assert.deepEqual(
    backend.backwardData.map((w) => names.get(w)).sort(),
    trainable
      .map(([path]) => path)
      .filter((path) => !['layer4.0.conv1', 'layer4.0.downsample.0'].includes(path))
      .sort(),
  );
  assert.equal(backend.batchNorm.backward, 10);
  for (const [name, p] of net.namedParameters())
    assert.equal(p.grad !== null, name.startsWith('layer4.') || name.startsWith('fc.'), name);
});

test('the same counts without freezing: every convolution gets a weight gradient, all but the first pass one on', () => {
  const backend = new CountingBackend();
  const { net, loss } = forward(backend, null);
  assert.deepEqual(backend.batchNorm, { training: 53, inference: 0, backward: 0 });
  assert.equal(Math.max(...activationSides(net, heldByGraph(loss))), 32);
  withBackend(backend, () => loss.backward());
  const all = convolutions(net);
  assert.equal(all.length, 53);
  assert.equal(backend.backwardFilter.length, 53);
  const names = new Map(all.map(([path, conv]) => [conv.weight.storage, path]));
  assert.deepEqual(
    backend.backwardData.map((w) => names.get(w)).sort(),
    all
      .map(([path]) => path)
      .filter((path) => path !== 'conv1')
      .sort(),
  );
});

test('a matrix product computes only the gradients its inputs need', () => {
  const backend = new CountingBackend();
  withBackend(backend, () => {
    const features = randn([4, 8], { generator: new Generator(1) });
    const weight = randn([3, 8], { generator: new Generator(2), requiresGrad: true });
    const y = matmul(features, weight, { transposeB: true });
    backend.matmuls = 0;
    sum(y).backward();
    assert.equal(backend.matmuls, 1, 'dL/dW only: the frozen features need no gradient');
    // dL/dW = dyᵀ · features with dy all ones: each row is the column sums of the features.
    const columnSums = Array.from({ length: 8 }, (_, j) =>
      Array.from({ length: 4 }, (_, i) => features.data()[i * 8 + j]).reduce((a, b) => a + b, 0),
    );
    const grad = weight.grad!.data();
    for (let row = 0; row < 3; row++)
      for (let j = 0; j < 8; j++) assert.ok(Math.abs(grad[row * 8 + j] - columnSums[j]) < 1e-5);
  });
});

test('a frozen BatchNorm in evaluation mode passes the gradient to its input and computes none for its weights', () => {
  const backend = new CountingBackend();
  withBackend(backend, () => {
    const x = randn([2, 3, 2, 2], { generator: new Generator(4), requiresGrad: true });
    const [gamma, beta] = [tensor([2, -1, 0.5], [3]), tensor([0, 1, 2], [3])];
    const [runningMean, runningVar] = [tensor([0.5, 0, -1], [3]), tensor([4, 1, 0.25], [3])];
    const y = batchNorm(x, gamma, beta, runningMean, runningVar, { training: false, eps: 0 });
    const dy = randn([2, 3, 2, 2], { generator: new Generator(6) });
    const loss = sum(mul(y, dy));
    backend.reductions = 0;
    loss.backward();
    assert.equal(backend.reductions, 0, 'no sum over the activation for the frozen weight and bias');
    // dL/dx = dy · γ / √var per channel: 2 / 2, −1 / 1, 0.5 / 0.5.
    const scale = [1, -1, 1];
    const expected = Array.from(dy.data(), (v, i) => v * scale[Math.floor(i / 4) % 3]);
    assert.deepEqual(Array.from(x.grad!.data()), expected);
  });
});
