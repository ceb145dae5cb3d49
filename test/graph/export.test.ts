import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ValueError } from '../../src/errors.js';
import { decodeModelProto } from '../../src/io/onnx/proto.js';
import { decodeOnnx, encodeOnnx, exportOnnx, importOnnx } from '../../src/io/onnx/index.js';
import * as models from '../../src/models/index.js';
import {
  AdaptiveAvgPool2d,
  AvgPool2d,
  BatchNorm2d,
  Conv2d,
  Dropout,
  Flatten,
  Linear,
  LocalResponseNorm,
  MaxPool2d,
  Module,
  ReLU,
  Sequential,
  Sigmoid,
  Tanh,
} from '../../src/nn/index.js';
import {
  Generator,
  axpby,
  concat,
  noGrad,
  rand,
  randn,
  relu,
  reshape,
  type Tensor,
} from '../../src/tensor/index.js';
import { assertClose, loadOnnxRuntime } from './helpers.js';

/** Every layer the exporter maps to its own ONNX operator, with non-trivial settings and running statistics. */
function layers(): Module {
  const g = new Generator(11);
  const net = new Sequential(
    new Conv2d(3, 8, 3, { stride: 2, padding: 1 }),
    new BatchNorm2d(8),
    new ReLU(),
    new Conv2d(8, 8, 3, { padding: 2, dilation: 2, groups: 4 }),
    new MaxPool2d(3, { stride: 2, padding: 1, ceilMode: true }),
    new LocalResponseNorm(3, { alpha: 0.01, beta: 0.75, k: 2 }),
    new AvgPool2d(2, { stride: 1, padding: 1, countIncludePad: false }),
    new Sigmoid(),
    new Conv2d(8, 6, 1),
    new Tanh(),
    new AdaptiveAvgPool2d(1),
    new Flatten(),
    new Dropout(0.5),
    new Linear(6, 4),
  );
  const bn = net.get('1') as BatchNorm2d;
  noGrad(() => {
    bn.getBuffer('running_mean')!.assign(randn([8], { generator: g }));
    bn.getBuffer('running_var')!.assign(rand([8], { generator: g }));
    bn.weight!.assign(randn([8], { generator: g }));
  });
  return net;
}

function opTypes(bytes: Uint8Array): string[] {
  return decodeModelProto(bytes).graph.node.map((n) => n.opType);
}

function forward(net: Module, x: Tensor): Float32Array {
  return noGrad(() => net.call(x)).data() as Float32Array;
}

/** Exports, re-imports and compares; then the same with onnxruntime-node when it is installed. */
async function roundTrip(
  t: { diagnostic(message: string): void },
  net: Module,
  shape: number[],
): Promise<Uint8Array> {
  const bytes = encodeOnnx(net, shape);
  const x = randn(shape, { generator: new Generator(7) });
  net.eval();
  const expected = forward(net, x);
  assertClose(forward(decodeOnnx(bytes), x), expected, 1e-5, `${net.typeName} re-imported`);
  const ort = loadOnnxRuntime().module;
  if (ort !== null) {
    const session = await ort.InferenceSession.create(bytes);
    const outputs = await session.run({ input: new ort.Tensor('float32', x.data() as Float32Array, shape) });
    assertClose(outputs.output.data, expected, 1e-5, `${net.typeName} in onnxruntime`);
  } else t.diagnostic('onnxruntime-node not installed: re-import checked, onnxruntime comparison skipped');
  return bytes;
}

test('every supported layer exports to its ONNX operator and round-trips (re-import, onnxruntime)', async (t) => {
  const net = layers();
  net.train();
  const bytes = await roundTrip(t, net, [2, 3, 16, 16]);
  assert.deepEqual(
    opTypes(bytes).filter((op) => op !== 'Constant'),
    [
      'Conv',
      'BatchNormalization',
      'Relu',
      'Conv',
      'MaxPool',
      'LRN',
      'AveragePool',
      'Sigmoid',
      'Conv',
      'Tanh',
      'GlobalAveragePool',
      'Flatten',
      'Gemm',
    ],
  );
  const graph = decodeModelProto(bytes).graph;
  assert.deepEqual(
    graph.initializer.map((i) => i.name),
    [
      '0.weight',
      '0.bias',
      '1.weight',
      '1.bias',
      '1.running_mean',
      '1.running_var',
      '3.weight',
      '3.bias',
      '8.weight',
      '8.bias',
      '13.weight',
      '13.bias',
    ],
  );
  assert.equal(decodeModelProto(bytes).opsetImport[0].version, 13);
});

/** A module computing 0.5·relu(x) − 2·x with axpby, a kernel of its own. */
class Blend extends Module {
  forward(x: Tensor): Tensor {
    return axpby(0.5, relu(x), -2, x);
  }
}

test('axpby exports as Mul, Mul and Add, computed from the input rather than baked in', async (t) => {
  const bytes = await roundTrip(t, new Blend(), [2, 3, 4]);
  assert.deepEqual(
    opTypes(bytes).filter((op) => op !== 'Constant'),
    ['Relu', 'Mul', 'Mul', 'Add'],
  );
});

test('export traces in evaluation mode and leaves each module’s mode as it was', () => {
  const net = layers();
  net.train();
  (net.get('12') as Module).training = false;
  encodeOnnx(net, [1, 3, 16, 16]);
  assert.deepEqual(
    net.modules().map((m) => m.training),
    net.modules().map((m) => m !== net.get('12')),
  );
});

test('zoo models with residual additions, zero-padded shortcuts, Inception and DenseNet concatenations round-trip', async (t) => {
  for (const [name, shape] of [
    ['resnet20', [2, 3, 32, 32]],
    ['googlenet', [1, 3, 32, 32]],
    ['densenet121', [1, 3, 32, 32]],
  ] as const) {
    const net = models.get(name);
    const bytes = await roundTrip(t, net, [...shape]);
    const ops = new Set(opTypes(bytes));
    if (name === 'resnet20') assert.ok(ops.has('Add') && ops.has('Pad'), `${name}: ${[...ops]}`);
    else assert.ok(ops.has('Concat'), `${name}: ${[...ops]}`);
  }
});

test('exportOnnx writes the file atomically and importOnnx reads it back', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'convnets-onnx-'));
  try {
    const net = layers();
    const path = join(dir, 'net.onnx');
    await exportOnnx(net, [1, 3, 16, 16], path);
    assert.deepEqual(readdirSync(dir), ['net.onnx']);
    const back = await importOnnx(path);
    const x = randn([1, 3, 16, 16], { generator: new Generator(1) });
    net.eval();
    assertClose(forward(back, x), forward(net, x), 1e-5, 'file round trip');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('what ONNX cannot express is a ValueError naming it', () => {
  assert.throws(
    () => encodeOnnx(new Sequential(new LocalResponseNorm(4)), [1, 6, 4, 4]),
    (e: Error) => e instanceof ValueError && /even size 4/.test(e.message),
  );
  assert.throws(
    () => encodeOnnx(new Sequential(new AdaptiveAvgPool2d(3)), [1, 2, 5, 5]),
    /5×5 → 3×3 has uneven bins/,
  );
  assert.throws(() => encodeOnnx(new Sequential(new ReLU()), [1, 2], { opsetVersion: 9 }), /opsetVersion 9/);
});

test("batch 'dynamic' writes a symbolic first dimension: a file traced at batch 1 runs at batch 4 (onnxruntime, re-import)", async (t) => {
  const ort = loadOnnxRuntime().module;
  const nets: [string, Module, number[]][] = [
    ['layers', layers(), [3, 16, 16]],
    ['resnet20', models.get('resnet20'), [3, 32, 32]],
    // VGG's adaptive pool of a 1×1 map exports as Reshape, Expand, Reshape: shape constants that hold the batch.
    ['vgg11', models.get('vgg11'), [3, 32, 32]],
    ['googlenet', models.get('googlenet'), [3, 32, 32]],
  ];
  for (const [name, net, image] of nets) {
    const bytes = encodeOnnx(net, [1, ...image], { batch: 'dynamic' });
    const graph = decodeModelProto(bytes).graph;
    assert.deepEqual(graph.input[0].type?.shape, ['batch', ...image], name);
    assert.equal(graph.output[0].type?.shape?.[0], 'batch', name);
    net.eval();
    const back = decodeOnnx(bytes);
    for (const batch of [1, 4]) {
      const x = randn([batch, ...image], { generator: new Generator(batch) });
      const expected = forward(net, x);
      assertClose(forward(back, x), expected, 1e-5, `${name} re-imported at batch ${batch}`);
      if (ort === null) continue;
      const session = await ort.InferenceSession.create(bytes);
      const feeds = { input: new ort.Tensor('float32', x.data() as Float32Array, x.shape) };
      const { output } = await session.run(feeds);
      assert.deepEqual(output.dims[0], batch, `${name} at batch ${batch}`);
      assertClose(output.data, expected, 1e-5, `${name} in onnxruntime at batch ${batch}`);
    }
  }
  if (ort === null)
    t.diagnostic('onnxruntime-node not installed: re-import checked, onnxruntime comparison skipped');
});

test('without batch dynamic, onnxruntime refuses another batch than the traced one', async (t) => {
  const ort = loadOnnxRuntime().module;
  if (ort === null) return t.skip('onnxruntime-node not installed');
  const bytes = encodeOnnx(layers(), [1, 3, 16, 16]);
  assert.deepEqual(decodeModelProto(bytes).graph.input[0].type?.shape, [1, 3, 16, 16]);
  const session = await ort.InferenceSession.create(bytes);
  const x = randn([4, 3, 16, 16], { generator: new Generator(4) });
  await assert.rejects(session.run({ input: new ort.Tensor('float32', x.data() as Float32Array, x.shape) }));
});

/** Folds the batch into the channels: the graph holds the batch size in a Reshape's shape constant. */
class FoldBatch extends Module {
  forward(x: Tensor): Tensor {
    return reshape(x, [x.shape[0] * x.shape[1], -1]);
  }
}

/** Stacks a batch on itself: the output's first dimension is twice the batch. */
class Twice extends Module {
  forward(x: Tensor): Tensor {
    return concat([x, x], 0);
  }
}

test("batch 'dynamic' refuses a graph that depends on the batch size, naming the node", () => {
  assert.throws(
    () => encodeOnnx(new FoldBatch(), [2, 3, 4, 4], { batch: 'dynamic' }),
    (e: Error) =>
      e instanceof ValueError && /node 'Reshape_1' \(Reshape\) depends on the batch size/.test(e.message),
  );
  assert.throws(
    () => encodeOnnx(new Twice(), [2, 3], { batch: 'dynamic' }),
    /output's first dimension is not the batch \(\[4, 3\] at batch 2, \[6, 3\] at 3\)/,
  );
  assert.throws(
    () => encodeOnnx(new Twice(), [2, 3], { batch: 'fixed' as 'traced' }),
    /batch 'fixed' is not/,
  );
  // The same modules export at their traced batch.
  assert.equal(
    decodeModelProto(encodeOnnx(new FoldBatch(), [2, 3, 4, 4])).graph.node.at(-1)?.opType,
    'Reshape',
  );
});
