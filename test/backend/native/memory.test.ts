// Native memory over a long run: training steps must leave live native storages and bytes where the first step
// left them (DESIGN.md decision 3), the process's resident memory must stay flat over many kernel calls and steps
// (the live-storage counter stayed flat while the process grew ~1 KB a call), and tensors the garbage collector
// reclaims give their memory back.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setBackend } from '../../../src/backend/registry.js';
import * as nn from '../../../src/nn/index.js';
import * as optim from '../../../src/optim/index.js';
import { Generator, crossEntropy, randn, relu, scope, tensor } from '../../../src/tensor/index.js';
import { gc } from '../../memory.js';
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

const MiB = 2 ** 20;

/**
 * Resident memory after a full collection, taken without yielding to the event loop: a training epoch whose
 * batches are ready never yields either, so whatever waits for a later turn of the loop grows the process there.
 */
function residentAfterGc(): number {
  gc();
  return process.memoryUsage.rss();
}

/** A step of SGD on `net`'s layers, inside scope() as train.fit runs it; returns the loss. */
function trainingStep(generator: Generator): () => number {
  const model = net(generator);
  const x = randn([8, 3, 16, 16], { generator });
  const labels = tensor([0, 1, 2, 3, 0, 1, 2, 3], [8], { dtype: 'int32' });
  const optimizer = optim.sgd(model.parameters(), { lr: 0.05, momentum: 0.9, weightDecay: 1e-4 });
  return () =>
    scope(() => {
      optimizer.zeroGrad();
      const loss = crossEntropy(model.call(x), labels);
      loss.backward();
      optimizer.step();
      return loss.item();
    });
}

test(
  '500 training steps on the native backend leave live native bytes where they were',
  { skip: skipNative },
  () => {
    const backend = setBackend('native');
    const step = trainingStep(new Generator(5));
    const live = () => {
      const { storages, bytes, collected } = backend.memory();
      return { storages, bytes, collected };
    };
    const first = step();
    const settled = live();
    let last = first;
    for (let i = 0; i < 499; i++) last = step();
    assert.deepEqual(live(), settled, 'live native storages and bytes after 499 more steps');
    assert.ok(last < first, `loss falls: ${first} → ${last}`);
  },
);

// Bounds: before the fix these grew ~90 MB (80,000 calls) and ~200 MB (1,800 steps); run to run, the resident set
// moves by a few MB as allocator arenas and V8's heap settle.
const CALLS_GROWTH_BOUND = 8 * MiB;
const STEPS_GROWTH_BOUND = 16 * MiB;

test('100,000 small kernel calls leave resident memory flat', { skip: skipNative }, () => {
  setBackend('native');
  const x = randn([4, 4]);
  // Half the calls dispose their result inside scope(); half return it, so that the garbage collector reclaims it.
  const calls = (n: number) => {
    for (let i = 0; i < n; i++) {
      scope(() => {
        relu(x);
      });
      scope(() => relu(x));
    }
  };
  calls(10_000);
  const before = residentAfterGc();
  calls(40_000);
  const growth = residentAfterGc() - before;
  assert.ok(
    growth < CALLS_GROWTH_BOUND,
    `resident memory grew ${(growth / MiB).toFixed(1)} MiB over 80,000 calls`,
  );
});

test('2,000 training steps of a small CNN leave resident memory flat', { skip: skipNative }, () => {
  setBackend('native');
  const step = trainingStep(new Generator(6));
  for (let i = 0; i < 200; i++) step();
  const before = residentAfterGc();
  for (let i = 0; i < 1800; i++) step();
  const growth = residentAfterGc() - before;
  assert.ok(
    growth < STEPS_GROWTH_BOUND,
    `resident memory grew ${(growth / MiB).toFixed(1)} MiB over 1,800 steps`,
  );
});

test(
  'storages of unreachable tensors are freed by the garbage collection itself',
  { skip: skipNative },
  () => {
    const backend = setBackend('native');
    const before = backend.memory();
    // 64 tensors of 4 MB, never disposed: without the finalizer they would hold 256 MB. No turn of the event loop
    // between: the storages go during the collection, not on a later turn.
    for (let i = 0; i < 64; i++) randn([1024, 1024]);
    gc();
    const after = backend.memory();
    assert.ok(after.bytes <= before.bytes, `${after.bytes - before.bytes} bytes still live`);
    // Counted as collected, so that storages + collected still says what the program never released.
    assert.ok(
      after.collected >= before.collected + 64,
      `${after.collected - before.collected} counted as collected`,
    );
  },
);
