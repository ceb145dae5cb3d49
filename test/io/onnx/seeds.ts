import {
  AttributeType,
  floatTensorProto,
  int64TensorProto,
  type AttributeProto,
  type ModelProto,
  type TensorProto,
} from '../../../src/graph/onnx-ir.js';
import { encodeOnnx } from '../../../src/io/onnx/index.js';
import { encodeModelProto } from '../../../src/io/onnx/proto-encode.js';
import { Conv2d, Flatten, Linear, ReLU, Sequential } from '../../../src/nn/index.js';
import { manualSeed } from '../../../src/tensor/index.js';
import { attr, fixture, model, node, type ModelSpec } from '../../graph/helpers.js';

/**
 * The models the ONNX fuzzing starts from: small files to mutate byte by byte, and one-operator models whose integer
 * and float attributes (and integer constant inputs) are set to boundary values one at a time.
 */

const X = 'X';
const weights = (name: string, dims: number[]): TensorProto =>
  floatTensorProto(
    name,
    dims,
    Float32Array.from({ length: dims.reduce((n, d) => n * d, 1) }, (_, i) => ((i * 7) % 11) / 10 - 0.5),
  );

/**
 * One node of each operator whose attributes or constant inputs size what it allocates, chained on a [1, 2, 4, 4]
 * input, with small weights, so that byte mutations land on attributes often.
 */
const OPERATORS: ModelSpec = {
  nodes: [
    node('Pad', [X, 'edge_pads'], ['p1'], [attr('mode', 'edge')]),
    node(
      'Conv',
      ['p1', 'W'],
      ['c1'],
      [
        attr('kernel_shape', [3, 3]),
        attr('pads', [1, 1, 1, 1]),
        attr('strides', [1, 1]),
        attr('dilations', [1, 1]),
      ],
    ),
    node('LRN', ['c1'], ['n1'], [attr('size', 2)]),
    node(
      'MaxPool',
      ['n1'],
      ['m1'],
      [attr('kernel_shape', [2, 2]), attr('strides', [2, 2]), attr('pads', [0, 0, 1, 1])],
    ),
    node('AveragePool', ['m1'], ['a1'], [attr('kernel_shape', [3, 3]), attr('pads', [1, 1, 1, 1])]),
    node('Pad', ['a1', 'reflect_pads'], ['p2'], [attr('mode', 'reflect')]),
    node('Reshape', ['p2', 'flat'], ['r1']),
    node('Expand', ['r1', 'expanded'], ['e1']),
    node('Gather', ['e1', 'rows'], ['g1'], [attr('axis', 0)]),
    node('Slice', ['g1', 'starts', 'ends', 'axes', 'steps'], ['s1']),
    node(
      'ConstantOfShape',
      ['fill_shape'],
      ['f1'],
      [attr('value', floatTensorProto('', [1], Float32Array.of(0.5)))],
    ),
    node('Add', ['s1', 'f1'], ['sum']),
    node('Pad', ['sum', 'constant_pads'], ['p3']),
    node('MatMul', ['p3', 'B'], ['Y']),
  ],
  inputs: [[X, [1, 2, 4, 4]]],
  outputs: ['Y'],
  initializers: [
    int64TensorProto('edge_pads', [8], [0, 0, 1, 1, 0, 0, 1, 1]),
    weights('W', [2, 2, 3, 3]),
    int64TensorProto('reflect_pads', [8], [0, 0, 1, 1, 0, 0, 1, 1]),
    int64TensorProto('flat', [2], [1, -1]),
    int64TensorProto('expanded', [2], [2, 50]),
    int64TensorProto('rows', [3], [0, 1, -1]),
    int64TensorProto('starts', [1], [0]),
    int64TensorProto('ends', [1], [40]),
    int64TensorProto('axes', [1], [1]),
    int64TensorProto('steps', [1], [2]),
    int64TensorProto('fill_shape', [2], [3, 20]),
    int64TensorProto('constant_pads', [4], [1, 0, 1, 0]),
    weights('B', [20, 4]),
  ],
};

/** The .onnx files mutated byte by byte, by name: PyTorch exports, convnets' own export, the operators above. */
export const MUTATED_MODELS: Record<string, () => Uint8Array> = {
  'small-opset13.onnx': () => fixture('small-opset13.onnx'),
  'small-opset9.onnx': () => fixture('small-opset9.onnx'),
  'alexnet-lrn.onnx': () => fixture('alexnet-lrn.onnx'),
  'exported by convnets': () => {
    manualSeed(7);
    return encodeOnnx(
      new Sequential(new Conv2d(1, 2, 3, { padding: 1 }), new ReLU(), new Flatten(), new Linear(32, 3)),
      [1, 1, 4, 4],
    );
  },
  'operators.onnx': () => encodeModelProto(model(OPERATORS)).finish(),
};

// ---- attributes set to boundary values ----

/** Integers at the edges: zero, −1, int32's and uint32's limits, past a typed array, past exact doubles, INT64_MAX. */
export const BOUNDARY_INTEGERS = [
  0,
  -1,
  2 ** 31 - 1,
  2 ** 31,
  -(2 ** 31),
  2 ** 32,
  2 ** 32 + 1,
  2 ** 53,
  -(2 ** 53),
  2 ** 63,
];
/** Floats that break arithmetic: not a number, infinities, float32's largest and smallest, zero. */
export const BOUNDARY_FLOATS = [
  NaN,
  Infinity,
  -Infinity,
  3.4028234663852886e38,
  1.401298464324817e-45,
  0,
  -1,
];

interface AttributeSeed {
  name: string;
  spec: ModelSpec;
  /** The opset, where it decides how the operator reads its attributes (13 otherwise). */
  opset?: number;
}

const one = (opType: string, inputs: string[], attributes: AttributeProto[]): ModelSpec['nodes'] => [
  node(opType, [X, ...inputs], ['Y'], attributes),
];

const ATTRIBUTE_SEEDS: AttributeSeed[] = [
  {
    name: 'Conv',
    spec: {
      nodes: one(
        'Conv',
        ['W'],
        [
          attr('kernel_shape', [3, 3]),
          attr('pads', [1, 1, 1, 1]),
          attr('strides', [1, 1]),
          attr('dilations', [1, 1]),
          attr('group', 1),
        ],
      ),
      inputs: [[X, [1, 2, 5, 5]]],
      outputs: ['Y'],
      initializers: [weights('W', [2, 2, 3, 3])],
    },
  },
  ...['constant', 'edge', 'reflect'].map((mode) => ({
    name: `Pad ${mode}`,
    spec: {
      nodes: one('Pad', ['pads'], [attr('mode', mode)]),
      inputs: [[X, [1, 1, 3, 3]]] as [string, number[]][],
      outputs: ['Y'],
      initializers: [int64TensorProto('pads', [8], [0, 0, 1, 1, 0, 0, 2, 2])],
    },
  })),
  {
    name: 'Pad (opset 2, attributes)',
    opset: 2,
    spec: {
      nodes: one(
        'Pad',
        [],
        [attr('mode', 'edge'), attr('pads', [0, 0, 1, 1, 0, 0, 2, 2]), attr('value', 0, 'float')],
      ),
      inputs: [[X, [1, 1, 3, 3]]],
      outputs: ['Y'],
    },
  },
  {
    name: 'LRN',
    spec: {
      nodes: one(
        'LRN',
        [],
        [
          attr('size', 3),
          attr('alpha', 1e-4, 'float'),
          attr('beta', 0.75, 'float'),
          attr('bias', 1, 'float'),
        ],
      ),
      inputs: [[X, [1, 4, 3, 3]]],
      outputs: ['Y'],
    },
  },
  ...['MaxPool', 'AveragePool'].map((opType) => ({
    name: opType,
    spec: {
      nodes: one(
        opType,
        [],
        [
          attr('kernel_shape', [2, 2]),
          attr('pads', [0, 0, 1, 1]),
          attr('strides', [2, 2]),
          attr('ceil_mode', 0),
          ...(opType === 'MaxPool' ? [attr('dilations', [1, 1])] : [attr('count_include_pad', 0)]),
        ],
      ),
      inputs: [[X, [1, 1, 5, 5]]] as [string, number[]][],
      outputs: ['Y'],
    },
  })),
  {
    name: 'Expand',
    spec: {
      nodes: one('Expand', ['shape'], []),
      inputs: [[X, [1, 1, 5, 1]]],
      outputs: ['Y'],
      initializers: [int64TensorProto('shape', [4], [2, 1, 5, 5])],
    },
  },
  {
    name: 'Reshape',
    spec: {
      nodes: one('Reshape', ['shape'], [attr('allowzero', 0)]),
      inputs: [[X, [2, 3, 4]]],
      outputs: ['Y'],
      initializers: [int64TensorProto('shape', [3], [4, -1, 2])],
    },
  },
  {
    name: 'ConstantOfShape',
    spec: {
      nodes: [
        node(
          'ConstantOfShape',
          ['shape'],
          ['C'],
          [attr('value', floatTensorProto('', [1], Float32Array.of(2)))],
        ),
        node('Add', [X, 'C'], ['Y']),
      ],
      inputs: [[X, [1, 3]]],
      outputs: ['Y'],
      initializers: [int64TensorProto('shape', [2], [2, 3])],
    },
  },
  {
    name: 'Gather',
    spec: {
      nodes: one('Gather', ['indices'], [attr('axis', 1)]),
      inputs: [[X, [2, 5]]],
      outputs: ['Y'],
      initializers: [int64TensorProto('indices', [3], [0, 4, -1])],
    },
  },
  {
    name: 'Slice',
    spec: {
      nodes: one('Slice', ['starts', 'ends', 'axes', 'steps'], []),
      inputs: [[X, [4, 6]]],
      outputs: ['Y'],
      initializers: [
        int64TensorProto('starts', [2], [1, 0]),
        int64TensorProto('ends', [2], [3, 6]),
        int64TensorProto('axes', [2], [0, 1]),
        int64TensorProto('steps', [2], [1, 2]),
      ],
    },
  },
  {
    name: 'Flatten, Transpose, Concat, Softmax',
    spec: {
      nodes: [
        node('Transpose', [X], ['t'], [attr('perm', [0, 2, 1])]),
        node('Concat', ['t', 't'], ['c'], [attr('axis', 1)]),
        node('Flatten', ['c'], ['f'], [attr('axis', 1)]),
        node('Softmax', ['f'], ['Y'], [attr('axis', -1)]),
      ],
      inputs: [[X, [2, 3, 4]]],
      outputs: ['Y'],
    },
  },
];

/** One case: a seed with one integer (or float) set to a boundary value. */
export interface AttributeCase {
  seed: string;
  what: string;
  build(): ModelProto;
}

/**
 * Every attribute case, in order: each integer of each INT or INTS attribute and of each integer initialiser set to
 * each of BOUNDARY_INTEGERS, each FLOAT attribute to each of BOUNDARY_FLOATS. Models are built in memory: values past
 * 2^53 cannot be written by the encoder, and the decoder gives them as these numbers.
 */
export function attributeCases(): AttributeCase[] {
  const cases: AttributeCase[] = [];
  for (const seed of ATTRIBUTE_SEEDS) {
    // A fresh model each time, its node and initialiser lists its own: a case replaces one entry of them.
    const base = (): ModelProto => {
      const m = model(seed.spec);
      const graph = { ...m.graph, node: [...m.graph.node], initializer: [...m.graph.initializer] };
      return { ...m, graph, opsetImport: [{ domain: '', version: seed.opset ?? 13 }] };
    };
    const proto = base();
    proto.graph.node.forEach((n, ni) =>
      n.attribute.forEach((a, ai) => {
        const scalar = a.type === AttributeType.INT || a.type === AttributeType.FLOAT;
        const slots = a.type === AttributeType.INTS ? a.ints.length : scalar ? 1 : 0;
        const values = a.type === AttributeType.FLOAT ? BOUNDARY_FLOATS : BOUNDARY_INTEGERS;
        for (let slot = 0; slot < slots; slot++) {
          for (const value of values) {
            cases.push({
              seed: seed.name,
              what: `${n.opType} attribute '${a.name}'${a.type === AttributeType.INTS ? `[${slot}]` : ''} = ${value}`,
              build: () => {
                const m = base();
                const changed = { ...a, ints: [...a.ints] };
                if (a.type === AttributeType.INTS) changed.ints[slot] = value;
                else if (a.type === AttributeType.INT) changed.i = value;
                else changed.f = value;
                const target = m.graph.node[ni];
                m.graph.node[ni] = {
                  ...target,
                  attribute: target.attribute.map((b, i) => (i === ai ? changed : b)),
                };
                return m;
              },
            });
          }
        }
      }),
    );
    proto.graph.initializer.forEach((t, ti) => {
      const array = t.values('seed');
      if (array.kind !== 'int') return;
      array.values.forEach((_, slot) => {
        for (const value of BOUNDARY_INTEGERS) {
          cases.push({
            seed: seed.name,
            what: `initialiser '${t.name}'[${slot}] = ${value}`,
            build: () => {
              const m = base();
              const values = [...array.values];
              values[slot] = value;
              m.graph.initializer[ti] = int64TensorProto(t.name, t.dims, values);
              return m;
            },
          });
        }
      });
    });
  }
  return cases;
}
