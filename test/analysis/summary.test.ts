import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatSummary, summary, type ModelSummaryJSON } from '../../src/analysis/index.js';
import { getBackend, withBackend } from '../../src/backend/registry.js';
import { ShapeError } from '../../src/errors.js';
import {
  AdaptiveAvgPool2d,
  BatchNorm2d,
  Conv2d,
  Flatten,
  Linear,
  MaxPool2d,
  Module,
  ReLU,
  Sequential,
} from '../../src/nn/index.js';
import { Generator, add, randn, type Tensor } from '../../src/tensor/index.js';

/** torchvision-shaped: a stem, a residual block reusing one ReLU twice, and a head with a parameter of its own. */
class Block extends Module {
  conv1 = new Conv2d(8, 8, 3, { padding: 1, bias: false, generator: new Generator(2) });
  bn1 = new BatchNorm2d(8);
  relu = new ReLU();
  conv2 = new Conv2d(8, 8, 3, { padding: 1, bias: false, generator: new Generator(3) });
  bn2 = new BatchNorm2d(8);

  forward(x: Tensor): Tensor {
    const y = this.bn2.call(this.conv2.call(this.relu.call(this.bn1.call(this.conv1.call(x)))));
    return this.relu.call(add(y, x));
  }
}

class Net extends Module {
  conv1 = new Conv2d(3, 8, 7, { stride: 2, padding: 3, generator: new Generator(1) });
  maxpool = new MaxPool2d(3, { stride: 2, padding: 1 });
  layer1 = new Sequential(new Block(), new Block());
  avgpool = new AdaptiveAvgPool2d(1);
  fc = new Linear(8, 10, { generator: new Generator(4) });

  forward(x: Tensor): Tensor {
    const y = this.avgpool.call(this.layer1.call(this.maxpool.call(this.conv1.call(x))));
    return this.fc.call(new Flatten().call(y));
  }
}

test('rows: dotted paths in call order, output shapes, own parameters and MACs per layer', () => {
  const s = summary(new Net(), [3, 32, 32]);
  assert.deepEqual(s.inputShape, [1, 3, 32, 32]);
  assert.deepEqual(s.outputShape, [1, 10]);
  const paths = s.rows.map((r) => r.path);
  assert.deepEqual(paths.slice(0, 9), [
    'conv1',
    'maxpool',
    'layer1.0.conv1',
    'layer1.0.bn1',
    'layer1.0.relu',
    'layer1.0.conv2',
    'layer1.0.bn2',
    'layer1.0.relu',
    'layer1.1.conv1',
  ]);
  // Flatten is made inside forward, not a child: it is named by its type.
  assert.deepEqual(paths.slice(-3), ['avgpool', 'Flatten', 'fc']);
  const conv1 = s.rows[0];
  assert.deepEqual(conv1.outputShape, [1, 8, 16, 16]);
  assert.equal(conv1.type, 'Conv2d');
  assert.equal(conv1.depth, 1);
  assert.equal(conv1.trainableParameters, 8 * 3 * 49 + 8);
  assert.equal(conv1.macs, 8 * 16 * 16 * 3 * 49);
  const block = s.rows[2];
  assert.deepEqual(block.outputShape, [1, 8, 8, 8]);
  assert.equal(block.depth, 3);
  assert.equal(block.macs, 8 * 8 * 8 * 8 * 9);
  assert.equal(s.rows.at(-1)!.macs, 8 * 10);
  // The ReLU called twice in each block appears per call; its second call is marked repeated.
  assert.deepEqual(
    s.rows.filter((r) => r.path === 'layer1.0.relu').map((r) => r.repeated),
    [false, true],
  );
  assert.equal(
    s.totals.macs,
    s.rows.reduce((n, r) => n + r.macs, 0),
  );
  assert.equal(s.totals.macs, 8 * 16 * 16 * 3 * 49 + 4 * 8 * 8 * 8 * 8 * 9 + 80);
  assert.equal(s.totals.flops, 2 * s.totals.macs);
  assert.equal(s.totals.parameters, new Net().numParameters());
});

test('batch: [N, C, H, W] scales MACs and activations; [C, H, W] means a batch of 1', () => {
  const net = new Net();
  const one = summary(net, [3, 32, 32]);
  const four = summary(net, [4, 3, 32, 32]);
  assert.deepEqual(four.rows[0].outputShape, [4, 8, 16, 16]);
  assert.equal(four.totals.macs, 4 * one.totals.macs);
  assert.equal(four.memory.activationBytes, 4 * one.memory.activationBytes);
  assert.equal(four.memory.inputBytes, 4 * 3 * 32 * 32 * 4);
  assert.equal(four.totals.parameters, one.totals.parameters);
});

test('activation memory counts each distinct module output once, float32', () => {
  const net = new Sequential(new Conv2d(1, 2, 3), new ReLU(), new Sequential(new Flatten()));
  const s = summary(net, [1, 5, 5]);
  // conv [1,2,3,3] and relu [1,2,3,3] = 18 + 18; flatten [1,18]; the inner Sequential returns Flatten's tensor.
  assert.equal(s.memory.activationBytes, (18 + 18 + 18) * 4);
  assert.equal(s.memory.parameterBytes, (2 * 9 + 2) * 4);
});

test('frozen parameters: counted per row and in the totals after freeze()', () => {
  const net = new Net();
  net.conv1.freeze();
  net.layer1.get('1').freeze();
  const s = summary(net, [3, 32, 32]);
  const row = (path: string) => s.rows.find((r) => r.path === path)!;
  assert.equal(row('conv1').frozenParameters, 8 * 3 * 49 + 8);
  assert.equal(row('conv1').trainableParameters, 0);
  assert.equal(row('layer1.1.bn1').frozenParameters, 16);
  assert.equal(row('layer1.0.bn1').trainableParameters, 16);
  assert.equal(s.totals.frozenParameters, net.numParameters() - net.numParameters({ trainableOnly: true }));
  assert.equal(s.totals.trainableParameters, net.numParameters({ trainableOnly: true }));
  assert.equal(s.totals.trainableParameters + s.totals.frozenParameters, s.totals.parameters);
  assert.match(formatSummary(s), /Frozen params/);
});

test('summary leaves a model on a value-holding backend exactly as it was: tensors, flags, modes, memory', () => {
  const backend = getBackend();
  const net = new Net();
  net.layer1.get('0').eval();
  net.fc.freeze();
  const state = [...net.stateDict()];
  const values = state.map(([, t]) => Array.from(t.data()));
  const flags = state.map(([, t]) => t.requiresGrad);
  const modes = net.modules().map((m) => m.training);
  const memory = backend.memory();
  summary(net, [2, 3, 16, 16]);
  assert.deepEqual(
    [...net.stateDict()].map(([k, t]) => [k, t]),
    state,
  );
  assert.deepEqual(
    state.map(([, t]) => t.requiresGrad),
    flags,
  );
  assert.deepEqual(
    state.map(([, t]) => Array.from(t.data())),
    values,
  );
  assert.deepEqual(
    net.modules().map((m) => m.training),
    modes,
  );
  assert.deepEqual(backend.memory(), memory);
  assert.equal(getBackend(), backend);
});

test('the meta backend frees what the run made', () => {
  const net = new Net();
  const meta = withBackend('meta', () => getBackend());
  const before = meta.memory();
  summary(net, [3, 32, 32]);
  assert.deepEqual(meta.memory(), before);
});

test('a wrong input fails with the layer path, and the model is restored all the same', () => {
  const net = new Net();
  const weight = net.conv1.weight;
  assert.throws(
    () => summary(net, [1, 32, 32]),
    (e: unknown) => {
      assert.ok(e instanceof ShapeError);
      assert.match(e.message, /^conv1 \(Conv2d\): expected input with 3 channels/);
      return true;
    },
  );
  assert.equal(net.conv1.weight, weight);
  assert.equal(weight.backend, getBackend());
  assert.ok(net.training);
  assert.throws(() => summary(net, [3, 0, 4]), /positive integers/);
});

test('formatSummary: an aligned table with units in the headers and totals with thousands separators', () => {
  const net = new Sequential(new Conv2d(192, 32, 5, { padding: 2 }), new ReLU());
  const text = formatSummary(summary(net, [192, 28, 28]));
  assert.match(text, /Layer\s+Type\s+Output shape\s+Params\s+MACs/);
  assert.match(text, /^0\s+Conv2d\s+\[1, 32, 28, 28\]\s+153,632\s+120,422,400$/m);
  assert.match(text, /Total params:\s+153,632/);
  assert.match(text, /Total MACs:\s+120,422,400 {2}\(120\.42 M\)/);
  assert.match(text, /Total FLOPs \(2 × MACs\):\s+240,844,800/);
  const lines = text.split('\n');
  const header = lines.find((l) => l.startsWith('Layer'))!;
  const conv = lines.find((l) => l.startsWith('0 '))!;
  // Right-aligned numbers end in the same column as their header.
  assert.equal(conv.length, header.length);
});

test('JSON: a plain object that survives a round trip', () => {
  const s = summary(new Net(), [3, 32, 32]);
  const json: ModelSummaryJSON = JSON.parse(JSON.stringify(s));
  assert.deepEqual(json, s.toJSON());
  assert.equal(json.totals.macs, s.totals.macs);
  assert.equal(json.rows.length, s.rows.length);
  assert.deepEqual(Object.keys(json.totals), [
    'parameters',
    'trainableParameters',
    'frozenParameters',
    'macs',
    'flops',
  ]);
});

test('modules the evaluation pass skips are listed as uncalled, and counted in the totals', () => {
  class WithAux extends Module {
    body = new Conv2d(3, 4, 3);
    aux = new Linear(4, 2);
    forward(x: Tensor): Tensor {
      const y = this.body.call(x);
      return this.training ? this.aux.call(y) : y;
    }
  }
  const s = summary(new WithAux(), [3, 8, 8]);
  assert.deepEqual(s.uncalled, [{ path: 'aux', type: 'Linear', parameters: 10 }]);
  assert.equal(s.totals.parameters, 4 * 27 + 4 + 10);
  assert.match(formatSummary(s), /Not called in evaluation mode, counted in the totals: aux \(10\)/);
});

test('a leaf model is its own row', () => {
  const s = summary(new Linear(3, 2), [5, 3]);
  assert.deepEqual(
    s.rows.map((r) => [r.path, r.type, r.outputShape, r.macs]),
    [['', 'Linear', [5, 2], 30]],
  );
  assert.match(formatSummary(s), /^\(Linear\)\s+Linear/m);
});

test('a BatchNorm without affine parameters (no registered tensors to stand in for) runs for shapes too', () => {
  const net = new Sequential(new Conv2d(3, 4, 3), new BatchNorm2d(4, { affine: false }));
  const s = summary(net, [3, 8, 8]);
  assert.deepEqual(s.outputShape, [1, 4, 6, 6]);
  // And it still computes values afterwards, on its own backend.
  const y = net.call(randn([2, 3, 8, 8]));
  assert.equal(y.data().length, 2 * 4 * 36);
});

test('summary of a partly frozen model in training leaves what unfreeze() restores alone', () => {
  const net = new Sequential(new Conv2d(3, 4, 3), new BatchNorm2d(4), new ReLU());
  net.train();
  net.get('1').freeze();
  summary(net, [3, 8, 8]);
  assert.deepEqual(
    net.modules().map((m) => m.training),
    [true, true, false, true],
  );
  net.get('1').unfreeze();
  assert.ok(
    net.modules().every((m) => m.training),
    'the BatchNorm takes back the training mode asked for',
  );
});

test('depth: a row per call at that depth counting everything inside it, childless calls above it as they are', () => {
  const net = new Net();
  // A block: two 3×3 convolutions 8 → 8 without bias (2 · 576) and two BatchNorms (2 · 16); at 8×8 each
  // convolution does 8 · 8 · 8 outputs × 8 · 9 inputs = 36,864 MACs.
  const block = { parameters: 2 * 576 + 2 * 16, macs: 2 * 36_864 };
  const top = summary(net, [3, 32, 32], { depth: 1 });
  assert.deepEqual(
    top.rows.map((r) => [r.path, r.outputShape, r.trainableParameters, r.macs]),
    [
      ['conv1', [1, 8, 16, 16], 8 * 3 * 49 + 8, 8 * 16 * 16 * 3 * 49],
      ['maxpool', [1, 8, 8, 8], 0, 0],
      ['layer1', [1, 8, 8, 8], 2 * block.parameters, 2 * block.macs],
      ['avgpool', [1, 8, 1, 1], 0, 0],
      ['Flatten', [1, 8], 0, 0], // made in forward, unregistered: named by its type
      ['fc', [1, 10], 90, 80],
    ],
  );
  const sum = (rows: typeof top.rows, key: 'trainableParameters' | 'macs') =>
    rows.reduce((n, r) => n + r[key], 0);
  assert.equal(sum(top.rows, 'trainableParameters'), top.totals.parameters);
  assert.equal(sum(top.rows, 'macs'), top.totals.macs);
  const blocks = summary(net, [3, 32, 32], { depth: 2 }).rows.filter((r) => r.path.startsWith('layer1'));
  assert.deepEqual(
    blocks.map((r) => [r.path, r.type, r.depth, r.trainableParameters, r.macs]),
    [
      ['layer1.0', 'Block', 2, block.parameters, block.macs],
      ['layer1.1', 'Block', 2, block.parameters, block.macs],
    ],
  );
  assert.deepEqual(summary(net, [3, 32, 32], { depth: 9 }).rows, summary(net, [3, 32, 32]).rows);
  assert.throws(() => summary(net, [3, 32, 32], { depth: 0 }), /depth must be a positive integer, got 0/);
});
