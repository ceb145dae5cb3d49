// ONNX control flow: If (a branch chosen at run time, or at import when its condition is a constant) and Loop with
// a trip count, both reading values of the graph around them; PyTorch's AlexNet with LocalResponseNorm, which
// torch.onnx exports with two If nodes, against PyTorch's output.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  AttributeType,
  DataType,
  emptyAttribute,
  type AttributeProto,
  type GraphProto,
  type ModelProto,
  type NodeProto,
} from '../../src/graph/onnx-ir.js';
import { IntValues, OnnxUnsupportedError, type OnnxValue } from '../../src/graph/index.js';
import { decodeOnnx } from '../../src/io/onnx/index.js';
import { encodeModelProto } from '../../src/io/onnx/proto-encode.js';
import { noGrad, tensor, type Tensor } from '../../src/tensor/index.js';
import {
  assertClose,
  attr,
  matchesPytorchExport,
  floatTensorProto,
  int64TensorProto,
  model,
  node,
} from './helpers.js';

test("a tiny AlexNet with LRN exported by PyTorch (two If nodes) reproduces PyTorch's output", () => {
  const nodes = matchesPytorchExport('alexnet-lrn');
  assert.equal(nodes.filter((n) => n.opType === 'If').length, 2);
});

function graph(nodes: NodeProto[], outputs: string[], inputs: string[] = []): GraphProto {
  return {
    name: 'body',
    node: nodes,
    initializer: [],
    sparseInitializers: 0,
    input: inputs.map((name) => ({ name, type: null })),
    output: outputs.map((name) => ({ name, type: null })),
    valueInfo: [],
  };
}

const graphAttr = (name: string, g: GraphProto): AttributeProto => ({
  ...emptyAttribute(name),
  type: AttributeType.GRAPH,
  g,
});

/** A model whose `integer` inputs are integers (BOOL or INT64 scalars), the others float. */
function withIntegerInputs(m: ModelProto, integer: Record<string, number>): Uint8Array {
  for (const input of m.graph.input) {
    const elemType = integer[input.name];
    if (elemType !== undefined) input.type = { kind: 'tensor', elemType, shape: [] };
  }
  return encodeModelProto(m).finish();
}

const values = (v: OnnxValue | undefined) => Array.from((v as Tensor).data());

test('If runs the branch its condition picks; both read a value of the graph around them', () => {
  // y = x + x; out = cond ? relu(y) : −y. Nothing after the If reads y: it must live until the If ran.
  const bytes = withIntegerInputs(
    model({
      nodes: [
        node('Add', ['x', 'x'], ['y']),
        node(
          'If',
          ['cond'],
          ['out'],
          [
            graphAttr('then_branch', graph([node('Relu', ['y'], ['then_out'])], ['then_out'])),
            graphAttr('else_branch', graph([node('Neg', ['y'], ['else_out'])], ['else_out'])),
          ],
        ),
      ],
      inputs: [
        ['x', [3]],
        ['cond', []],
      ],
      outputs: ['out'],
    }),
    { cond: DataType.BOOL },
  );
  const net = decodeOnnx(bytes);
  const x = tensor([-1, 0.5, 2], [3]);
  const run = (cond: number) => noGrad(() => net.run({ x, cond: new IntValues([], [cond], DataType.BOOL) }));
  assert.deepEqual(values(run(1).get('out')), [0, 1, 4]);
  assert.deepEqual(values(run(0).get('out')), [2, -1, -4]);
  assert.deepEqual(values(run(1).get('out')), [0, 1, 4]);
});

test('a branch that returns its own constant hands out the same values on every run', () => {
  const constant = (name: string, value: number) =>
    node('Constant', [], [name], [attr('value', floatTensorProto('', [1], Float32Array.of(value)))]);
  const bytes = withIntegerInputs(
    model({
      nodes: [
        node(
          'If',
          ['cond'],
          ['picked'],
          [
            graphAttr('then_branch', graph([constant('seven', 7)], ['seven'])),
            graphAttr('else_branch', graph([constant('eight', 8)], ['eight'])),
          ],
        ),
        node('Add', ['picked', 'x'], ['out']),
      ],
      inputs: [
        ['x', [1]],
        ['cond', []],
      ],
      outputs: ['out'],
    }),
    { cond: DataType.BOOL },
  );
  const net = decodeOnnx(bytes);
  const run = (cond: number) =>
    values(
      noGrad(() => net.run({ x: tensor([1]), cond: new IntValues([], [cond], DataType.BOOL) })).get('out'),
    );
  assert.deepEqual([run(1), run(0), run(1), run(1), run(0)], [[8], [9], [8], [8], [9]]);
});

test('If on a constant condition is folded at import: the branch not taken is never compiled', () => {
  // The else branch holds an attribute convnets refuses: importing it would be an error.
  const bytes = encodeModelProto(
    model({
      nodes: [
        node(
          'If',
          ['always'],
          ['y'],
          [
            graphAttr('then_branch', graph([node('Sigmoid', ['x'], ['then_out'])], ['then_out'])),
            graphAttr(
              'else_branch',
              graph([node('Relu', ['x'], ['else_out'], [attr('frobnicate', 1)])], ['else_out']),
            ),
          ],
        ),
      ],
      inputs: [['x', [2]]],
      outputs: ['y'],
      initializers: [{ ...int64TensorProto('always', [], [1]), dataType: DataType.BOOL }],
    }),
  ).finish();
  const y = noGrad(() => decodeOnnx(bytes).call(tensor([0, Math.log(3)], [2])));
  assertClose(y.data(), [0.5, 0.75], 1e-6, 'sigmoid');
});

test('Loop with a trip count: carried values, scan outputs stacked per iteration, a value read from around', () => {
  // v ← v + d three times (d is a graph input read inside the body); the scan output stacks each new v.
  const body = graph(
    [
      node('Identity', ['cond_in'], ['cond_out']),
      node('Add', ['v_in', 'd'], ['v_out']),
      node('Identity', ['v_out'], ['scan_out']),
    ],
    ['cond_out', 'v_out', 'scan_out'],
    ['i', 'cond_in', 'v_in'],
  );
  const bytes = encodeModelProto(
    model({
      nodes: [node('Loop', ['trips', '', 'x'], ['v', 'stacked'], [graphAttr('body', body)])],
      inputs: [
        ['x', [2]],
        ['d', [2]],
      ],
      outputs: ['v', 'stacked'],
      initializers: [int64TensorProto('trips', [], [3])],
    }),
  ).finish();
  const net = decodeOnnx(bytes);
  const outputs = noGrad(() => net.run({ x: tensor([1, 2]), d: tensor([10, 20]) }));
  assert.deepEqual(values(outputs.get('v')), [31, 62]);
  assert.deepEqual([...(outputs.get('stacked') as Tensor).shape], [3, 2]);
  assert.deepEqual(values(outputs.get('stacked')), [11, 22, 21, 42, 31, 62]);
});

test('Loop stops when its body says so, and a Loop without a trip count is unsupported', () => {
  // The body's condition: i < 1, so the loop runs twice (i = 0, 1) of the 5 allowed.
  const body = graph(
    [node('Less', ['i', 'one'], ['cond_out']), node('Add', ['v_in', 'v_in'], ['v_out'])],
    ['cond_out', 'v_out'],
    ['i', 'cond_in', 'v_in'],
  );
  const loop = (trips: string) =>
    encodeModelProto(
      model({
        nodes: [node('Loop', [trips, '', 'x'], ['v'], [graphAttr('body', body)])],
        inputs: [['x', [1]]],
        outputs: ['v'],
        initializers: [int64TensorProto('five', [], [5]), int64TensorProto('one', [], [1])],
      }),
    ).finish();
  assert.deepEqual(values(noGrad(() => decodeOnnx(loop('five')).call(tensor([3])))), [12]);
  assert.throws(
    () => decodeOnnx(loop('')),
    (e: Error) => e instanceof OnnxUnsupportedError && /Loop without a trip count/.test(e.message),
  );
});
