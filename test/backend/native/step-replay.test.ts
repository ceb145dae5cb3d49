// Recorded training steps (train/step-replay.ts on native/src/recording.cc): a replay updates the weights, buffers
// and optimizer state exactly as the step run op by op does, records again when what the step depends on changes,
// and holds native memory flat over hundreds of steps.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setBackend } from '../../../src/backend/registry.js';
import { arrayDataset, loader } from '../../../src/data/index.js';
import { resnet20 } from '../../../src/models/cifar-resnet.js';
import type { Module } from '../../../src/nn/index.js';
import * as optim from '../../../src/optim/index.js';
import { Generator, crossEntropy, randn, scope, tensor, type Tensor } from '../../../src/tensor/index.js';
import { fit } from '../../../src/train/fit.js';
import { StepReplay, type TrainingStep } from '../../../src/train/step-replay.js';
import { collectGarbage } from '../../memory.js';
import { skipNative, spyOn } from './helpers.js';

process.env.CONVNETS_THREADS ??= '1';

/** A CIFAR ResNet-20 (BatchNorm, residual sums, option A's shortcut) on 8×8 images: a whole step in milliseconds. */
function setUp(lr = 0.05): { net: Module; optimizer: optim.SGD; step: TrainingStep } {
  const net = resnet20({ seed: 3 });
  const optimizer = optim.sgd(net.parameters(), { lr, momentum: 0.9, weightDecay: 5e-4 });
  const step: TrainingStep = (images, labels) =>
    scope(() => {
      optimizer.zeroGrad();
      const logits = net.call(images);
      const loss = crossEntropy(logits, labels);
      loss.backward();
      optimizer.step();
      return { loss, logits };
    });
  return { net, optimizer, step };
}

function batch(seed: number, size = 4, side = 8): [Tensor, Tensor] {
  const generator = new Generator(seed);
  const labels = Int32Array.from({ length: size }, (_, i) => (i * 3 + seed) % 10);
  return [randn([size, 3, side, side], { generator }), tensor(labels, [size], { dtype: 'int32' })];
}

/** Every value the training state holds: parameters, buffers, momentum buffers. */
function stateOf(net: Module, optimizer: optim.SGD): number[][] {
  return [...net.parameters(), ...net.buffers(), ...optimizer.stateTensors()].map((t) =>
    Array.from(t.data()),
  );
}

/** Runs `steps` batches through `run`, returning each step's loss. */
function train(run: TrainingStep, seeds: readonly number[], size = 4, side = 8): number[] {
  return seeds.map((seed) => {
    const [images, labels] = batch(seed, size, side);
    const { loss, logits } = run(images, labels);
    const value = loss.item();
    for (const t of [loss, logits, images, labels]) t.dispose();
    return value;
  });
}

// Batch 4 of 8×8 runs every convolution directly; batch 8 of 16×16 runs the second stage's by Winograd's algorithm
// (32 channels over 8 × 2 × 2 tiles of 4×4).
for (const [size, side] of [
  [4, 8],
  [8, 16],
]) {
  test(
    `a replayed training step updates weights, buffers and momentum exactly as one run op by op (batch ${size}, ${side}×${side})`,
    { skip: skipNative },
    () => {
      setBackend('native');
      const seeds = [1, 2, 3, 4, 5, 6, 7];
      const plain = setUp();
      const expected = train(plain.step, seeds, size, side);
      const replayed = setUp();
      const counts = spyOn(replayed.net.parameters()[0].backend.recorder!);
      const replay = new StepReplay(replayed.net, replayed.optimizer, replayed.step);
      assert.deepEqual(
        train((x, y) => replay.run(x, y), seeds, size, side),
        expected,
      );
      // Steps 1 and 2 run op by op (the first makes the momentum buffers), step 3 is recorded, 4 to 7 replay it.
      assert.deepEqual(counts, { recorded: 1, refused: 0, replays: 4 });
      assert.deepEqual(stateOf(replayed.net, replayed.optimizer), stateOf(plain.net, plain.optimizer));
      assert.deepEqual(
        replayed.net.buffers().at(-1)!.toArray(),
        [7],
        'num_batches_tracked counts replayed steps',
      );
      replay.release();
    },
  );
}

test(
  'a new learning rate, batch size, mode or weight makes the step record again',
  { skip: skipNative },
  () => {
    setBackend('native');
    const plain = setUp();
    const replayed = setUp();
    const counts = spyOn(replayed.net.parameters()[0].backend.recorder!);
    const replay = new StepReplay(replayed.net, replayed.optimizer, replayed.step);
    const both = (change: (net: Module, optimizer: optim.SGD) => void, seeds: number[], size = 4): void => {
      change(plain.net, plain.optimizer);
      change(replayed.net, replayed.optimizer);
      assert.deepEqual(
        train((x, y) => replay.run(x, y), seeds, size),
        train(plain.step, seeds, size),
      );
    };
    both(() => {}, [1, 2, 3, 4]);
    both((_, optimizer) => (optimizer.lr = 0.01), [5, 6, 7, 8]);
    both(() => {}, [9, 10, 11, 12], 6);
    both((net) => net.get('layer1').eval(), [13, 14, 15, 16]);
    both(
      (net) => net.parameters()[0].assign(randn(net.parameters()[0].shape, { generator: new Generator(9) })),
      [17, 18, 19, 20],
    );
    // Each change: two steps op by op, one recorded, one replayed.
    assert.deepEqual(counts, { recorded: 5, refused: 0, replays: 5 });
    assert.deepEqual(stateOf(replayed.net, replayed.optimizer), stateOf(plain.net, plain.optimizer));
    replay.release();
  },
);

test('a step that takes half a second or more op by op is not recorded', { skip: skipNative }, () => {
  setBackend('native');
  const { net, optimizer, step } = setUp();
  const counts = spyOn(net.parameters()[0].backend.recorder!);
  const slow: TrainingStep = (images, labels) => {
    const until = performance.now() + 520;
    while (performance.now() < until);
    return step(images, labels);
  };
  const replay = new StepReplay(net, optimizer, slow);
  train((x, y) => replay.run(x, y), [1, 2, 3, 4]);
  assert.deepEqual(counts, { recorded: 0, refused: 0, replays: 0 });
});

test('500 replayed steps hold live native memory flat', { skip: skipNative }, async () => {
  const backend = setBackend('native');
  const { net, optimizer, step } = setUp(0.01);
  const replay = new StepReplay(net, optimizer, step);
  const [images, labels] = batch(1, 8);
  const run = () => {
    const { loss, logits } = replay.run(images, labels);
    loss.dispose();
    logits.dispose();
  };
  for (let i = 0; i < 10; i++) run();
  await collectGarbage(); // earlier tests' nets, which a collection during the 500 steps would otherwise release
  const settled = backend.memory();
  for (let i = 0; i < 500; i++) run();
  const after = backend.memory();
  assert.equal(after.storages, settled.storages, 'live storages');
  assert.equal(after.bytes, settled.bytes, 'live bytes');
  assert.equal(after.heldBytes, settled.heldBytes, 'bytes held from the system');
  replay.release();
});

test('a replay updates a carried input in place and gives its old block back', { skip: skipNative }, () => {
  const backend = setBackend('native');
  const shape = [1024];
  const g = backend.upload(
    Float32Array.from({ length: 1024 }, (_, i) => i),
    shape,
  );
  // Records an SGD update (the new parameter written, the old one released, as Tensor.assign does), with or without
  // saying where the next replay's parameter is; returns how the pool changed, and what four updates give.
  const recordUpdate = (carry: boolean): [number, number[]] => {
    backend.release(backend.fill(shape, 0, 'float32')); // a free block of the update's size in the pool
    let p = backend.upload(new Float32Array(1024).fill(100), shape);
    const pooled = backend.memory().pooledBytes!;
    const update = () => {
      const next = backend.axpby(1, p, -0.5, g, shape);
      backend.release(p);
      p = next;
      return [next];
    };
    const recording = backend.recorder!.record([p], update, carry ? () => [p] : undefined)!;
    const change = backend.memory().pooledBytes! - pooled;
    for (let i = 0; i < 3; i++) recording.replay([p]);
    const values = Array.from(backend.read(p, shape).slice(0, 3));
    recording.release();
    backend.release(p);
    return [change, values];
  };
  const [copied, copiedValues] = recordUpdate(false);
  const [carried, carriedValues] = recordUpdate(true);
  assert.equal(carried, copied + 4096, 'the block the parameter was read from is free again');
  assert.deepEqual(carriedValues, [100, 98, 96], 'four updates, in place');
  assert.deepEqual(copiedValues, carriedValues);
  backend.release(g);
});

test('fit replays its steps and trains as it does op by op', { skip: skipNative }, async () => {
  setBackend('native');
  const generator = new Generator(5);
  const images = randn([48, 3, 8, 8], { generator }).data() as Float32Array;
  const labels = Array.from({ length: 48 }, (_, i) => i % 10);
  const histories = [];
  for (const opByOp of [false, true]) {
    const { net, optimizer } = setUp();
    const recorder = net.parameters()[0].backend.recorder!;
    const counts = spyOn(recorder);
    const data = loader(arrayDataset(images, labels, [3, 8, 8]), { batchSize: 8, shuffle: true, seed: 2 });
    // A callback between backward and the update keeps every step op by op.
    const callbacks = opByOp ? [{ onGradients: () => {} }] : [];
    const history = await fit(net, data, { epochs: 2, optimizer, callbacks });
    histories.push(history.map(({ trainLoss, trainTop1 }) => [trainLoss, trainTop1]));
    // Each epoch of 6 steps: two op by op, one recorded, three replayed; its end releases the recording.
    assert.deepEqual(
      counts,
      opByOp ? { recorded: 0, refused: 0, replays: 0 } : { recorded: 2, refused: 0, replays: 6 },
    );
  }
  assert.deepEqual(histories[0], histories[1]);
});
