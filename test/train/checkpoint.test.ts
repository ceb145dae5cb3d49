import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setBackend } from '../../src/backend/registry.js';
import { loader } from '../../src/data/index.js';
import * as optim from '../../src/optim/index.js';
import { manualSeed } from '../../src/tensor/index.js';
import { FormatError } from '../../src/errors.js';
import { loadWeights } from '../../src/io/index.js';
import {
  MANIFEST_FILE,
  OPTIMIZER_FILE,
  STATE_FILE,
  WEIGHTS_FILE,
  fit,
  loadCheckpoint,
  readCheckpointState,
  resolveCheckpoint,
  saveCheckpoint,
  type EpochRecord,
} from '../../src/train/index.js';
import { halvesDataset, tinyNet, weights } from './helpers.js';

setBackend('reference');

async function run(
  epochs: number,
  options: { checkpointDir?: string; resumeFrom?: string; meta?: Record<string, unknown> } = {},
) {
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

test('fit creates its checkpoint directory, parents included', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'convnets-resume-'));
  try {
    await run(1, { checkpointDir: join(dir, 'a', 'b') });
    assert.deepEqual((await readdir(join(dir, 'a', 'b'))).sort(), ['checkpoint.json', 'epoch-1']);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('resuming a checkpoint of another model names both models, not thousands of keys', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'convnets-resume-'));
  try {
    await run(1, { checkpointDir: dir, meta: { model: 'lenet5' } });
    await assert.rejects(
      run(2, { resumeFrom: dir, meta: { model: 'resnet20' } }),
      /^ValueError: fit: the checkpoint in .* was written for lenet5, not resnet20; resume it with lenet5/,
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a failed checkpoint write leaves the previous checkpoint intact and no temporary files', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'convnets-atomic-'));
  try {
    const { model } = await run(1, { checkpointDir: dir });
    const files = [
      'checkpoint.json',
      'epoch-1/weights.safetensors',
      'epoch-1/optimizer.safetensors',
      'epoch-1/state.json',
    ];
    const before = await Promise.all(files.map((f) => readFile(join(dir, f))));
    // A released parameter cannot be read: the write fails part way through the weights file.
    model.parameters()[1].dispose();
    await assert.rejects(saveCheckpoint(dir, { model, epoch: 2 }));
    const after = await Promise.all(files.map((f) => readFile(join(dir, f))));
    assert.deepEqual(after, before);
    assert.deepEqual((await readdir(dir)).sort(), ['checkpoint.json', 'epoch-1']);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a run keeps one checkpoint: checkpoint.json names epoch-N/, whose weights load on their own', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'convnets-layout-'));
  try {
    const { model } = await run(2, { checkpointDir: dir });
    assert.deepEqual((await readdir(dir)).sort(), ['checkpoint.json', 'epoch-2']);
    assert.deepEqual(JSON.parse(await readFile(join(dir, MANIFEST_FILE), 'utf8')), {
      format: 'convnets-checkpoint-manifest',
      current: 'epoch-2',
    });
    assert.deepEqual((await readdir(join(dir, 'epoch-2'))).sort(), [
      OPTIMIZER_FILE,
      STATE_FILE,
      WEIGHTS_FILE,
    ]);
    assert.equal(await resolveCheckpoint(dir), join(dir, 'epoch-2'));
    // The weights file is a plain safetensors file: io.loadWeights reads it into a fresh model.
    const fresh = tinyNet(99);
    await loadWeights(fresh, join(dir, 'epoch-2', WEIGHTS_FILE));
    assert.deepEqual(weights(fresh), weights(model));
    // The epoch-N directory is a checkpoint by itself too.
    assert.equal((await readCheckpointState(join(dir, 'epoch-2'))).epoch, 2);
    // A second save of the same epoch takes another name, since the current one cannot be replaced in place.
    await saveCheckpoint(dir, { model, epoch: 2 });
    assert.deepEqual((await readdir(dir)).sort(), ['checkpoint.json', 'epoch-2-2']);
    await saveCheckpoint(dir, { model, epoch: 2 });
    assert.deepEqual((await readdir(dir)).sort(), ['checkpoint.json', 'epoch-2']);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

/** Moves the current checkpoint's files to the top and drops checkpoint.json: the layout before it. */
async function toEarlierLayout(dir: string): Promise<void> {
  const current = await resolveCheckpoint(dir);
  for (const file of await readdir(current)) await rename(join(current, file), join(dir, file));
  await rm(current, { recursive: true });
  await rm(join(dir, MANIFEST_FILE));
}

test('a checkpoint of the earlier layout (three files at the top) resumes exactly; the next save replaces it', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'convnets-earlier-'));
  try {
    const straight = await run(3);
    await run(1, { checkpointDir: dir });
    await toEarlierLayout(dir);
    assert.deepEqual((await readdir(dir)).sort(), [OPTIMIZER_FILE, STATE_FILE, WEIGHTS_FILE]);
    assert.equal((await readCheckpointState(dir)).epoch, 1);
    const resumed = await run(3, { checkpointDir: dir, resumeFrom: dir });
    assert.deepEqual(weights(resumed.model), weights(straight.model));
    assert.deepEqual((await readdir(dir)).sort(), ['checkpoint.json', 'epoch-3']);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('leftovers of a killed save are never read, and the next save removes them', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'convnets-leftovers-'));
  try {
    const { model } = await run(2, { checkpointDir: dir });
    // What kills at different moments leave: a temporary checkpoint, a complete one never switched to, a temporary
    // checkpoint.json, and the files of the earlier layout.
    await mkdir(join(dir, '.epoch-3.123.0badc0de.tmp'));
    await writeFile(join(dir, '.epoch-3.123.0badc0de.tmp', STATE_FILE), '{"half": ');
    await mkdir(join(dir, 'epoch-3'));
    await writeFile(join(dir, 'epoch-3', STATE_FILE), 'not even JSON');
    await writeFile(
      join(dir, '.checkpoint.json.123.deadbeef.tmp'),
      '{"format": "convnets-checkpoint-manifest"',
    );
    await writeFile(join(dir, WEIGHTS_FILE), 'an older weights file');
    await writeFile(
      join(dir, STATE_FILE),
      JSON.stringify({ format: 'convnets-checkpoint', epoch: 1, history: [] }),
    );
    const restored = tinyNet(99);
    assert.equal((await loadCheckpoint(dir, { model: restored })).epoch, 2);
    assert.deepEqual(weights(restored), weights(model));
    await saveCheckpoint(dir, { model, epoch: 3 });
    assert.deepEqual((await readdir(dir)).sort(), ['checkpoint.json', 'epoch-3']);
    assert.equal((await readCheckpointState(dir)).epoch, 3);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('loading names what is missing: no directory, no checkpoint, a checkpoint without its weights', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'convnets-missing-'));
  try {
    await assert.rejects(
      readCheckpointState(join(dir, 'nope')),
      /no checkpoint in .*nope: no such directory/,
    );
    await assert.rejects(readCheckpointState(dir), /no checkpoint in .*: cannot read state\.json/);
    const { model } = await run(1, { checkpointDir: dir });
    await rm(join(dir, 'epoch-1', WEIGHTS_FILE));
    await assert.rejects(
      loadCheckpoint(dir, { model }),
      (error: Error) =>
        error instanceof FormatError && /weights\.safetensors: missing.*incomplete/.test(error.message),
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
