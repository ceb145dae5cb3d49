import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as nn from '../src/nn/index.js';
import * as optim from '../src/optim/index.js';
import { Generator, crossEntropy, randn, scope, tensor } from '../src/tensor/index.js';
import { unreleased } from './memory.js';

function smallNet(generator: Generator): nn.Sequential {
  return new nn.Sequential(
    new nn.Conv2d(1, 4, 3, { padding: 1, generator }),
    new nn.BatchNorm2d(4),
    new nn.ReLU(),
    new nn.MaxPool2d(2),
    new nn.Dropout(0.25, { generator }),
    new nn.Flatten(),
    new nn.Linear(64, 3, { generator }),
  );
}

test('a training step leaves no storage behind once gradients and optimizer state exist', () => {
  const generator = new Generator(3);
  const net = smallNet(generator);
  const x = randn([8, 1, 8, 8], { generator });
  const labels = tensor([0, 1, 2, 0, 1, 2, 0, 1], [8], { dtype: 'int32' });
  for (const make of [
    () => optim.sgd(net.parameters(), { lr: 0.05, momentum: 0.9, weightDecay: 1e-4 }),
    () => optim.adamW(net.parameters(), { lr: 1e-3 }),
  ]) {
    const optimizer = make();
    const step = (): number =>
      scope(() => {
        optimizer.zeroGrad();
        const loss = crossEntropy(net.call(x), labels);
        loss.backward();
        optimizer.step();
        return loss.item();
      });
    step();
    const settled = unreleased();
    const losses = [1, 2, 3, 4, 5].map(step);
    assert.equal(unreleased(), settled, 'storages left unreleased after five more steps');
    assert.ok(losses[4] < losses[0], `loss falls: ${losses.join(', ')}`);
    optimizer.zeroGrad();
  }
});
