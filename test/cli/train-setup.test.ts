import { test } from 'node:test';
import assert from 'node:assert/strict';
import { defaultsFor } from '../../src/cli/train-setup.js';
import * as models from '../../src/models/index.js';

test('training defaults live in each model’s info (LeNet-5’s are the main job’s, the CIFAR ResNets and plain nets share theirs); other models get generic ones from their input size', () => {
  assert.deepEqual(
    models
      .list()
      .filter((info) => info.training !== undefined)
      .map((info) => info.name),
    [
      'lenet5',
      'lenet5-1998',
      'resnet20',
      'resnet32',
      'resnet44',
      'resnet56',
      'resnet110',
      'plain20',
      'plain32',
      'plain44',
      'plain56',
    ],
  );
  // README: padded to 32×32, SGD lr 0.05 momentum 0.9, batch 64, cosine schedule, 8 epochs.
  assert.deepEqual(defaultsFor('lenet5'), {
    inputSize: 32,
    modelOptions: {},
    epochs: 8,
    batchSize: 64,
    optimizer: 'sgd',
    lr: 0.05,
    momentum: 0.9,
    weightDecay: 0,
    schedule: 'cosine',
    augment: 'none',
    origin: 'model',
  });
  // README: option A, one input channel, random crop + flip, SGD 0.1, cosine, 24 epochs.
  const resnet = defaultsFor('resnet56');
  assert.deepEqual(resnet.modelOptions, { inChannels: 1 });
  assert.deepEqual(
    [resnet.inputSize, resnet.epochs, resnet.lr, resnet.schedule, resnet.augment],
    [28, 24, 0.1, 'cosine', 'crop-flip'],
  );
  // He et al. 2015, Fig. 6: plain and residual nets of one depth under one recipe.
  assert.deepEqual(defaultsFor('plain56'), resnet);
  // The paper's loss and its scores (−distance) as the output, 20 passes.
  const lenet1998 = defaultsFor('lenet5-1998');
  assert.deepEqual(lenet1998.modelOptions, { output: 'scores' });
  assert.equal(lenet1998.epochs, 20);
  assert.equal(typeof lenet1998.loss, 'function');
  // Without tuned defaults: the published input size and the recipe for it (train-setup.ts defaultsFor).
  const vgg = defaultsFor('vgg16');
  assert.deepEqual(
    [vgg.origin, vgg.inputSize, vgg.batchSize, vgg.lr, vgg.weightDecay, vgg.augment],
    ['generic', 224, 32, 0.01, 1e-4, 'resized-crop,flip'],
  );
  const nin = defaultsFor('nin');
  assert.deepEqual([nin.inputSize, nin.batchSize, nin.augment], [32, 128, 'crop-flip']);
  assert.throws(() => defaultsFor('vgg17'), /unknown model 'vgg17'/);
});
