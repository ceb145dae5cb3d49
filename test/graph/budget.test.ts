// What an imported ONNX model may allocate: each operator checks the value its attributes imply before allocating it
// (at import where the file alone decides, at run time otherwise), against ImportOnnxOptions.maxBytes; edge padding
// is built from slices whatever the pads, and every node's outputs are checked after it ran as a last line of defence.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FormatError, ShapeError, ValueError } from '../../src/errors.js';
import {
  AttributeType,
  DataType,
  DEFAULT_MAX_BYTES,
  IntValues,
  emptyAttribute,
  type GraphProto,
  type ModelProto,
  type OnnxValue,
} from '../../src/graph/index.js';
import { OnnxModel } from '../../src/graph/model.js';
import { decodeOnnx } from '../../src/io/onnx/index.js';
import { noGrad, sum, tensor, type Tensor } from '../../src/tensor/index.js';
import {
  attr,
  floatTensorProto,
  int64TensorProto,
  model,
  modelBytes,
  node,
  type ModelSpec,
} from './helpers.js';

const KiB = 1024;

/** The model of `spec` with the named graph inputs typed int64. */
function withIntegerInputs(spec: ModelSpec, names: string[]): ModelProto {
  const proto = model(spec);
  proto.graph.input = proto.graph.input.map((info) =>
    names.includes(info.name)
      ? { ...info, type: { kind: 'tensor', elemType: DataType.INT64, shape: null } }
      : info,
  );
  return proto;
}

const values = (v: OnnxValue | undefined): number[] =>
  v instanceof IntValues ? [...v.values] : Array.from((v as Tensor).data());

const throwsWith =
  (type: typeof FormatError, pattern: RegExp) =>
  (error: Error): boolean =>
    error instanceof type && pattern.test(error.message);

test('edge padding repeats the border elements on every axis, crops with negative pads, and passes gradients back', () => {
  const edge = (pads: number[]) =>
    withIntegerInputs(
      {
        nodes: [node('Pad', ['X', 'pads'], ['Y'], [attr('mode', 'edge')])],
        inputs: [['X', [1, 1, 2, 3]]],
        outputs: ['Y'],
        initializers: [int64TensorProto('pads', [8], pads)],
      },
      [],
    );
  const net = new OnnxModel(edge([0, 0, 1, 2, 0, 0, 2, 1]));
  const x = tensor([1, 2, 3, 4, 5, 6], [1, 1, 2, 3], { requiresGrad: true });
  const y = net.call(x);
  assert.deepEqual([...y.shape], [1, 1, 5, 6]);
  // Rows r0 r0 r1 r1 r1; each row a a a b c c.
  assert.deepEqual(
    Array.from(y.data()),
    [1, 1, 1, 2, 3, 3, 1, 1, 1, 2, 3, 3, 4, 4, 4, 5, 6, 6, 4, 4, 4, 5, 6, 6, 4, 4, 4, 5, 6, 6],
  );
  sum(y).backward();
  // How often each input element appears: (rows it fills) × (columns it fills).
  assert.deepEqual(Array.from(x.grad!.data()), [2 * 3, 2 * 1, 2 * 2, 3 * 3, 3 * 1, 3 * 2]);

  // Crop the first row and the last column, then repeat the border: row r1 twice, columns a a b.
  const cropped = noGrad(() => new OnnxModel(edge([0, 0, -1, 1, 0, 0, 1, -1])).call(x));
  assert.deepEqual([...cropped.shape], [1, 1, 2, 3]);
  assert.deepEqual(Array.from(cropped.data()), [4, 4, 5, 4, 4, 5]);

  // Integer data (host values) pads the same way.
  const integers = new OnnxModel(
    withIntegerInputs(
      {
        nodes: [node('Pad', ['X', 'pads'], ['Y'], [attr('mode', 'edge')])],
        inputs: [['X', [2, 3]]],
        outputs: ['Y'],
        initializers: [int64TensorProto('pads', [4], [1, 0, 0, 2])],
      },
      ['X'],
    ),
  );
  const out = integers.run([new IntValues([2, 3], [1, 2, 3, 4, 5, 6])]).get('Y');
  assert.deepEqual(out?.shape, [3, 5]);
  assert.deepEqual(values(out), [1, 2, 3, 3, 3, 1, 2, 3, 3, 3, 4, 5, 6, 6, 6]);
});

test('pads given at run time are checked against maxBytes before padding: a ShapeError naming node, input and shape', () => {
  const net = new OnnxModel(
    withIntegerInputs(
      {
        nodes: [node('Pad', ['X', 'pads'], ['Y'], [attr('mode', 'edge')], 'pad')],
        inputs: [
          ['X', [1, 4]],
          ['pads', [4]],
        ],
        outputs: ['Y'],
      },
      ['pads'],
    ),
    { maxBytes: 64 * KiB },
  );
  const x = tensor([1, 2, 3, 4], [1, 4]);
  const run = (pads: number[]) => noGrad(() => net.run([x, new IntValues([4], pads)]).get('Y'));
  assert.deepEqual(values(run([0, 1, 0, 2])), [1, 1, 2, 3, 4, 4, 4]);
  // 4 + 2·2^13 floats = 65,552 bytes: just past 64 KiB.
  assert.throws(
    () => run([0, 2 ** 13, 0, 2 ** 13]),
    throwsWith(
      ShapeError,
      /^node 'pad' \(Pad\): input 'pads' \[0, 8192, 0, 8192\] on input \[1, 4\] gives \[1, 16388\]: 16388 elements \(65552 bytes\), more than maxBytes \(65536 bytes\) allows$/,
    ),
  );
  assert.throws(
    () => run([0, 2 ** 40, 0, 0]),
    throwsWith(
      FormatError,
      /input 'pads' \[0, 1099511627776, 0, 0\] holds 1099511627776, more than a typed array/,
    ),
  );
});

test('convolution and pooling check their output and padded copy at run time when the kernel is not a constant', () => {
  const conv = new OnnxModel(
    model({
      nodes: [node('Conv', ['X', 'W'], ['Y'], [attr('pads', [32, 32, 32, 32])], 'conv')],
      inputs: [
        ['X', [1, 1, 4, 4]],
        ['W', [1, 1, 3, 3]],
      ],
      outputs: ['Y'],
    }),
    { maxBytes: 16 * KiB },
  );
  const w = tensor(new Array<number>(9).fill(1), [1, 1, 3, 3]);
  assert.throws(
    () => noGrad(() => conv.run([tensor(new Array<number>(16).fill(1), [1, 1, 4, 4]), w])),
    throwsWith(
      ShapeError,
      /^node 'conv' \(Conv\): attribute 'pads' \[32, 32, 32, 32\] on input \[1, 1, 4, 4\] gives \[1, 1, 66, 66\]: 4356 elements \(17424 bytes\), more than maxBytes \(16384 bytes\) allows$/,
    ),
  );
  // The same pads on a budget that holds the output: one value, each a sum of the 3×3 window's ones.
  const roomy = new OnnxModel(
    model({
      nodes: [node('Conv', ['X', 'W'], ['Y'], [attr('pads', [1, 1, 1, 1])], 'conv')],
      inputs: [
        ['X', [1, 1, 2, 2]],
        ['W', [1, 1, 3, 3]],
      ],
      outputs: ['Y'],
    }),
    { maxBytes: 16 * KiB },
  );
  assert.deepEqual(
    values(noGrad(() => roomy.run([tensor([1, 1, 1, 1], [1, 1, 2, 2]), w]).get('Y'))),
    [4, 4, 4, 4],
  );

  // Uneven pads are applied by a padded copy first: it is checked too.
  const pool = new OnnxModel(
    model({
      nodes: [
        node(
          'MaxPool',
          ['X'],
          ['Y'],
          [attr('kernel_shape', [2, 2]), attr('pads', [0, 0, 40, 40]), attr('strides', [40, 40])],
          'pool',
        ),
      ],
      inputs: [['X', [1, 1, 4, 4]]],
      outputs: ['Y'],
    }),
    { maxBytes: 4 * KiB },
  );
  assert.throws(
    () => noGrad(() => pool.call(tensor(new Array<number>(16).fill(1), [1, 1, 4, 4]))),
    throwsWith(
      ShapeError,
      /^OnnxModel: node 'pool' \(MaxPool\): attribute 'pads' \[0, 0, 40, 40\], strides \[40, 40\] on input \[1, 1, 4, 4\] \(the padded input\) gives \[1, 1, 44, 44\]: 1936 elements \(7744 bytes\), more than maxBytes \(4096 bytes\) allows$/,
    ),
  );
});

test('an LRN of even size checks the padded squares it builds; Gather and broadcasting arithmetic check their outputs', () => {
  const lrn = new OnnxModel(
    model({
      nodes: [node('LRN', ['X'], ['Y'], [attr('size', 4)], 'lrn')],
      inputs: [['X', [1, 64, 4, 4]]],
      outputs: ['Y'],
    }),
    { maxBytes: 4 * KiB },
  );
  assert.throws(
    () => noGrad(() => lrn.call(tensor(new Array<number>(1024).fill(1), [1, 64, 4, 4]))),
    throwsWith(
      ShapeError,
      /^OnnxModel: node 'lrn' \(LRN\): attribute 'size' 4 on input \[1, 64, 4, 4\] \(the squares padded by size − 1\) gives \[1, 1, 67, 16\]: 1072 elements/,
    ),
  );
  const gather = new OnnxModel(
    model({
      nodes: [node('Gather', ['X', 'indices'], ['Y'], [attr('axis', 0)], 'gather')],
      inputs: [['X', [2, 512]]],
      outputs: ['Y'],
      initializers: [int64TensorProto('indices', [4], [0, 1, 1, 0])],
    }),
    { maxBytes: 4 * KiB },
  );
  assert.throws(
    () => noGrad(() => gather.call(tensor(new Array<number>(1024).fill(1), [2, 512]))),
    throwsWith(
      ShapeError,
      /^OnnxModel: node 'gather' \(Gather\): indices \[4\] into data \[2, 512\] gives \[4, 512\]: 2048 elements \(8192 bytes\)/,
    ),
  );
  const outer = new OnnxModel(
    model({
      nodes: [node('Mul', ['X', 'B'], ['Y'], [], 'mul')],
      inputs: [['X', [64, 1]]],
      outputs: ['Y'],
      initializers: [floatTensorProto('B', [1, 64], new Float32Array(64).fill(2))],
    }),
    { maxBytes: 4 * KiB },
  );
  assert.throws(
    () => noGrad(() => outer.call(tensor(new Array<number>(64).fill(1), [64, 1]))),
    throwsWith(
      ShapeError,
      /^OnnxModel: node 'mul' \(Mul\): broadcasting inputs \[64, 1\] and \[1, 64\] gives \[64, 64\]: 4096 elements/,
    ),
  );
});

test('a value no operator check foresees is stopped after its node ran, naming the output', () => {
  // Relu makes a value the size of its input: no check before it, the one after every node refuses it.
  const net = new OnnxModel(
    model({ nodes: [node('Relu', ['X'], ['Y'], [], 'relu')], inputs: [['X', [512]]], outputs: ['Y'] }),
    { maxBytes: KiB },
  );
  assert.throws(
    () => noGrad(() => net.call(tensor(new Array<number>(512).fill(-1), [512]))),
    throwsWith(
      ShapeError,
      /^OnnxModel: node 'relu' \(Relu\): output 1 \('Y'\) gives \[512\]: 512 elements \(2048 bytes\), more than maxBytes \(1024 bytes\) allows$/,
    ),
  );
  assert.deepEqual(values(noGrad(() => net.call(tensor([-1, 2], [2])))), [0, 2]);
});

test("a Loop's scan outputs are checked as they grow", () => {
  const body: GraphProto = {
    name: 'body',
    node: [node('Identity', ['cond_in'], ['cond_out']), node('Identity', ['X'], ['scan_out'])],
    initializer: [],
    sparseInitializers: 0,
    input: ['i', 'cond_in'].map((name) => ({ name, type: null })),
    output: ['cond_out', 'scan_out'].map((name) => ({ name, type: null })),
    valueInfo: [],
  };
  const net = new OnnxModel(
    model({
      nodes: [
        node(
          'Loop',
          ['trips', ''],
          ['Y'],
          [{ ...emptyAttribute('body'), type: AttributeType.GRAPH, g: body }],
          'loop',
        ),
      ],
      inputs: [['X', [256]]],
      outputs: ['Y'],
      initializers: [int64TensorProto('trips', [], [100])],
    }),
    { maxBytes: 16 * KiB },
  );
  // 1 KiB a iteration: the 17th takes the stack past 16 KiB.
  assert.throws(
    () => noGrad(() => net.call(tensor(new Array<number>(256).fill(1), [256]))),
    throwsWith(
      ShapeError,
      /^OnnxModel: node 'loop' \(Loop\): scan output 1 after 17 iterations gives \[17, 256\]: 4352 elements/,
    ),
  );
});

test('maxBytes must be a positive number; the default is 1 GiB', () => {
  const bytes = modelBytes({ nodes: [node('Relu', ['X'], ['Y'])], inputs: [['X', [1]]], outputs: ['Y'] });
  for (const maxBytes of [0, -1, NaN]) {
    assert.throws(() => decodeOnnx(bytes, { maxBytes }), ValueError, String(maxBytes));
  }
  assert.equal(DEFAULT_MAX_BYTES, 2 ** 30);
  assert.ok(decodeOnnx(bytes, { maxBytes: Infinity }) instanceof OnnxModel);
});
