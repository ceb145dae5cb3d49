// Native memory over a long run: 500 training steps must leave live native storages and bytes where the first
// step left them (DESIGN.md decision 3), and tensors the garbage collector reclaims give their memory back.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { setBackend } from '../../../src/backend/registry.js';
import * as nn from '../../../src/nn/index.js';
import * as optim from '../../../src/optim/index.js';
import { Generator, crossEntropy, randn, scope, tensor } from '../../../src/tensor/index.js';
import { skipNative } from './helpers.js';

// One thread unless told otherwise: these long loops test values and memory, not parallelism (the kernel tests run
// on every core), and on a loaded machine two OpenMP threads wait on each other at every barrier.
process.env.CONVNETS_THREADS ??= '1';

/** Every kind of layer the native backend runs on oneDNN, with blocked layouts flowing between them. */
function net(generator: Generator): nn.Sequential {
  return new nn.Sequential(
    new nn.Conv2d(3, 16, 3, { padding: 1, generator }),
    new nn.BatchNorm2d(16),
    new nn.ReLU(),
    new nn.MaxPool2d(2),
    new nn.Conv2d(16, 16, 3, { padding: 1, generator }),
    new nn.LocalResponseNorm(3),
    new nn.Tanh(),
    new nn.AvgPool2d(2),
    new nn.Dropout(0.25, { generator }),
    new nn.AdaptiveAvgPool2d(1),
    new nn.Flatten(),
    new nn.Linear(16, 4, { generator }),
  );
}

test(
  '500 training steps on the native backend leave live native bytes where they were',
  { skip: skipNative },
  () => {
    const backend = setBackend('native');
    const generator = new Generator(5);
    const model = net(generator);
    const x = randn([8, 3, 16, 16], { generator });
    const labels = tensor([0, 1, 2, 3, 0, 1, 2, 3], [8], { dtype: 'int32' });
    const optimizer = optim.sgd(model.parameters(), { lr: 0.05, momentum: 0.9, weightDecay: 1e-4 });
    const step = (): number =>
      scope(() => {
        optimizer.zeroGrad();
        const loss = crossEntropy(model.call(x), labels);
        loss.backward();
        optimizer.step();
        return loss.item();
      });
    const first = step();
    const settled = backend.memory();
    let last = first;
    for (let i = 0; i < 499; i++) last = step();
    assert.deepEqual(backend.memory(), settled, 'live native storages and bytes after 499 more steps');
    assert.ok(last < first, `loss falls: ${first} → ${last}`);
  },
);

test('storages of unreachable tensors are freed by the garbage collector', { skip: skipNative }, async () => {
  // A gc() function without starting node with --expose-gc.
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const backend = setBackend('native');
  const before = backend.memory().bytes;
  // 64 tensors of 4 MB, never disposed: without the finalizer they would hold 256 MB.
  for (let i = 0; i < 64; i++) randn([1024, 1024]);
  for (let i = 0; i < 10 && backend.memory().bytes > before; i++) {
    gc();
    await new Promise((resolve) => setImmediate(resolve));
  }
  assert.ok(backend.memory().bytes <= before, `${backend.memory().bytes - before} bytes still live`);
});
