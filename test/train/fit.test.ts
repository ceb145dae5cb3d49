import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setBackend } from '../../src/backend/registry.js';
import { loader } from '../../src/data/index.js';
import { ValueError } from '../../src/errors.js';
import * as optim from '../../src/optim/index.js';
import * as nn from '../../src/nn/index.js';
import { isRecomputable } from '../../src/tensor/autograd.js';
import { Generator, crossEntropy, mul, setRecompute, type Tensor } from '../../src/tensor/index.js';
import { TrainingStopped, evaluate, fit, readCheckpointState } from '../../src/train/index.js';
import { halvesDataset, tinyNet, weights } from './helpers.js';

setBackend('reference');

test('fit makes the loss fall and the accuracy rise on a separable dataset', async () => {
  const model = tinyNet();
  const data = loader(halvesDataset(32), { batchSize: 8, shuffle: true, seed: 3 });
  const steps: number[] = [];
  const history = await fit(model, data, {
    epochs: 4,
    optimizer: optim.sgd(model.parameters(), { lr: 0.1, momentum: 0.9 }),
    validation: loader(halvesDataset(16, 9), { batchSize: 16 }),
    onStep: (info) => steps.push(info.step),
  });
  assert.equal(history.length, 4);
  assert.deepEqual(steps, [1, 2, 3, 4, 1, 2, 3, 4, 1, 2, 3, 4, 1, 2, 3, 4]);
  assert.ok(history[3].trainLoss < history[0].trainLoss / 2, `losses ${history.map((r) => r.trainLoss)}`);
  assert.equal(history[3].valTop1, 1);
  assert.ok(history.every((r) => r.imagesPerSecond > 0 && r.valTop5 === 1));
  const result = await evaluate(model, loader(halvesDataset(16, 9), { batchSize: 5 }));
  assert.equal(result.top1, 1);
  assert.deepEqual(result.confusion, [
    [8, 0],
    [0, 8],
  ]);
});

test('a non-finite loss stops training naming epoch and step, and keeps the last good checkpoint', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'convnets-nan-'));
  try {
    const model = tinyNet();
    const data = loader(halvesDataset(32), { batchSize: 8, shuffle: true, seed: 3 });
    let calls = 0;
    // The 7th loss (epoch 2, step 3) is NaN.
    const lossFn = (
      logits: Parameters<typeof crossEntropy>[0],
      labels: Parameters<typeof crossEntropy>[1],
    ) => (++calls === 7 ? mul(crossEntropy(logits, labels), NaN) : crossEntropy(logits, labels));
    let afterEpoch1: Record<string, number[]> = {};
    await assert.rejects(
      fit(model, data, {
        epochs: 3,
        optimizer: optim.sgd(model.parameters(), { lr: 0.1 }),
        lossFn,
        checkpointDir: dir,
        callbacks: [{ onEpochEnd: () => void (afterEpoch1 = weights(model)) }],
      }),
      (error: Error) =>
        error instanceof ValueError &&
        /loss is NaN at epoch 2, step 3 of 4/.test(error.message) &&
        /last good checkpoint \(epoch 1\)/.test(error.message),
    );
    const state = await readCheckpointState(dir);
    assert.equal(state.epoch, 1);
    assert.equal(state.history.length, 1);
    // The weights on disk are those after epoch 1, not after the two steps of epoch 2.
    const restored = tinyNet(99);
    const resumed = loader(halvesDataset(32), { batchSize: 8, seed: 3 });
    await fit(restored, resumed, {
      epochs: 1,
      optimizer: optim.sgd(restored.parameters(), { lr: 0.1 }),
      resumeFrom: dir,
    });
    assert.deepEqual(weights(restored), afterEpoch1);
    assert.equal((await readCheckpointState(dir)).epoch, 1);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('an aborted signal stops fit at the next step boundary and keeps the last complete checkpoint', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'convnets-abort-'));
  try {
    const model = tinyNet();
    const data = loader(halvesDataset(32), { batchSize: 8, shuffle: true, seed: 3 });
    const controller = new AbortController();
    const steps: string[] = [];
    let afterEpoch1: Record<string, number[]> = {};
    await assert.rejects(
      fit(model, data, {
        epochs: 3,
        optimizer: optim.sgd(model.parameters(), { lr: 0.1 }),
        validation: loader(halvesDataset(16, 9), { batchSize: 4 }),
        checkpointDir: dir,
        signal: controller.signal,
        onStep: (info) => {
          steps.push(`${info.epoch}.${info.step}`);
          // Asked to stop during epoch 2's second step: that step finishes, the third never starts.
          if (info.epoch === 2 && info.step === 2) controller.abort('SIGINT');
        },
        callbacks: [{ onEpochEnd: () => void (afterEpoch1 = weights(model)) }],
      }),
      (error: Error) =>
        error instanceof TrainingStopped &&
        error.reason === 'SIGINT' &&
        error.checkpointEpoch === 1 &&
        /fit: stopped by SIGINT in epoch 2 after step 2 of 4; the last good checkpoint \(epoch 1\) is kept in/.test(
          error.message,
        ),
    );
    assert.deepEqual(steps, ['1.1', '1.2', '1.3', '1.4', '2.1', '2.2']);
    assert.equal((await readCheckpointState(dir)).epoch, 1);
    const restored = tinyNet(99);
    await fit(restored, loader(halvesDataset(32), { batchSize: 8, seed: 3 }), {
      epochs: 1,
      optimizer: optim.sgd(restored.parameters(), { lr: 0.1 }),
      resumeFrom: dir,
    });
    assert.deepEqual(weights(restored), afterEpoch1);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a signal aborted after an epoch’s last step stops before its validation and save; one during a save lets it finish', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'convnets-abort-'));
  try {
    const model = tinyNet();
    const controller = new AbortController();
    await assert.rejects(
      fit(model, loader(halvesDataset(32), { batchSize: 8, seed: 3 }), {
        epochs: 2,
        optimizer: optim.sgd(model.parameters(), { lr: 0.1 }),
        validation: loader(halvesDataset(16, 9), { batchSize: 4 }),
        checkpointDir: dir,
        signal: controller.signal,
        onStep: (info) => {
          if (info.epoch === 1 && info.step === 4) controller.abort('SIGTERM');
        },
      }),
      (error: Error) =>
        error instanceof TrainingStopped &&
        error.checkpointEpoch === null &&
        /in epoch 1 after step 4 of 4; no checkpoint was written yet/.test(error.message),
    );
    assert.deepEqual(await readdir(dir), []);

    // Aborted while the first checkpoint is being written (its first file system call yields to the event loop).
    const again = new AbortController();
    let epochsEnded = 0;
    const writing = fit(model, loader(halvesDataset(32), { batchSize: 8, seed: 3 }), {
      epochs: 3,
      optimizer: optim.sgd(model.parameters(), { lr: 0.1 }),
      checkpointDir: dir,
      signal: again.signal,
      onStep: (info) => {
        if (info.epoch === 1 && info.step === 4) setImmediate(() => again.abort('SIGINT'));
      },
      callbacks: [{ onEpochEnd: () => void epochsEnded++ }],
    });
    await assert.rejects(
      writing,
      (error: Error) => error instanceof TrainingStopped && error.checkpointEpoch === 1,
    );
    assert.equal(epochsEnded, 1);
    assert.equal((await readCheckpointState(dir)).epoch, 1);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('fit({ recompute }) computes the released ReLU outputs again in backward: the same weights, bit for bit', async () => {
  /** Notes, at each training forward, whether backward could compute the ReLU's output again. */
  class Probe extends nn.Module {
    readonly seen: boolean[] = [];
    forward(x: Tensor): Tensor {
      if (this.training) this.seen.push(isRecomputable(x));
      return x;
    }
  }
  const run = async (recompute: boolean | undefined) => {
    const generator = new Generator(7);
    const probe = new Probe();
    const model = new nn.Sequential(
      new nn.Conv2d(1, 2, 3, { padding: 1, generator }),
      new nn.BatchNorm2d(2),
      new nn.ReLU(),
      probe,
      new nn.Conv2d(2, 2, 3, { padding: 1, generator }),
      new nn.Flatten(),
      new nn.Linear(32, 2, { generator }),
    );
    await fit(model, loader(halvesDataset(16), { batchSize: 8, shuffle: true, seed: 3 }), {
      epochs: 2,
      optimizer: optim.sgd(model.parameters(), { lr: 0.1, momentum: 0.9 }),
      recompute,
    });
    return { weights: weights(model), seen: probe.seen };
  };
  const kept = await run(undefined);
  const recomputed = await run(true);
  assert.deepEqual(kept.seen, [false, false, false, false], 'off by default');
  assert.deepEqual(recomputed.seen, [true, true, true, true]);
  assert.deepEqual(recomputed.weights, kept.weights);
  assert.equal(setRecompute(false), false, 'the process-wide setting is as it was');
  await assert.rejects(
    fit(tinyNet(), loader(halvesDataset(8), { batchSize: 8 }), {
      epochs: 1,
      optimizer: optim.sgd(tinyNet().parameters(), { lr: 0.1 }),
      recompute: 'yes' as unknown as boolean,
    }),
    /fit: recompute must be true or false, got yes/,
  );
});
