// Freezing for transfer learning: the head found and replaced as PyTorch initialises a Linear, frozen layers left
// bit-identical by training (BatchNorm's running statistics included) with no gradient computed for them, the next
// stage unfrozen, and learning rates spread over the layer groups.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { arrayDataset, loader } from '../../src/data/index.js';
import * as models from '../../src/models/index.js';
import { BatchNorm2d, Linear, type Module } from '../../src/nn/index.js';
import { sgd } from '../../src/optim/index.js';
import { crossEntropy, Generator, randn, tensor } from '../../src/tensor/index.js';
import {
  discriminativeGroups,
  fit,
  freezeModel,
  headPath,
  replaceHead,
  unfreezeMore,
} from '../../src/train/index.js';

test('the head is the last Linear layer: fc, classifier.6, classifier, as torchvision names them', () => {
  const expected: Record<string, string> = {
    resnet18: 'fc',
    resnet20: 'fc',
    alexnet: 'classifier.6',
    densenet121: 'classifier',
    googlenet: 'fc',
    lenet5: headPath(models.get('lenet5')),
  };
  for (const [name, path] of Object.entries(expected)) {
    const net = models.get(name);
    assert.equal(headPath(net, models.info(name).head), path, name);
    const head = net.get(path) as Linear;
    assert.equal(head.outFeatures, models.info(name).numClasses, `${name}: the head gives the class scores`);
  }
  assert.throws(() => headPath(models.get('nin')), /has no Linear layer to serve as its head/);
  assert.throws(() => headPath(models.get('resnet20'), 'layer1'), /is a Sequential, not a Linear/);
});

test('replaceHead puts a new Linear for N classes in place, initialised as torch.nn.Linear (±1/√fan-in)', () => {
  const net = models.get('alexnet', { seed: 1 });
  const head = replaceHead(net, 7, { generator: new Generator(3) });
  assert.equal(net.get('classifier.6'), head);
  assert.deepEqual(head.weight.shape, [7, 4096]);
  const bound = 1 / Math.sqrt(4096);
  for (const t of [head.weight, head.bias!]) {
    const values = t.data();
    assert.ok(values.every((v) => Math.abs(v) <= bound));
    // Uniform on ±bound: the spread of 28,672 draws is close to bound/√3.
    const rms = Math.sqrt(Array.from(values).reduce((s, v) => s + v * v, 0) / values.length);
    if (values.length > 1000) assert.ok(Math.abs(rms / (bound / Math.sqrt(3)) - 1) < 0.02, `rms ${rms}`);
  }
  assert.deepEqual(
    replaceHead(models.get('alexnet', { seed: 1 }), 7, { generator: new Generator(3) }).weight.data(),
    head.weight.data(),
  );
  assert.ok(net.stateDict().has('classifier.6.weight'));
  assert.ok(head.weight.requiresGrad);

  // A head that is a constructor's property keeps its place among the children, so all before it can be frozen.
  const resnet = models.get('resnet20');
  const order = resnet.namedChildren().map(([name]) => name);
  replaceHead(resnet, 5);
  assert.deepEqual(
    resnet.namedChildren().map(([name]) => name),
    order,
  );
  assert.deepEqual(freezeModel(resnet, 'all-but-head').at(-1), 'avgpool');
  assert.equal(resnet.numParameters({ trainableOnly: true }), 64 * 5 + 5);
});

/** Every tensor of the state dict whose key starts with one of the prefixes, copied. */
function snapshot(net: Module, prefixes: readonly string[]): Map<string, Float32Array | Int32Array> {
  const out = new Map<string, Float32Array | Int32Array>();
  for (const [key, t] of net.stateDict())
    if (prefixes.some((p) => key.startsWith(`${p}.`))) out.set(key, t.data().slice());
  return out;
}

function tinyImages(n: number, seed: number) {
  const x = randn([n, 3, 32, 32], { generator: new Generator(seed) });
  const labels = Array.from({ length: n }, (_, i) => i % 10);
  return arrayDataset(Float32Array.from(x.data()), labels, [3, 32, 32]);
}

test('frozen layers, buffers included, are bit-identical after training; no gradient is computed for them', async () => {
  const net = models.get('resnet20', { seed: 2 });
  const frozen = freezeModel(net, 'layer2');
  assert.deepEqual(frozen, ['conv1', 'bn1', 'relu', 'layer1', 'layer2']);
  const before = snapshot(net, frozen);
  const unfrozenBefore = snapshot(net, ['layer3', 'fc']);
  assert.ok(
    [...before.keys()].some((k) => k.endsWith('running_mean')),
    'buffers are in the snapshot',
  );
  assert.ok([...before.keys()].some((k) => k.endsWith('num_batches_tracked')));

  // One step by hand: the frozen weights get no gradient at all.
  net.train();
  assert.equal(
    (net.get('bn1') as BatchNorm2d).training,
    false,
    'a frozen BatchNorm stays in evaluation mode',
  );
  assert.equal((net.get('layer3.0.bn1') as BatchNorm2d).training, true);
  const x = randn([4, 3, 32, 32], { generator: new Generator(9) });
  crossEntropy(net.call(x), tensor(Int32Array.from([1, 2, 3, 4]), [4])).backward();
  for (const [name, p] of net.namedParameters()) {
    const isFrozen = frozen.some((f) => name.startsWith(`${f}.`));
    assert.equal(p.grad === null, isFrozen, `${name}: gradient ${p.grad === null ? 'absent' : 'present'}`);
  }
  net.zeroGrad();

  await fit(net, loader(tinyImages(16, 4), { batchSize: 8, shuffle: true, seed: 1 }), {
    epochs: 2,
    optimizer: sgd(net.parameters(), { lr: 0.1, momentum: 0.9, weightDecay: 1e-3 }),
  });
  for (const [key, values] of snapshot(net, frozen))
    assert.deepEqual(values, before.get(key), `${key} changed though frozen`);
  const after = snapshot(net, ['layer3', 'fc']);
  for (const key of ['layer3.0.conv1.weight', 'layer3.0.bn1.running_mean', 'fc.weight'])
    assert.notDeepEqual(after.get(key), unfrozenBefore.get(key), `${key} trained`);
});

test("'all-but-head' freezes all that runs before the head; unfreezeMore opens the last stage, then all", () => {
  const net = models.get('resnet20', { seed: 2 });
  assert.deepEqual(freezeModel(net, 'all-but-head'), [
    'conv1',
    'bn1',
    'relu',
    'layer1',
    'layer2',
    'layer3',
    'avgpool',
  ]);
  assert.equal(net.numParameters({ trainableOnly: true }), 64 * 10 + 10);
  assert.equal(net.training, true, 'the root is never frozen');
  assert.deepEqual(freezeModel(net, 'layer3.1'), [
    'conv1',
    'bn1',
    'relu',
    'layer1',
    'layer2',
    'layer3.0',
    'layer3.1',
  ]);
  assert.equal(net.get('layer3.2').frozen, false);
  assert.deepEqual(freezeModel(net, 'none'), []);
  assert.equal(net.numParameters({ trainableOnly: true }), net.numParameters());
  assert.throws(() => freezeModel(net, 'fc'), /would freeze the head 'fc' too/);
  assert.throws(() => freezeModel(net, 'layer9'), /has no child 'layer9'/);

  freezeModel(net, 'all-but-head');
  net.eval();
  assert.deepEqual(unfreezeMore(net, 'next'), ['layer3']);
  assert.equal(net.get('layer3.0.bn1').frozen, false);
  assert.equal(net.get('layer3.0.bn1').training, false, 'unfrozen into the mode last asked for (eval)');
  net.train();
  assert.equal(net.get('layer3.0.bn1').training, true);
  assert.equal(net.get('layer2.0.bn1').training, false);
  assert.deepEqual(unfreezeMore(net, 'all'), ['conv1', 'bn1', 'layer1', 'layer2']);
  assert.equal(net.get('layer2.0.bn1').training, true);
  assert.equal(net.numParameters({ trainableOnly: true }), net.numParameters());
});

test('discriminative rates grow geometrically from lr/ratio at the lowest trainable group to lr at the head', () => {
  const net = models.get('resnet20', { seed: 2 });
  freezeModel(net, 'layer1');
  const groups = discriminativeGroups(net, 0.01, 100);
  assert.deepEqual(
    groups.map((g) => g.modules[0]),
    ['layer2', 'layer3', 'fc'],
  );
  const lrs = groups.map((g) => g.lr);
  for (const [actual, expected] of lrs.map((lr, i) => [lr, [1e-4, 1e-3, 1e-2][i]]))
    assert.ok(Math.abs(actual / expected - 1) < 1e-12, `${actual} vs ${expected}`);
  assert.equal(
    groups.reduce((n, g) => n + g.params.length, 0),
    net.parameters().filter((p) => p.requiresGrad).length,
  );
});
