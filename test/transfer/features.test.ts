// Cached features equal a fresh forward pass of the frozen part, are read back on a second run with the same
// weights and data and recomputed when either changes; train.transfer trains the head on them, then fine-tunes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { arrayDataset, transforms } from '../../src/data/index.js';
import {
  AdaptiveAvgPool2d,
  BatchNorm2d,
  Conv2d,
  Flatten,
  Linear,
  ReLU,
  Sequential,
  type Module,
} from '../../src/nn/index.js';
import { Generator, noGrad, randn, tensor } from '../../src/tensor/index.js';
import { cachedFeatures, freezeModel, transfer } from '../../src/train/index.js';

/** A small "pretrained" net: conv, BN with non-trivial running statistics, pooling, a Linear head at '5'. */
function pretrained(seed = 1): Sequential {
  const generator = new Generator(seed);
  const net = new Sequential(
    new Conv2d(3, 6, 3, { padding: 1, generator }),
    new BatchNorm2d(6),
    new ReLU(),
    new AdaptiveAvgPool2d(2),
    new Flatten(),
    new Linear(24, 4, { generator }),
  );
  const bn = net.at(1) as BatchNorm2d;
  bn.getBuffer('running_mean')!.assign(tensor(Float32Array.from([0.1, -0.2, 0.3, 0, 0.05, -0.1]), [6]));
  bn.getBuffer('running_var')!.assign(tensor(Float32Array.from([0.5, 1.5, 1, 2, 0.8, 1.2]), [6]));
  return net;
}

/** Images whose class is the brightest of three quadrants, so a head on pooled features can learn them. */
function images(n: number, seed: number) {
  const x = randn([n, 3, 8, 8], { generator: new Generator(seed) })
    .data()
    .slice();
  const labels: number[] = [];
  for (let i = 0; i < n; i++) {
    const label = i % 3;
    for (let c = 0; c < 3; c++) for (let p = 0; p < 64; p++) x[i * 192 + c * 64 + p] += c === label ? 1.5 : 0;
    labels.push(label);
  }
  return arrayDataset(Float32Array.from(x), labels, [3, 8, 8], { classNames: ['r', 'g', 'b'] });
}

const outDir = () => mkdtempSync(join(tmpdir(), 'convnets-features-'));

function frozenPart(net: Sequential): (x: ReturnType<typeof randn>) => Float32Array {
  return (x) =>
    noGrad(() =>
      Float32Array.from(new Sequential(...[0, 1, 2, 3, 4].map((i) => net.at(i))).eval().call(x).data()),
    );
}

test('cached features equal a fresh forward pass of the frozen part, and a second run reads them back', async () => {
  const net = pretrained();
  const data = images(10, 2);
  const dir = outDir();
  const first = await cachedFeatures(net, data, { dir, head: '5', split: 'train', batchSize: 4 });
  assert.equal(first.reused, false);
  assert.deepEqual(first.dataset.shape, [24, 1, 1]);
  assert.deepEqual(first.dataset.classNames, ['r', 'g', 'b']);
  const all = tensor(
    Float32Array.from({ length: 10 * 192 }, (_, i) => data.get(Math.floor(i / 192)).image[i % 192]),
    [10, 3, 8, 8],
  );
  const fresh = frozenPart(net)(all);
  const cached = Float32Array.from(
    { length: 10 * 24 },
    (_, i) => first.dataset.get(Math.floor(i / 24)).image[i % 24],
  );
  assert.deepEqual(cached, fresh);
  assert.deepEqual(
    Array.from({ length: 10 }, (_, i) => first.dataset.get(i).label),
    Array.from({ length: 10 }, (_, i) => i % 3),
  );
  assert.equal(net.training, true, 'the model is back in its mode');

  const second = await cachedFeatures(net, data, { dir, head: '5', split: 'train', batchSize: 4 });
  assert.equal(second.reused, true);
  assert.equal(second.file, first.file);
  assert.deepEqual(
    Float32Array.from({ length: 240 }, (_, i) => second.dataset.get(Math.floor(i / 24)).image[i % 24]),
    cached,
  );

  // The head's own weights do not matter; a frozen weight, a BN statistic or the data do.
  (net.at(5) as Linear).weight.assign(randn([4, 24]));
  assert.equal((await cachedFeatures(net, data, { dir, head: '5', split: 'train' })).reused, true);
  (net.at(1) as BatchNorm2d).getBuffer('running_mean')!.assign(randn([6]));
  assert.equal((await cachedFeatures(net, data, { dir, head: '5', split: 'train' })).reused, false);
  assert.equal((await cachedFeatures(net, images(10, 3), { dir, head: '5', split: 'train' })).reused, false);
  assert.equal(readdirSync(dir).filter((f) => f.endsWith('.safetensors')).length, 3);
});

test('augmented copies: N passes under different draws of the transform', async () => {
  const net = pretrained();
  const data = images(6, 4);
  const augment = transforms.compose([
    transforms.randomHorizontalFlip(0.5),
    transforms.randomCrop(8, { padding: 2 }),
  ]);
  const { dataset } = await cachedFeatures(net, data, {
    dir: outDir(),
    head: '5',
    split: 'train',
    copies: 3,
    transform: augment,
    seed: 7,
  });
  assert.equal(dataset.length, 18);
  const row = (i: number) => dataset.get(i).image;
  assert.notDeepEqual(row(0), row(6), 'the copies differ');
  assert.equal(dataset.get(6).label, dataset.get(0).label);
});

/** Copies of the state dict entries whose key starts with one of the prefixes. */
function snapshot(net: Module, prefixes: readonly string[]): Map<string, Float32Array | Int32Array> {
  return new Map(
    [...net.stateDict()]
      .filter(([k]) => prefixes.some((p) => k.startsWith(p)))
      .map(([k, t]) => [k, t.data().slice()]),
  );
}

test('train.transfer: a new head trained on cached features, the body untouched, and reuse on a second run', async () => {
  const dir = outDir();
  const run = async () => {
    const net = pretrained();
    const body = snapshot(net, ['0.', '1.']);
    const result = await transfer(net, images(30, 5), {
      epochs: 12,
      lr: 0.1,
      batchSize: 10,
      validation: images(12, 6),
      cacheFeatures: { dir },
    });
    assert.deepEqual(snapshot(net, ['0.', '1.']), body);
    assert.deepEqual((net.at(5) as Linear).weight.shape, [3, 24], 'a head for the 3 classes of the data');
    return result;
  };
  const first = await run();
  assert.deepEqual(first.frozen, ['0', '1', '2', '3', '4']);
  assert.equal(first.featureCache?.reused, false);
  assert.equal(first.history.length, 12);
  assert.ok(
    first.history[11].trainLoss < first.history[0].trainLoss * 0.8,
    JSON.stringify(first.history.map((r) => r.trainLoss)),
  );
  assert.ok(first.history[11].valTop1! > 0.6, `validation top-1 ${first.history[11].valTop1}`);
  const second = await run();
  assert.equal(second.featureCache?.reused, true);
  assert.equal(second.featureCache?.train, first.featureCache?.train);
  assert.deepEqual(
    second.history.map((r) => r.trainLoss),
    first.history.map((r) => r.trainLoss),
  );
});

test('train.transfer: unfreezing after E epochs trains the body at a lower rate, BN statistics included', async () => {
  const net = pretrained();
  const result = await transfer(net, images(20, 7), {
    epochs: 3,
    unfreezeAfter: 1,
    unfreeze: 'all',
    lr: 0.05,
    batchSize: 10,
  });
  assert.deepEqual(result.unfrozen, ['0', '1']);
  assert.deepEqual(
    result.history.map((r) => r.epoch),
    [1, 2, 3],
  );
  assert.equal(result.history[1].lr, 0.05 / 100, "the first group's rate is the lowest");
  assert.notDeepEqual(
    (net.at(1) as BatchNorm2d).getBuffer('running_mean')!.data(),
    Float32Array.from([0.1, -0.2, 0.3, 0, 0.05, -0.1]),
  );
  assert.equal(net.numParameters({ trainableOnly: true }), net.numParameters());
  freezeModel(net, 'none');
  await assert.rejects(
    transfer(pretrained(), images(6, 1), { epochs: 1, freeze: '0', cacheFeatures: { dir: outDir() } }),
    /cached features need everything below the head '5' frozen/,
  );
});
