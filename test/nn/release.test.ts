// A module call that records no gradient releases what it made but its output, and a chain of modules each
// intermediate once the next has read it; backward() releases what only the recorded graph holds as it passes it;
// what a hook, an observer or a module keeping tensors holds stays.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BasicBlock, resnet18 } from '../../src/models/resnet.js';
import { Linear, Module, ReLU, Sequential, observeCalls } from '../../src/nn/index.js';
import {
  Generator,
  add,
  batchNorm,
  conv2d,
  crossEntropy,
  mul,
  noGrad,
  randn,
  setRecompute,
  relu,
  sum,
  tensor,
  type Tensor,
} from '../../src/tensor/index.js';
import { getBackend } from '../../src/backend/registry.js';
import { unreleased } from '../memory.js';

/** y = relu(W₂ relu(W₁ x)) with fixed weights, so that values can be checked by hand. */
function twoLayers(): Sequential {
  const first = new Linear(2, 2, { bias: false });
  first.weight.assign(tensor([1, -1, 2, 1], [2, 2]));
  const second = new Linear(2, 1, { bias: false });
  second.weight.assign(tensor([1, 3], [1, 2]));
  return new Sequential(first, new ReLU(), second, new ReLU());
}

/** A layer that keeps its last activation: it does not declare forwardKeepsNothing. */
class KeepsActivation extends Module {
  last: Tensor | null = null;
  forward(x: Tensor): Tensor {
    this.last = mul(x, 2);
    return add(this.last, 1);
  }
}

// x = [3, 1]: W₁x = [2, 7], relu [2, 7], W₂ · that = 2 + 21 = 23, relu 23.
const x = () => tensor([3, 1], [1, 2]);

test('under noGrad a chain of layers leaves only its output: each intermediate released once read', () => {
  const net = twoLayers();
  const input = x();
  const before = unreleased();
  const y = noGrad(() => net.call(input));
  assert.deepEqual(y.toArray(), [23]);
  assert.equal(unreleased(), before + 1, 'the output, nothing of the three intermediates');
  assert.ok(!input.disposed, 'the caller’s input stays');
});

test('with gradients recorded, what no gradient rule reads goes once consumed; backward gives the gradient', () => {
  const net = twoLayers();
  const input = x().requireGrad();
  const before = unreleased();
  const y = net.call(input);
  // Each Linear's output only fed a ReLU, whose rule reads its own output: the first ReLU's output (the second
  // Linear's input, which its weight's gradient reads) and the output stay, as PyTorch's in-place ReLUs keep.
  assert.equal(unreleased(), before + 2, 'the first ReLU’s output and the output');
  sum(y).backward();
  // dy/dx = W₂ᵀ ⊙ relu′ through W₁: [1, 3] · W₁ = [1 + 6, −1 + 3] = [7, 2].
  assert.deepEqual(input.grad!.toArray(), [7, 2]);
});

test('a forward hook’s capture, an observer’s and a keeping layer’s activation survive the call', () => {
  const net = twoLayers();
  const keeping = new KeepsActivation();
  net.append(keeping);
  let hooked: Tensor | null = null;
  const removeHook = net.get('1').registerForwardHook((_m, _input, output) => {
    hooked = output;
  });
  const y = noGrad(() => net.call(x()));
  // 23 from the ReLU, doubled and kept by the last layer, plus 1.
  assert.deepEqual(y.toArray(), [47]);
  assert.deepEqual(hooked!.toArray(), [2, 7], 'the first ReLU’s output, as the hook captured it');
  assert.deepEqual(keeping.last!.toArray(), [46]);
  removeHook();
  const observed: Tensor[] = [];
  const stop = observeCalls((call) => void observed.push(call.output));
  noGrad(() => net.call(x()));
  stop();
  assert.deepEqual(
    observed.map((t) => t.toArray()),
    [[2, 7], [2, 7], [23], [23], [47], [47]],
    'every call’s output, readable after the call',
  );
});

test('a frozen chain is released like one under noGrad; its trainable tail keeps what backward needs', () => {
  const net = twoLayers();
  net.get('0').freeze();
  const input = x();
  const before = unreleased();
  const y = net.call(input);
  // The frozen Linear's output went once the ReLU had read it; the ReLU's output is the trainable Linear's input;
  // that Linear's output went once the last ReLU had read it.
  assert.equal(unreleased(), before + 2);
  sum(y).backward();
  // dy/dW₂ = relu(W₁x) = [2, 7].
  assert.deepEqual(net.getParameter('2.weight')!.grad!.toArray(), [2, 7]);
  assert.equal(net.getParameter('0.weight')!.grad, null);
});

test('a layer that throws releases what its call made', () => {
  const net = new Sequential(new Linear(2, 3, { generator: new Generator(1) }), new Linear(2, 1));
  const before = unreleased();
  assert.throws(() => noGrad(() => net.call(x())), /expected input with 2 features/);
  assert.equal(unreleased(), before + 1, 'the input alone');
});

for (const recompute of [false, true])
  test(`a training ResNet block keeps what PyTorch’s in-place block keeps${recompute ? ', less relu1’s output when recomputing' : ''}; its gradients are the full graph’s`, () => {
    const block = new BasicBlock(3, 3);
    const x = randn([2, 3, 5, 5], { generator: new Generator(7) }).requireGrad();
    const before = unreleased();
    const previous = setRecompute(recompute);
    const y = block.call(x);
    setRecompute(previous);
    // Kept: conv1's output (bn1 reads it), relu1's (conv2 reads it) unless backward() computes it again from conv1's
    // output, conv2's, the output, and each BatchNorm's batch mean and variance. Released: bn1's and bn2's outputs
    // (only ReLU and the addition read them, neither's rule reads its input) and the sum (the last ReLU reads its own
    // output). The native backend's fused bn1 and relu1 keep the ReLU's mask too (oneDNN's workspace).
    const mask = getBackend().name === 'native' ? 1 : 0;
    assert.equal(unreleased(), before + (recompute ? 3 : 4) + 4 + mask);
    const loss = sum(mul(y, y));
    const beforeBackward = unreleased();
    loss.backward();
    // New: the gradients of x and of the six parameters. Gone: all the block's graph held but its output (conv1's and
    // conv2's outputs, relu1's, the batch means and variances, the mask), each once backward() was past the last rule
    // reading it; relu1's output, if computed again for conv2's rule and relu1's, went once they had read it.
    assert.equal(unreleased(), beforeBackward + 7 - (recompute ? 6 : 7) - mask);

    // The same computation in plain ops, nothing released, on copies of the block's parameters.
    const copy = (name: string) =>
      tensor(block.getParameter(name)!.toArray(), block.getParameter(name)!.shape).requireGrad();
    const [w1, g1, b1, w2, g2, b2] = [
      'conv1.weight',
      'bn1.weight',
      'bn1.bias',
      'conv2.weight',
      'bn2.weight',
      'bn2.bias',
    ].map(copy);
    const x2 = tensor(x.toArray(), x.shape).requireGrad();
    const train = { training: true };
    const h = relu(batchNorm(conv2d(x2, w1, null, { padding: 1 }), g1, b1, null, null, train));
    const y2 = relu(add(batchNorm(conv2d(h, w2, null, { padding: 1 }), g2, b2, null, null, train), x2));
    sum(mul(y2, y2)).backward();
    assert.deepEqual(y.toArray(), y2.toArray());
    assert.deepEqual(x.grad!.toArray(), x2.grad!.toArray());
    for (const [name, twin] of [
      ['conv1.weight', w1],
      ['bn1.weight', g1],
      ['conv2.weight', w2],
      ['bn2.bias', b2],
    ] as const)
      assert.deepEqual(block.getParameter(name)!.grad!.toArray(), twin.grad!.toArray(), name);
  });

test('backward() releases a network’s activations as it passes them, before the update', () => {
  const net = resnet18({ seed: 1, numClasses: 10 });
  const x = randn([2, 3, 32, 32], { generator: new Generator(2) });
  const labels = tensor([3, 7], [2], { dtype: 'int32' });
  const live = () => getBackend().memory().bytes;
  const before = live();
  const loss = crossEntropy(net.call(x), labels);
  const activations = live() - before;
  loss.backward();
  const gradients = net.parameters().reduce((bytes, p) => bytes + 4 * p.grad!.size, 0);
  // Left besides the gradients: the logits, the loss and crossEntropy's own tensors, made outside any module.
  const left = live() - before - gradients;
  assert.ok(left < activations / 50, `${left} bytes left of ${activations}`);
});
