import { test } from 'node:test';
import assert from 'node:assert/strict';
import { getBackend } from '../../src/backend/registry.js';
import { ShapeError, ValueError } from '../../src/errors.js';
import {
  BatchNorm2d,
  Conv2d,
  Dropout,
  Flatten,
  Linear,
  MaxPool2d,
  ReLU,
  Sequential,
  keyMismatch,
} from '../../src/nn/index.js';
import { Generator, crossEntropy, randn, scope, sum, tensor, type Tensor } from '../../src/tensor/index.js';
import { unreleased } from '../memory.js';

function smallNet(seed: number): Sequential {
  const generator = new Generator(seed);
  return new Sequential(
    new Conv2d(2, 3, 3, { padding: 1, generator }),
    new BatchNorm2d(3),
    new ReLU(),
    new MaxPool2d(2),
    new Flatten(),
    new Dropout(0.5, { generator }),
    new Linear(12, 4, { generator }),
  );
}

function values(t: Tensor): number[] {
  return Array.from(t.data());
}

test('loadStateDict copies every value in and keeps the tensors the model holds', () => {
  const source = smallNet(1);
  const target = smallNet(2);
  const before = [...target.stateDict().values()];
  assert.notDeepEqual(
    values(target.stateDict().get('0.weight')!),
    values(source.stateDict().get('0.weight')!),
  );
  source.call(randn([2, 2, 4, 4])); // moves the running statistics and the batch counter off their initial values
  const result = target.loadStateDict(source.stateDict());
  assert.deepEqual(result, { missingKeys: [], unexpectedKeys: [] });
  for (const [key, t] of target.stateDict())
    assert.deepEqual(values(t), values(source.stateDict().get(key)!), key);
  assert.deepEqual([...target.stateDict().values()], before, 'same tensor objects');
  assert.ok(target.parameters().every((p) => p.requiresGrad));
  assert.equal(target.stateDict().get('1.num_batches_tracked')!.item(), 1);
  // A copy, not shared storage: changing the source leaves the target alone.
  (source.at(0) as Conv2d).weight.assign(randn([3, 2, 3, 3]));
  assert.notDeepEqual(values((target.at(0) as Conv2d).weight), values((source.at(0) as Conv2d).weight));
});

test('strict loading names missing and unexpected keys and copies nothing', () => {
  const target = smallNet(2);
  const original = values((target.at(0) as Conv2d).weight);
  const state = new Map(smallNet(1).stateDict());
  state.delete('1.running_var');
  state.set('7.weight', tensor([1, 2]));
  assert.throws(
    () => target.loadStateDict(state),
    (e: unknown) => {
      assert.ok(e instanceof ValueError);
      assert.match(e.message, /1 missing key \('1\.running_var'\)/);
      assert.match(e.message, /1 unexpected key \('7\.weight'\)/);
      return true;
    },
  );
  assert.deepEqual(
    values((target.at(0) as Conv2d).weight),
    original,
    'a failed load leaves the model unchanged',
  );
});

test('a mismatch of many keys is counted, naming three of each', () => {
  const message = keyMismatch({
    missingKeys: ['a', 'b', 'c', 'd', 'e'],
    unexpectedKeys: ['x'],
  });
  assert.equal(message, "5 missing keys ('a', 'b', 'c', and 2 more); 1 unexpected key ('x')");
  assert.equal(keyMismatch({ missingKeys: [], unexpectedKeys: [] }), '');
});

test('a mis-shaped key is a ShapeError naming the key and both shapes, strict or not', () => {
  const target = smallNet(2);
  const state = smallNet(1).stateDict();
  state.set('6.weight', randn([10, 12]));
  for (const strict of [true, false]) {
    assert.throws(
      () => target.loadStateDict(state, { strict }),
      (e: unknown) => {
        assert.ok(e instanceof ShapeError);
        assert.match(e.message, /'6\.weight' is \[10, 12\] in the state dict but \[4, 12\] in the model/);
        return true;
      },
    );
  }
});

test('non-strict loading loads the keys that match and reports the rest', () => {
  const source = smallNet(1);
  const target = smallNet(2);
  const state: Record<string, Tensor> = Object.fromEntries(source.stateDict());
  delete state['6.bias'];
  state['fc.weight'] = randn([1, 1]);
  const result = target.loadStateDict(state, { strict: false });
  assert.deepEqual(result, { missingKeys: ['6.bias'], unexpectedKeys: ['fc.weight'] });
  assert.deepEqual(values((target.at(6) as Linear).weight), values((source.at(6) as Linear).weight));
  assert.notDeepEqual(values((target.at(6) as Linear).bias!), values((source.at(6) as Linear).bias!));
});

test('a float32 num_batches_tracked (as importers may give) is cast to the int32 buffer', () => {
  const target = smallNet(2);
  const state = smallNet(1).stateDict();
  state.set('1.num_batches_tracked', tensor([7], []));
  target.loadStateDict(state);
  const tracked = (target.at(1) as BatchNorm2d).numBatchesTracked!;
  assert.deepEqual([tracked.dtype, tracked.item()], ['int32', 7]);
});

function gradientHolders(net: Sequential): string[] {
  return net
    .namedParameters()
    .filter(([, p]) => p.grad !== null)
    .map(([name]) => name);
}

test('freeze stops gradients for a sub-tree; unfreeze restores them', () => {
  const net = smallNet(3);
  const x = randn([2, 2, 4, 4]);
  const labels = tensor(Int32Array.of(0, 3));
  const all = net.namedParameters().map(([name]) => name);

  net.at(0).freeze();
  assert.equal(net.numParameters({ trainableOnly: true }), net.numParameters() - 3 * 2 * 9 - 3);
  crossEntropy(net.call(x), labels).backward();
  assert.deepEqual(
    gradientHolders(net),
    all.filter((name) => !name.startsWith('0.')),
  );

  net.zeroGrad();
  assert.deepEqual(gradientHolders(net), []);
  net.freeze();
  net.at(6).unfreeze();
  crossEntropy(net.call(x), labels).backward();
  assert.deepEqual(gradientHolders(net), ['6.weight', '6.bias']);

  net.zeroGrad();
  net.unfreeze();
  crossEntropy(net.call(x), labels).backward();
  assert.deepEqual(gradientHolders(net), all);
});

test('gradients accumulate across backward calls until zeroGrad', () => {
  const layer = new Linear(3, 2, { generator: new Generator(4) });
  const x = randn([5, 3]);
  sum(layer.call(x)).backward();
  const once = values(layer.weight.grad!);
  sum(layer.call(x)).backward();
  values(layer.weight.grad!).forEach((g, i) => assert.ok(Math.abs(g - 2 * once[i]) < 1e-5));
  layer.zeroGrad();
  assert.equal(layer.weight.grad, null);
});

test('a forward and backward pass inside scope leaves live storages where they were once grads are cleared', () => {
  const backend = getBackend();
  const net = smallNet(5);
  const x = randn([2, 2, 4, 4]);
  const labels = tensor(Int32Array.of(1, 2));
  const warmUp = (): void => scope(() => crossEntropy(net.call(x), labels).backward());
  warmUp();
  net.zeroGrad();
  const before = unreleased(backend);
  for (let step = 0; step < 3; step++) {
    warmUp();
    net.zeroGrad();
    assert.equal(unreleased(backend), before, `step ${step}`);
  }
  // Gradients themselves survive the scope until zeroGrad releases them.
  warmUp();
  assert.equal(unreleased(backend), before + net.parameters().length);
  net.zeroGrad();
  net.eval();
  scope(() => {
    net.call(x);
  });
  assert.equal(unreleased(backend), before, 'evaluation');
});
