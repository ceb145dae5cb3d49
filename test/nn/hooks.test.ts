import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Linear, Module, ReLU, Sequential, type ForwardHook } from '../../src/nn/index.js';
import { Generator, add, mul, sum, tensor, type Tensor } from '../../src/tensor/index.js';

/** y = relu(relu(x) + 1): one ReLU called twice, as torchvision's BasicBlock reuses its relu. */
class SharedRelu extends Module {
  relu = new ReLU();

  forward(x: Tensor): Tensor {
    return this.relu.call(add(this.relu.call(x), 1));
  }
}

test('a forward hook sees the input and output of each call of its own module, children not included', () => {
  const net = new Sequential(new Linear(2, 2, { generator: new Generator(1) }), new ReLU());
  const seen: [string, number[], number[]][] = [];
  const hook: ForwardHook = (module, input, output) => {
    seen.push([module.typeName, input.toArray(), output.toArray()]);
  };
  const remove = net.get('1').registerForwardHook(hook);
  const x = tensor([[1, -2]]);
  const hidden = net.get('0').call(x).toArray();
  const y = net.call(x).toArray();
  assert.deepEqual(seen, [['ReLU', hidden, y]]);
  remove();
  net.call(x);
  assert.equal(seen.length, 1, 'a removed hook is not called');
});

test('a hook on a shared module fires at every call, in the order of the forward pass', () => {
  const net = new SharedRelu();
  const inputs: number[][] = [];
  net.relu.registerForwardHook((_m, input) => void inputs.push(input.toArray()));
  assert.deepEqual(net.call(tensor([-3, 2])).toArray(), [1, 3]);
  assert.deepEqual(inputs, [
    [-3, 2],
    [1, 3],
  ]);
});

test('a tensor a hook returns replaces the output downstream, and hooks chain in registration order', () => {
  const net = new SharedRelu();
  const order: string[] = [];
  net.relu.registerForwardHook((_m, _input, output) => {
    order.push('double');
    return mul(output, 2);
  });
  net.relu.registerForwardHook((_m, _input, output) => {
    order.push(`then sees ${output.toArray().join(',')}`);
  });
  // First call: relu([-3, 2]) = [0, 2], doubled [0, 4]; + 1 = [1, 5]; second call: relu = [1, 5], doubled [2, 10].
  assert.deepEqual(net.call(tensor([-3, 2])).toArray(), [2, 10]);
  assert.deepEqual(order, ['double', 'then sees 0,4', 'double', 'then sees 2,10']);
});

test('replacing an activation by a leaf that requires a gradient gives the gradient with respect to it', () => {
  // y = sum(w · relu(h)) with h the first Linear's output; d y / d relu(h) = w, whatever the values.
  const net = new Sequential(new Linear(3, 2, { generator: new Generator(2) }), new ReLU());
  let captured: Tensor | undefined;
  net.get('1').registerForwardHook((_m, _input, output) => {
    captured = output.detach().requireGrad();
    return captured;
  });
  const weights = tensor([[0.5, -4]]);
  sum(mul(net.call(tensor([[1, 2, 3]])), weights)).backward();
  assert.deepEqual(captured?.grad?.toArray(), [0.5, -4]);
});
