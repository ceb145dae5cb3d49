import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setBackend } from '../../src/backend/registry.js';
import { loader } from '../../src/data/index.js';
import * as optim from '../../src/optim/index.js';
import { manualSeed } from '../../src/tensor/index.js';
import { fit, saveCheckpoint, type EpochRecord } from '../../src/train/index.js';
import { halvesDataset, tinyNet, weights } from './helpers.js';

setBackend('reference');

async function run(epochs: number, options: { checkpointDir?: string; resumeFrom?: string } = {}) {
  manualSeed(11);
  const model = tinyNet();
  const optimizer = optim.sgd(model.parameters(), { lr: 0.1, momentum: 0.9, weightDecay: 1e-3 });
  const schedule = optim.cosineAnnealingLR(optimizer, { tMax: 2 });
  const data = loader(halvesDataset(24), { batchSize: 5, shuffle: true, seed: 4 });
  const history = await fit(model, data, { epochs, optimizer, schedule, ...options });
  return { model, history };
}

test('resume continues bit for bit: 2 epochs straight equal 1 + save + load into fresh objects + 1', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'convnets-resume-'));
  try {
    const straight = await run(2);
    await run(1, { checkpointDir: dir });
    const resumed = await run(2, { resumeFrom: dir });
    assert.deepEqual(weights(resumed.model), weights(straight.model));
    const strip = (h: EpochRecord[]) =>
      h.map(({ trainLoss, trainTop1, lr }) => ({ trainLoss, trainTop1, lr }));
    assert.deepEqual(strip(resumed.history), strip(straight.history));
    assert.equal(resumed.history.length, 2);
    // The schedule was restored too: epoch 2 trained at cos(π/2) of the initial lr.
    assert.ok(Math.abs(resumed.history[1].lr - 0.05) < 1e-12);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a failed checkpoint write leaves the previous checkpoint intact and no temporary files', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'convnets-atomic-'));
  try {
    const { model } = await run(1, { checkpointDir: dir });
    const before = await Promise.all(
      ['weights.safetensors', 'optimizer.safetensors', 'state.json'].map((f) => readFile(join(dir, f))),
    );
    // A released parameter cannot be read: the write fails part way through the weights file.
    model.parameters()[1].dispose();
    await assert.rejects(saveCheckpoint(dir, { model, epoch: 2 }));
    const after = await Promise.all(
      ['weights.safetensors', 'optimizer.safetensors', 'state.json'].map((f) => readFile(join(dir, f))),
    );
    assert.deepEqual(after, before);
    assert.deepEqual((await readdir(dir)).sort(), [
      'optimizer.safetensors',
      'state.json',
      'weights.safetensors',
    ]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
