import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setBackend } from '../../src/backend/registry.js';
import { chwImage, transforms } from '../../src/data/index.js';
import * as models from '../../src/models/index.js';
import { Generator } from '../../src/tensor/index.js';
import { loadTrained, saveCheckpoint } from '../../src/train/index.js';
import { weights } from './helpers.js';

setBackend('reference');

test('loadTrained rebuilds the model a checkpoint names, with its weights, class names and test-time transform', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'convnets-trained-'));
  try {
    // Weights other than those the meta's build draws, as after training: equal only if they were loaded.
    const model = models.get('lenet5', { seed: 9 });
    const meta = { model: 'lenet5', modelOptions: { seed: 3 }, data: 'fashion-mnist', size: 32, seed: 3 };
    await saveCheckpoint(dir, { model, epoch: 4, meta });
    const trained = await loadTrained(dir);
    assert.notDeepEqual(weights(models.get('lenet5', { seed: 3 })), weights(model));
    assert.deepEqual(weights(trained.model), weights(model));
    assert.equal(trained.model.training, false);
    assert.equal(trained.epoch, 4);
    assert.equal(trained.dir, join(dir, 'epoch-4'));
    assert.deepEqual(trained.meta, meta);
    assert.deepEqual(trained.imageShape, [1, 28, 28]);
    assert.equal(trained.classNames[9], 'Ankle boot');

    // 28×28 padded by 2 to LeNet-5's 32×32, then (x − 0.286) / 0.353, Fashion-MNIST's statistics.
    const image = chwImage(new Float32Array(28 * 28).fill(0.5), 1, 28, 28);
    const [prepared] = transforms.makeTransform(trained.transform)(image, new Generator(0));
    assert.deepEqual([prepared.channels, prepared.height, prepared.width], [1, 32, 32]);
    assert.ok(Math.abs(prepared.data[0] - (0 - 0.286) / 0.353) < 1e-6, `border ${prepared.data[0]}`);
    assert.ok(Math.abs(prepared.data[16 * 32 + 16] - (0.5 - 0.286) / 0.353) < 1e-6);

    // The weights file, or the checkpoint's own directory, names the same checkpoint.
    for (const path of [join(dir, 'epoch-4', 'weights.safetensors'), join(dir, 'epoch-4')])
      assert.equal((await loadTrained(path)).epoch, 4);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('loadTrained names what is missing', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'convnets-trained-'));
  try {
    await assert.rejects(loadTrained(join(dir, 'absent')), /absent: no such file or directory/);
    await saveCheckpoint(dir, { model: models.get('lenet5'), epoch: 1 });
    await assert.rejects(
      loadTrained(dir),
      /does not name its model \(save it through train\.fit with a model from the zoo, or convnets train\)/,
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
