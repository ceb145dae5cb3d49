import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setBackend } from '../../src/backend/registry.js';
import { arrayDataset, loader } from '../../src/data/index.js';
import { ValueError } from '../../src/errors.js';
import * as nn from '../../src/nn/index.js';
import * as optim from '../../src/optim/index.js';
import { tensor } from '../../src/tensor/index.js';
import { GradNormLogger, fit, weightLayers } from '../../src/train/index.js';
import { tinyNet } from './helpers.js';

setBackend('reference');

const x = [1, 2];
const w1 = [
  [0.5, -1],
  [2, 0.25],
];
const b1 = [0.1, -0.2];
const w2 = [
  [1, -0.5],
  [0.3, 0.8],
];

/** Two linear layers with the weights above, no activation: gradients small enough to work by hand. */
function twoLayers(): nn.Sequential {
  const first = new nn.Linear(2, 2);
  first.weight.assign(tensor(w1.flat(), [2, 2]));
  first.bias!.assign(tensor(b1));
  const second = new nn.Linear(2, 2);
  second.weight.assign(tensor(w2.flat(), [2, 2]));
  second.bias!.assign(tensor([0, 0]));
  return new nn.Sequential(first, second);
}

/**
 * Cross-entropy of label 0 by hand: h = W1 x + b1, z = W2 h, dz = softmax(z) − e0, dW2 = dz hᵀ, dW1 = (W2ᵀ dz) xᵀ;
 * the Frobenius norm of an outer product u vᵀ is |u| |v|.
 */
function handNorms(): { first: number; second: number } {
  const h = w1.map((row, i) => row[0] * x[0] + row[1] * x[1] + b1[i]);
  const z = w2.map((row) => row[0] * h[0] + row[1] * h[1]);
  const total = Math.exp(z[0]) + Math.exp(z[1]);
  const dz = [Math.exp(z[0]) / total - 1, Math.exp(z[1]) / total];
  const dh = [w2[0][0] * dz[0] + w2[1][0] * dz[1], w2[0][1] * dz[0] + w2[1][1] * dz[1]];
  const length = (v: number[]) => Math.hypot(...v);
  return { first: length(dh) * length(x), second: length(dz) * length(h) };
}

const oneSample = (count: number) =>
  loader(
    arrayDataset(
      Float32Array.from({ length: 2 * count }, (_, i) => x[i % 2]),
      new Array(count).fill(0),
      [1, 1, 2],
      { classNames: ['first', 'second'] },
    ),
    {
      batchSize: 1,
    },
  );

test('GradNormLogger records each weight layer gradient norm, before clipping, as worked by hand', async () => {
  const model = new nn.Sequential(new nn.Flatten(), twoLayers());
  const logger = new GradNormLogger(model);
  assert.deepEqual(logger.layers, ['1.0', '1.1']);
  await fit(model, oneSample(1), {
    epochs: 1,
    optimizer: optim.sgd(model.parameters(), { lr: 0.1 }),
    clipGradNorm: 1e-3,
    callbacks: [logger],
  });
  const { first, second } = handNorms();
  assert.equal(logger.records.length, 1);
  const [record] = logger.records;
  assert.deepEqual([record.epoch, record.step, record.globalStep], [1, 1, 1]);
  assert.ok(Math.abs(record.norms['1.0'] - first) < 1e-5, `${record.norms['1.0']} vs ${first}`);
  assert.ok(Math.abs(record.norms['1.1'] - second) < 1e-5, `${record.norms['1.1']} vs ${second}`);
  assert.ok(first > 1e-2 && second > 1e-2, 'norms far above the clipping threshold');
});

test('GradNormLogger records at the chosen steps, counted across epochs', async () => {
  const run = async (options: { every?: number; steps?: number[] }) => {
    const model = new nn.Sequential(new nn.Flatten(), twoLayers());
    const logger = new GradNormLogger(model, options);
    await fit(model, oneSample(3), {
      epochs: 2,
      optimizer: optim.sgd(model.parameters(), { lr: 0.01 }),
      callbacks: [logger],
    });
    return logger.records.map((r) => [r.epoch, r.step, r.globalStep]);
  };
  assert.deepEqual(await run({ every: 2 }), [
    [1, 1, 1],
    [1, 3, 3],
    [2, 2, 5],
  ]);
  assert.deepEqual(await run({ steps: [4, 6] }), [
    [2, 1, 4],
    [2, 3, 6],
  ]);
  assert.throws(() => new GradNormLogger(twoLayers(), { every: 0 }), ValueError);
});

test('weight layers are convolutions and fully connected layers, not normalisation scales', () => {
  assert.deepEqual(
    weightLayers(tinyNet()).map(([path]) => path),
    ['0', '4'],
  );
});
