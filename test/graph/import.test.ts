import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { FormatError } from '../../src/errors.js';
import {
  IntValues,
  OnnxModel,
  OnnxUnsupportedError,
  decodeOnnx,
  importOnnx,
} from '../../src/io/onnx/index.js';
import { loadWeights } from '../../src/io/index.js';
import { Generator, noGrad, randn, sum, tensor } from '../../src/tensor/index.js';
import {
  attr,
  assertClose,
  fixture,
  fixturePath,
  floatTensorProto,
  int64TensorProto,
  modelBytes,
  node,
} from './helpers.js';
import { unreleased } from '../memory.js';

interface SmallExpected {
  input: { shape: number[]; data: number[] };
  output: { shape: number[]; data: number[] };
  stateKeys: string[];
}

const small: SmallExpected = JSON.parse(readFileSync(fixturePath('small.json'), 'utf8'));

for (const file of ['small-opset13.onnx', 'small-opset9.onnx']) {
  test(`${file} (exported by PyTorch) reproduces PyTorch's output`, async () => {
    const net = await importOnnx(fixturePath(file));
    assert.ok(net instanceof OnnxModel);
    const y = noGrad(() => net.call(tensor(small.input.data, small.input.shape)));
    assert.deepEqual([...y.shape], small.output.shape);
    assertClose(y.data(), small.output.data, 1e-5, file);
  });
}

test("initialisers are state under PyTorch's keys: parameters, and buffers for running statistics", () => {
  const net = decodeOnnx(fixture('small-opset13.onnx'));
  // PyTorch's state dict minus num_batches_tracked, which an export leaves out.
  const keys = small.stateKeys.filter((k) => !k.endsWith('num_batches_tracked'));
  assert.deepEqual([...net.stateDict().keys()].sort(), [...keys].sort());
  assert.deepEqual(
    net
      .namedBuffers()
      .map(([k]) => k)
      .sort(),
    ['bn1.running_mean', 'bn1.running_var'],
  );
  assert.equal(net.getParameter('conv1.weight')?.requiresGrad, true);
  assert.equal(net.stateKeys.get('fc.weight'), 'fc.weight');
});

test('an imported model trains: gradients reach every parameter, and a gradient step lowers the loss', () => {
  const net = decodeOnnx(fixture('small-opset13.onnx'));
  const x = tensor(small.input.data, small.input.shape);
  // The loss: −Σ log-probabilities of every class (the model ends in LogSoftmax).
  const loss = () => -noGrad(() => sum(net.call(x)).item());
  const before = loss();
  sum(net.call(x)).backward();
  for (const [name, p] of net.namedParameters()) {
    assert.ok(p.grad !== null, `${name} has a gradient`);
    assert.ok(
      p.grad.data().some((v) => v !== 0),
      `${name}: gradient is not all zero`,
    );
  }
  noGrad(() => {
    for (const p of net.parameters()) {
      const [values, grad] = [p.data(), p.grad!.data()];
      p.assign(
        tensor(
          values.map((v, i) => v + 0.01 * grad[i]),
          p.shape,
        ),
      );
    }
  });
  assert.ok(loss() < before, `loss ${loss()} after one step, ${before} before`);
});

test('loadWeights reads an .onnx file’s initialisers by name', async () => {
  const net = decodeOnnx(fixture('small-opset13.onnx'));
  const copy = decodeOnnx(fixture('small-opset13.onnx'));
  for (const p of copy.parameters()) p.assign(randn(p.shape, { generator: new Generator(3) }));
  await loadWeights(copy, fixturePath('small-opset13.onnx'));
  for (const [key, t] of net.stateDict()) assert.deepEqual(copy.stateDict().get(key)?.data(), t.data(), key);
});

test("ONNX names that cannot nest are escaped ('.' → '%2E'), and stateKeys says where each went", () => {
  const w = (name: string) => floatTensorProto(name, [1], Float32Array.of(2));
  const names = ['a.b', 'a', 'c..d', 'forward.x', 'training', 'e.call.f', 'onnx::Mul_7'];
  const bytes = modelBytes({
    nodes: names.map((n, i) => node('Mul', [i === 0 ? 'x' : `y${i - 1}`, n], [`y${i}`])),
    inputs: [['x', [1]]],
    outputs: [`y${names.length - 1}`],
    initializers: names.map(w),
  });
  const net = decodeOnnx(bytes);
  assert.deepEqual(Object.fromEntries(net.stateKeys), {
    'a.b': 'a.b',
    a: 'a%1',
    'c..d': 'c%2E%2Ed',
    'forward.x': 'forward%2Ex',
    training: 'training',
    'e.call.f': 'e%2Ecall%2Ef',
    'onnx::Mul_7': 'onnx::Mul_7',
  });
  assert.equal(typeof net.forward, 'function');
  assert.equal(net.training, true);
  assert.equal(net.call(tensor([1])).item(), 2 ** names.length);
});

test('an unsupported operator is named, with every other one missing', () => {
  const bytes = modelBytes({
    nodes: [node('Relu', ['x'], ['a']), node('GridSample', ['a'], ['b']), node('Erf', ['b'], ['y'])],
    inputs: [['x', [1]]],
    outputs: ['y'],
  });
  assert.throws(
    () => decodeOnnx(bytes),
    (e: Error) =>
      e instanceof OnnxUnsupportedError &&
      e instanceof FormatError &&
      /does not run: Erf, GridSample/.test(e.message),
  );
});

test('an unsupported attribute or attribute value names the node, op and attribute', () => {
  const pool = (attribute: ReturnType<typeof attr>[]) =>
    modelBytes({
      nodes: [node('MaxPool', ['x'], ['y'], attribute, 'pool1')],
      inputs: [['x', [1, 1, 4, 4]]],
      outputs: ['y'],
    });
  assert.throws(
    () => decodeOnnx(pool([attr('kernel_shape', [2, 2]), attr('dilations', [2, 2])])),
    /node 'pool1' \(MaxPool\): attribute 'dilations' \[2, 2\] is not supported/,
  );
  assert.throws(
    () => decodeOnnx(pool([attr('kernel_shape', [2, 2]), attr('storage_order', 1)])),
    /node 'pool1' \(MaxPool\): attribute 'storage_order' 1/,
  );
  assert.throws(
    () => decodeOnnx(pool([attr('kernel_shape', [2, 2]), attr('frobnicate', 1)])),
    /node 'pool1' \(MaxPool\): unsupported attribute 'frobnicate'/,
  );
  const pad = modelBytes({
    nodes: [node('Pad', ['x', 'p'], ['y'], [attr('mode', 'wrap')], 'pad1')],
    inputs: [['x', [1, 4]]],
    outputs: ['y'],
    initializers: [int64TensorProto('p', [4], [0, 1, 0, 1])],
  });
  assert.throws(() => decodeOnnx(pad), /node 'pad1' \(Pad\): mode 'wrap' is not supported/);
});

test('a graph reading a value nothing produces is a FormatError', () => {
  const bytes = modelBytes({
    nodes: [node('Relu', ['nowhere'], ['y'])],
    inputs: [['x', [1]]],
    outputs: ['y'],
  });
  assert.throws(() => decodeOnnx(bytes), /input 'nowhere' is not a graph input/);
});

test('Reshape: 0 copies a dimension, −1 is inferred, allowzero keeps a 0', () => {
  const reshape = (shape: number[], allowzero: number, input: number[]) => {
    const bytes = modelBytes({
      nodes: [node('Reshape', ['x', 's'], ['y'], [attr('allowzero', allowzero)])],
      inputs: [['x', input]],
      outputs: ['y'],
      initializers: [int64TensorProto('s', [shape.length], shape)],
      opset: 14,
    });
    return decodeOnnx(bytes).call(randn(input)).shape;
  };
  assert.deepEqual(reshape([0, -1], 0, [2, 3, 4]), [2, 12]);
  assert.deepEqual(reshape([-1, 0, 2], 0, [2, 3, 4]), [4, 3, 2]);
  assert.throws(() => reshape([0, 24], 1, [2, 3, 4]), /cannot reshape/);
});

test('(Log)Softmax: opset 11 normalises the input coerced to 2-D at axis, opset 13 along the axis', () => {
  const x = randn([2, 3, 4], { generator: new Generator(1) });
  const run = (opset: number) =>
    decodeOnnx(
      modelBytes({
        nodes: [node('Softmax', ['x'], ['y'], [attr('axis', 1)])],
        inputs: [['x', [2, 3, 4]]],
        outputs: ['y'],
        opset,
      }),
    )
      .call(x)
      .data();
  const sums = (values: Float32Array | Int32Array, group: (i: number) => number) => {
    const totals = new Map<number, number>();
    values.forEach((v, i) => totals.set(group(i), (totals.get(group(i)) ?? 0) + v));
    return [...totals.values()];
  };
  // Opset 11: each of the 2 rows of 12 sums to 1. Opset 13: each of the 2 × 4 columns over axis 1 does.
  for (const total of sums(run(11), (i) => Math.floor(i / 12))) assert.ok(Math.abs(total - 1) < 1e-5);
  for (const total of sums(run(13), (i) => Math.floor(i / 12) * 4 + (i % 4)))
    assert.ok(Math.abs(total - 1) < 1e-5);
});

test('LRN of even size uses ONNX’s window, [c − ⌊(size−1)/2⌋, c + ⌈(size−1)/2⌉]', () => {
  const x = randn([1, 5, 2, 2], { generator: new Generator(2) });
  const [alpha, beta, bias, size] = [0.5, 0.75, 1.5, 4];
  const y = decodeOnnx(
    modelBytes({
      nodes: [
        node(
          'LRN',
          ['x'],
          ['y'],
          [
            attr('alpha', alpha, 'float'),
            attr('beta', beta, 'float'),
            attr('bias', bias, 'float'),
            attr('size', size),
          ],
        ),
      ],
      inputs: [['x', [1, 5, 2, 2]]],
      outputs: ['y'],
    }),
  ).call(x);
  const values = x.data();
  const expected = Array.from(values, (v, i) => {
    const [c, s] = [Math.floor(i / 4), i % 4];
    let squares = 0;
    for (let j = Math.max(0, c - 1); j <= Math.min(4, c + 2); j++) squares += values[j * 4 + s] ** 2;
    return v / (bias + (alpha / size) * squares) ** beta;
  });
  assertClose(y.data(), expected, 1e-5, 'LRN size 4');
});

test('shape arithmetic stays on the host: Shape → Gather → Unsqueeze → Concat → Reshape', () => {
  const bytes = modelBytes({
    nodes: [
      node('Shape', ['x'], ['shape']),
      node('Gather', ['shape', 'zero'], ['batch'], [attr('axis', 0)]),
      node('Unsqueeze', ['batch', 'axes'], ['batch1']),
      node('Concat', ['batch1', 'minusOne'], ['target'], [attr('axis', 0)]),
      node('Reshape', ['x', 'target'], ['y']),
    ],
    inputs: [['x', [2, 3, 4]]],
    outputs: ['y'],
    initializers: [
      int64TensorProto('zero', [], [0]),
      int64TensorProto('axes', [1], [0]),
      int64TensorProto('minusOne', [1], [-1]),
    ],
  });
  const net = decodeOnnx(bytes);
  const outputs = net.run([randn([2, 3, 4])]);
  assert.deepEqual([...(outputs.get('y')?.shape ?? [])], [2, 12]);
  const shapes = decodeOnnx(
    modelBytes({ nodes: [node('Shape', ['x'], ['s'])], inputs: [['x', [2, 3]]], outputs: ['s'] }),
  ).run([randn([2, 3])]);
  assert.ok(shapes.get('s') instanceof IntValues);
  assert.deepEqual(shapes.get('s')?.shape, [2]);
});

test('inference releases intermediate tensors as soon as no later node reads them', () => {
  const net = decodeOnnx(fixture('small-opset13.onnx'));
  const x = tensor(small.input.data, small.input.shape);
  const backend = x.backend;
  // Two calls first: on the native backend the second is recorded, and the recording keeps what it replays.
  for (let i = 0; i < 2; i++) noGrad(() => net.call(x).dispose());
  const before = unreleased(backend);
  noGrad(() => net.call(x).dispose());
  assert.equal(unreleased(backend), before);
});
