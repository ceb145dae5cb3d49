import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ShapeError, ValueError } from '../../src/errors.js';
import {
  BatchNorm2d,
  Conv2d,
  Flatten,
  Identity,
  Linear,
  MaxPool2d,
  Module,
  ReLU,
  Sequential,
  AdaptiveAvgPool2d,
} from '../../src/nn/index.js';
import { Generator, randn, tensor, type Tensor } from '../../src/tensor/index.js';

/** A torchvision-shaped network: named properties, a nested Sequential, an optional (null) child. */
class TinyResNet extends Module {
  conv1 = new Conv2d(3, 4, 3, { padding: 1, bias: false, generator: new Generator(1) });
  bn1 = new BatchNorm2d(4);
  relu = new ReLU();
  downsample: Module | null = null;
  layer1 = new Sequential(
    new Conv2d(4, 4, 3, { padding: 1, generator: new Generator(2) }),
    new BatchNorm2d(4),
  );
  avgpool = new AdaptiveAvgPool2d(1);
  fc: Module = new Linear(4, 5, { generator: new Generator(3) });

  forward(x: Tensor): Tensor {
    let y = this.relu.call(this.bn1.call(this.conv1.call(x)));
    y = this.layer1.call(y);
    return this.fc.call(new Flatten().call(this.avgpool.call(y)));
  }
}

test('namedParameters and stateDict use PyTorch names and order on a nested Sequential with BatchNorm', () => {
  const net = new Sequential(
    new Conv2d(3, 4, 3),
    new BatchNorm2d(4),
    new ReLU(),
    new Sequential(new Flatten(), new Linear(4, 2)),
  );
  assert.deepEqual(
    net.namedParameters().map(([name]) => name),
    ['0.weight', '0.bias', '1.weight', '1.bias', '3.1.weight', '3.1.bias'],
  );
  assert.deepEqual(
    [...net.stateDict().keys()],
    [
      '0.weight',
      '0.bias',
      '1.weight',
      '1.bias',
      '1.running_mean',
      '1.running_var',
      '1.num_batches_tracked',
      '3.1.weight',
      '3.1.bias',
    ],
  );
  assert.deepEqual(
    net.namedBuffers().map(([name]) => name),
    ['1.running_mean', '1.running_var', '1.num_batches_tracked'],
  );
  const tracked = net.stateDict().get('1.num_batches_tracked')!;
  assert.deepEqual([tracked.shape, tracked.dtype], [[], 'int32']);
  assert.equal(
    net.stateDict().get('0.weight'),
    (net.at(0) as Conv2d).weight,
    'stateDict hands out the tensors themselves',
  );
});

test('a network built from properties gets torchvision keys; null children and non-modules are skipped', () => {
  const net = new TinyResNet();
  assert.deepEqual(
    [...net.stateDict().keys()],
    [
      'conv1.weight',
      'bn1.weight',
      'bn1.bias',
      'bn1.running_mean',
      'bn1.running_var',
      'bn1.num_batches_tracked',
      'layer1.0.weight',
      'layer1.0.bias',
      'layer1.1.weight',
      'layer1.1.bias',
      'layer1.1.running_mean',
      'layer1.1.running_var',
      'layer1.1.num_batches_tracked',
      'fc.weight',
      'fc.bias',
    ],
  );
  assert.deepEqual(
    net.namedChildren().map(([name]) => name),
    ['conv1', 'bn1', 'relu', 'layer1', 'avgpool', 'fc'],
  );
  assert.deepEqual(
    net.namedModules().map(([name]) => name),
    ['', 'conv1', 'bn1', 'relu', 'layer1', 'layer1.0', 'layer1.1', 'avgpool', 'fc'],
  );
  assert.equal(net.get('layer1.1'), (net.layer1 as Sequential).at(1));
  assert.equal(net.getParameter('layer1.0.bias'), ((net.layer1 as Sequential).at(0) as Conv2d).bias);
  assert.equal(net.getParameter('conv1.bias'), null);
});

test('swapping a head by property assignment shows up in namedParameters and the forward pass', () => {
  const net = new TinyResNet();
  net.fc = new Linear(4, 10);
  const fc = net.namedParameters().filter(([name]) => name.startsWith('fc.'));
  assert.deepEqual(
    fc.map(([name, t]) => [name, t.shape]),
    [
      ['fc.weight', [10, 4]],
      ['fc.bias', [10]],
    ],
  );
  assert.deepEqual(net.call(randn([2, 3, 6, 6])).shape, [2, 10]);
  // The swapped child keeps its place among the children.
  assert.equal(net.namedChildren().at(-1)![0], 'fc');

  const classifier = new Sequential(new Linear(8, 8), new ReLU(), new Linear(8, 1000));
  classifier[2] = new Linear(8, 3);
  assert.deepEqual(
    classifier
      .namedParameters()
      .at(-2)!
      .map((v) => (typeof v === 'string' ? v : v.shape)),
    ['2.weight', [3, 8]],
  );
  net.fc = new Identity();
  assert.ok(!net.namedParameters().some(([name]) => name.startsWith('fc.')));
});

test('a record or Map gives Sequential named children in its order', () => {
  const seq = new Sequential({ conv: new Conv2d(1, 2, 3), relu: new ReLU(), pool: new MaxPool2d(2) });
  assert.deepEqual(
    seq.namedChildren().map(([name]) => name),
    ['conv', 'relu', 'pool'],
  );
  assert.deepEqual(
    seq.namedParameters().map(([name]) => name),
    ['conv.weight', 'conv.bias'],
  );
  assert.equal(seq.length, 3);
  assert.ok(seq.at(-1) instanceof MaxPool2d);
  // A Map keeps integer-like names where JavaScript's property order would list them first.
  const mapped = new Sequential(
    new Map<string, Module>([
      ['conv', new Conv2d(1, 2, 3)],
      ['7', new ReLU()],
    ]),
  );
  assert.deepEqual(
    mapped.namedChildren().map(([name]) => name),
    ['conv', '7'],
  );
  mapped.append(new ReLU());
  assert.deepEqual(
    mapped.namedChildren().map(([name]) => name),
    ['conv', '7', '2'],
  );
});

test('a shared layer is listed once by namedParameters and modules, under each name by stateDict', () => {
  const shared = new Linear(3, 3);
  const net = new Sequential(shared, new ReLU(), shared);
  assert.deepEqual(
    net.namedParameters().map(([name]) => name),
    ['0.weight', '0.bias'],
  );
  assert.equal(net.modules().length, 3);
  assert.deepEqual([...net.stateDict().keys()], ['0.weight', '0.bias', '2.weight', '2.bias']);
  assert.equal(net.numParameters(), 12);
});

test('get names the missing step of a path', () => {
  const net = new TinyResNet();
  assert.equal(net.get(''), net);
  assert.throws(
    () => net.get('layer1.5'),
    (e: unknown) => {
      assert.ok(e instanceof ValueError);
      assert.match(e.message, /no sub-module 'layer1\.5'/);
      assert.match(e.message, /'layer1' \(Sequential\) has no child '5' \(children: 0, 1\)/);
      return true;
    },
  );
  assert.throws(() => net.getParameter('bn1.gamma'), /BatchNorm2d has no parameter 'gamma'.*weight, bias/);
});

test('registering a name twice across kinds is refused', () => {
  const net = new TinyResNet();
  assert.throws(() => net.registerParameter('fc', tensor([1])), /already in use/);
  assert.throws(() => net.registerModule('training', new ReLU()), /taken by another member/);
  assert.throws(() => net.registerBuffer('a.b', tensor([1])), /no '\.'/);
});

test('train and eval set the flag on every module', () => {
  const net = new TinyResNet();
  assert.ok(net.modules().every((m) => m.training));
  net.eval();
  assert.ok(net.modules().every((m) => !m.training));
  net.layer1.train();
  assert.deepEqual(
    net.modules().map((m) => m.training),
    [false, false, false, false, true, true, true, false, false],
  );
});

test('apply visits children before their parent', () => {
  const net = new Sequential(new ReLU(), new Sequential(new Identity()));
  const order: string[] = [];
  net.apply((m) => order.push(m.typeName));
  assert.deepEqual(order, ['ReLU', 'Identity', 'Sequential', 'Sequential']);
});

test('toString reads like PyTorch', () => {
  const net = new Sequential(
    new Conv2d(3, 8, 3, { padding: 1, bias: false }),
    new BatchNorm2d(8),
    new Sequential(new Linear(8, 2)),
  );
  assert.equal(
    net.toString(),
    [
      'Sequential(',
      '  (0): Conv2d(3, 8, kernelSize=3, stride=1, padding=1, bias=false)',
      '  (1): BatchNorm2d(8, eps=0.00001, momentum=0.1, affine=true, trackRunningStats=true)',
      '  (2): Sequential(',
      '    (0): Linear(inFeatures=8, outFeatures=2, bias=true)',
      '  )',
      ')',
    ].join('\n'),
  );
});

test('a wrong channel count deep in a nested Sequential names the layer path, type and both shapes', () => {
  const net = new Sequential(new Conv2d(3, 4, 3), new Sequential(new Conv2d(5, 2, 1)));
  assert.throws(
    () => net.call(randn([1, 3, 8, 8])),
    (e: unknown) => {
      assert.ok(e instanceof ShapeError);
      assert.equal(e.layerPath, '1.0');
      assert.equal(e.message, '1.0 (Conv2d): expected input with 5 channels [N, 5, H, W], got [1, 4, 6, 6]');
      return true;
    },
  );
});

test('a wrong rank names the first layer; a layer called alone is named by its type', () => {
  const net = new TinyResNet();
  assert.throws(() => net.call(randn([3, 8, 8])), {
    name: 'ShapeError',
    message: 'conv1 (Conv2d): expected a 4-D input [N, 3, H, W], got [3, 8, 8]',
  });
  assert.throws(() => new Linear(4, 2).call(randn([2, 3])), {
    name: 'ShapeError',
    message: 'Linear: expected input with 4 features [N, 4], got [2, 3]',
  });
  // The call stack is unwound: a later good call on a fresh layer has no stale path.
  net.fc = new Linear(3, 2);
  assert.throws(
    () => net.call(randn([1, 3, 4, 4])),
    (e: unknown) => e instanceof ShapeError && e.layerPath === 'fc',
  );
});

test('errors that are not convnets errors pass through untouched', () => {
  class Broken extends Module {
    forward(): Tensor {
      throw new RangeError('boom');
    }
  }
  const net = new Sequential(new Broken());
  assert.throws(() => net.call(randn([1])), { name: 'RangeError', message: 'boom' });
});
