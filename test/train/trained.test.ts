import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setBackend } from '../../src/backend/registry.js';
import { arrayDataset, chwImage, loader, transforms } from '../../src/data/index.js';
import * as models from '../../src/models/index.js';
import * as nn from '../../src/nn/index.js';
import * as optim from '../../src/optim/index.js';
import { Generator } from '../../src/tensor/index.js';
import { fit, loadTrained, saveCheckpoint } from '../../src/train/index.js';
import { saveSafetensors } from '../../src/io/safetensors.js';
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

test('a checkpoint train.fit writes loads through loadTrained: the model, its options, class names and test-time transform', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'convnets-trained-'));
  try {
    const images = Float32Array.from({ length: 6 * 28 * 28 }, (_, i) => (i % 97) / 97);
    const dataset = arrayDataset(images, [0, 1, 2, 0, 1, 2], [1, 28, 28], { classNames: ['a', 'b', 'c'] });
    const model = models.get('lenet5', { numClasses: 3, seed: 4 });
    const train = loader(dataset, {
      batchSize: 3,
      seed: 1,
      transform: transforms.compose([
        transforms.pad(2),
        transforms.randomCrop(32, { padding: 2 }),
        transforms.randomHorizontalFlip(),
        transforms.normalize([0.5], [0.25]),
      ]),
    });
    const optimizer = optim.sgd(model.parameters(), { lr: 0.01 });
    await fit(model, train, { epochs: 1, optimizer, checkpointDir: dir });
    const trained = await loadTrained(dir);
    assert.equal(trained.meta.model, 'lenet5');
    assert.deepEqual(trained.meta.modelOptions, { numClasses: 3, seed: 4 });
    assert.deepEqual(weights(trained.model), weights(model));
    assert.deepEqual(trained.classNames, ['a', 'b', 'c']);
    assert.deepEqual(
      [trained.imageShape, trained.inputShape],
      [
        [1, 28, 28],
        [1, 32, 32],
      ],
    );
    // The training transform less its random steps: the crop of the whole padded image is a centre crop.
    assert.deepEqual(
      (trained.transform as { transforms: { kind: string }[] }).transforms.map((t) => t.kind),
      ['pad', 'centerCrop', 'normalize'],
    );
    // With a validation loader, its transform is the test-time one.
    const validation = loader(dataset, {
      batchSize: 6,
      transform: transforms.compose([transforms.pad(2), transforms.normalize([0.1], [0.2])]),
    });
    const other = join(dir, 'with-validation');
    const second = models.get('lenet5', { numClasses: 3 });
    await fit(second, loader(dataset, { batchSize: 3, transform: transforms.pad(2) }), {
      epochs: 1,
      optimizer: optim.sgd(second.parameters(), { lr: 0.01 }),
      validation,
      checkpointDir: other,
    });
    assert.deepEqual((await loadTrained(other)).transform, validation.transformSpec);
    // A model built outside the zoo cannot be rebuilt: loadTrained says so.
    const plain = join(dir, 'plain');
    const net = new nn.Sequential(new nn.Flatten(), new nn.Linear(784, 3));
    await fit(net, loader(dataset, { batchSize: 3 }), {
      epochs: 1,
      optimizer: optim.sgd(net.parameters(), { lr: 0.01 }),
      checkpointDir: plain,
    });
    await assert.rejects(loadTrained(plain), /does not name its model/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('loadTrained reads a single-file checkpoint: safetensors whose metadata holds the epoch and the meta', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'convnets-trained-'));
  try {
    const model = models.get('lenet5', { seed: 9 });
    const meta = { model: 'lenet5', modelOptions: { seed: 3 }, data: 'fashion-mnist', size: 32 };
    const file = join(dir, 'page.safetensors');
    await saveSafetensors(file, model.stateDict(), {
      format: 'convnets-checkpoint',
      epoch: '2',
      meta: JSON.stringify(meta),
    });
    const trained = await loadTrained(file);
    assert.deepEqual(weights(trained.model), weights(model));
    assert.equal(trained.epoch, 2);
    assert.equal(trained.dir, file);
    assert.deepEqual(trained.meta, meta);
    assert.equal(trained.model.training, false);

    await saveSafetensors(file, model.stateDict(), { format: 'convnets-checkpoint', epoch: '2', meta: '{' });
    await assert.rejects(loadTrained(file), /page\.safetensors: its metadata's meta is not JSON/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
