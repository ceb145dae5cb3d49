import {
  AttributeType,
  DataType,
  emptyAttribute,
  floatTensorProto,
  int64TensorProto,
  type TensorProto,
} from '../../../src/graph/onnx-ir.js';
import { encodeModelProto } from '../../../src/io/onnx/proto-encode.js';
import { attr, model, node, type ModelSpec } from '../../graph/helpers.js';

/**
 * Small .onnx models whose attributes or constants size a value far past what a model run may allocate (with the
 * default budget, 1 GiB a value): pads of 2^28 and 2^40, an LRN window of 2^31, convolution and pooling pads of a
 * million, shapes and products of 2^31 elements, a Loop of 2^40 iterations. Each must end in a typed error naming the
 * node, the operator, the attribute and the sizes, before anything that large is allocated: importing the file and
 * running it once on its small input. Where the file alone decides the size the refusal comes at import (a
 * FormatError), else at run time (a ShapeError).
 */
export interface HostileModel {
  name: string;
  build(): Uint8Array;
  /** The graph input's shape and element type (float32 unless told): a small input, run once. */
  input: { shape: number[]; integer?: boolean };
  /** The error's type and what it must say. */
  error: 'FormatError' | 'ShapeError';
  refusal: RegExp;
}

const X = 'X';

function bytesOf(spec: ModelSpec, integerInput = false): Uint8Array {
  const proto = model(spec);
  if (integerInput) {
    const info = proto.graph.input[0];
    proto.graph.input[0] = { ...info, type: { kind: 'tensor', elemType: DataType.INT64, shape: null } };
    proto.graph.output[0] = { ...proto.graph.output[0], type: null };
  }
  return encodeModelProto(proto).finish();
}

/** Pad (opset 13, pads as an initialiser) of a [1, 1, 2, 2] input by `amount` on both ends of its last axis. */
function padModel(mode: string, amount: number, integerInput = false): Uint8Array {
  return bytesOf(
    {
      nodes: [node('Pad', [X, 'pads'], ['Y'], [attr('mode', mode)], 'pad')],
      inputs: [[X, [1, 1, 2, 2]]],
      outputs: ['Y'],
      initializers: [int64TensorProto('pads', [8], [0, 0, 0, amount, 0, 0, 0, amount])],
    },
    integerInput,
  );
}

const weight3x3 = (): TensorProto => floatTensorProto('W', [1, 1, 3, 3], new Float32Array(9).fill(1));

function windowModel(opType: string, pads: number[]): Uint8Array {
  const conv = opType === 'Conv';
  return bytesOf({
    nodes: [
      node(
        opType,
        conv ? [X, 'W'] : [X],
        ['Y'],
        [attr('kernel_shape', [3, 3]), attr('pads', pads)],
        opType.toLowerCase(),
      ),
    ],
    inputs: [[X, [1, 1, 4, 4]]],
    outputs: ['Y'],
    initializers: conv ? [weight3x3()] : [],
  });
}

const MILLION = 1_000_000;

/** A Loop of `trips` iterations whose body stacks the graph's input once per iteration (a scan output). */
function loopModel(trips: number): Uint8Array {
  const body = {
    name: 'body',
    node: [node('Identity', ['cond_in'], ['cond_out']), node('Identity', [X], ['scan_out'])],
    initializer: [],
    sparseInitializers: 0,
    input: ['i', 'cond_in'].map((name) => ({ name, type: null })),
    output: ['cond_out', 'scan_out'].map((name) => ({ name, type: null })),
    valueInfo: [],
  };
  return bytesOf({
    nodes: [
      node(
        'Loop',
        ['trips', ''],
        ['Y'],
        [{ ...emptyAttribute('body'), type: AttributeType.GRAPH, g: body }],
        'loop',
      ),
    ],
    inputs: [[X, [2]]],
    outputs: ['Y'],
    initializers: [int64TensorProto('trips', [], [trips])],
  });
}

const BUDGET = /more than maxBytes \(1073741824 bytes\) allows/;
const pattern = (...parts: (string | RegExp)[]): RegExp =>
  new RegExp(
    parts
      .map((p) => (typeof p === 'string' ? p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&') : p.source))
      .join('.*'),
  );

export const HOSTILE_MODELS: HostileModel[] = [
  {
    name: 'Pad (edge) by 2^28 on each end of an axis',
    build: () => padModel('edge', 2 ** 28),
    input: { shape: [1, 1, 2, 2] },
    error: 'FormatError',
    refusal: pattern(
      "node 'pad' (Pad): input 'pads' [0, 0, 0, 268435456, 0, 0, 0, 268435456] needs at least 536870912 elements",
      BUDGET,
    ),
  },
  ...['edge', 'constant', 'reflect'].map((mode): HostileModel => ({
    name: `Pad (${mode}) by 2^40`,
    build: () => padModel(mode, 2 ** 40),
    input: { shape: [1, 1, 2, 2] },
    error: 'FormatError',
    refusal: pattern(
      "node 'pad' (Pad): input 'pads' [0, 0, 0, 1099511627776, 0, 0, 0, 1099511627776] holds 1099511627776, more than a typed array can hold",
    ),
  })),
  {
    name: 'Pad (constant) by 2^24 of an integer input',
    build: () => padModel('constant', 2 ** 24, true),
    input: { shape: [1, 1, 2, 2], integer: true },
    error: 'ShapeError',
    refusal: pattern(
      "node 'pad' (Pad): input 'pads' [0, 0, 0, 16777216, 0, 0, 0, 16777216] on input [1, 1, 2, 2] gives [1, 1, 2, 33554434]: 67108868 integers, more than the 16777216 integers a value may hold",
    ),
  },
  {
    name: 'LRN of size 2^31',
    build: () =>
      bytesOf({
        nodes: [node('LRN', [X], ['Y'], [attr('size', 2 ** 31)], 'lrn')],
        inputs: [[X, [1, 2, 2, 2]]],
        outputs: ['Y'],
      }),
    input: { shape: [1, 2, 2, 2] },
    error: 'FormatError',
    refusal: pattern(
      "node 'lrn' (LRN): attribute 'size' 2147483648 (the squares padded by size − 1) needs at least",
      BUDGET,
    ),
  },
  {
    name: 'Conv with pads of a million',
    build: () => windowModel('Conv', [MILLION, MILLION, MILLION, MILLION]),
    input: { shape: [1, 1, 4, 4] },
    error: 'FormatError',
    refusal: pattern(
      "node 'conv' (Conv): attribute 'pads' [1000000, 1000000, 1000000, 1000000] needs at least",
      BUDGET,
    ),
  },
  {
    name: 'Conv with uneven pads of a million',
    build: () => windowModel('Conv', [MILLION, 0, 0, MILLION]),
    input: { shape: [1, 1, 4, 4] },
    error: 'FormatError',
    refusal: pattern("node 'conv' (Conv): attribute 'pads' [1000000, 0, 0, 1000000] needs at least", BUDGET),
  },
  {
    name: 'Conv with pads of a million and a weight computed at run time',
    build: () =>
      bytesOf({
        nodes: [
          node('Identity', ['W'], ['computed']),
          node('Conv', [X, 'computed'], ['Y'], [attr('pads', [MILLION, MILLION, MILLION, MILLION])], 'conv'),
        ],
        inputs: [[X, [1, 1, 4, 4]]],
        outputs: ['Y'],
        initializers: [weight3x3()],
      }),
    input: { shape: [1, 1, 4, 4] },
    error: 'ShapeError',
    refusal: pattern(
      "node 'conv' (Conv): attribute 'pads' [1000000, 1000000, 1000000, 1000000] on input [1, 1, 4, 4] gives [1, 1, 2000002, 2000002]",
      BUDGET,
    ),
  },
  ...['MaxPool', 'AveragePool'].map((opType): HostileModel => ({
    name: `${opType} with pads of a million`,
    build: () => windowModel(opType, [MILLION, MILLION, MILLION, MILLION]),
    input: { shape: [1, 1, 4, 4] },
    error: 'FormatError',
    refusal: pattern(
      `node '${opType.toLowerCase()}' (${opType}): attribute 'pads' [1000000, 1000000, 1000000, 1000000] needs at least`,
      BUDGET,
    ),
  })),
  {
    name: 'ConstantOfShape of 2^31 floats',
    build: () =>
      bytesOf({
        nodes: [
          node('ConstantOfShape', ['shape'], ['C'], [], 'fill'),
          node('Add', [X, 'C'], ['Y'], [], 'add'),
        ],
        inputs: [[X, [1]]],
        outputs: ['Y'],
        initializers: [int64TensorProto('shape', [1], [2 ** 31])],
      }),
    input: { shape: [1] },
    error: 'FormatError',
    refusal: pattern(
      "node 'fill' (ConstantOfShape): input 'input' [2147483648] needs at least 2147483648 elements",
      BUDGET,
    ),
  },
  {
    name: 'Expand of one float to [2^16, 2^15]',
    build: () =>
      bytesOf({
        nodes: [node('Expand', [X, 'shape'], ['Y'], [], 'expand')],
        inputs: [[X, [1]]],
        outputs: ['Y'],
        initializers: [int64TensorProto('shape', [2], [2 ** 16, 2 ** 15])],
      }),
    input: { shape: [1] },
    error: 'FormatError',
    refusal: pattern(
      "node 'expand' (Expand): input 'shape' [65536, 32768] needs at least 2147483648 elements",
      BUDGET,
    ),
  },
  {
    name: 'MatMul of [2^15, 1] by [1, 2^16]',
    build: () =>
      bytesOf({
        nodes: [node('MatMul', ['A', 'B'], ['P'], [], 'matmul'), node('Add', [X, 'P'], ['Y'], [], 'add')],
        inputs: [[X, [1]]],
        outputs: ['Y'],
        initializers: [
          floatTensorProto('A', [2 ** 15, 1], new Float32Array(2 ** 15)),
          floatTensorProto('B', [1, 2 ** 16], new Float32Array(2 ** 16)),
        ],
      }),
    input: { shape: [1] },
    error: 'ShapeError',
    refusal: pattern(
      "node 'matmul' (MatMul): [32768, 1] · [1, 65536] gives [32768, 65536]: 2147483648 elements",
      BUDGET,
    ),
  },
  {
    name: 'Add broadcasting [2^16, 1] and [1, 2^15]',
    build: () =>
      bytesOf({
        nodes: [node('Add', ['A', 'B'], ['S'], [], 'add'), node('Add', [X, 'S'], ['Y'], [], 'add X')],
        inputs: [[X, [1]]],
        outputs: ['Y'],
        initializers: [
          floatTensorProto('A', [2 ** 16, 1], new Float32Array(2 ** 16)),
          floatTensorProto('B', [1, 2 ** 15], new Float32Array(2 ** 15)),
        ],
      }),
    input: { shape: [1] },
    error: 'ShapeError',
    refusal: pattern(
      "node 'add' (Add): broadcasting inputs [65536, 1] and [1, 32768] gives [65536, 32768]: 2147483648 elements",
      BUDGET,
    ),
  },
  {
    name: 'Loop of 2^40 iterations stacking a scan output',
    build: () => loopModel(2 ** 40),
    input: { shape: [2] },
    error: 'FormatError',
    refusal: pattern(
      "node 'loop' (Loop): ran 65536 iterations, the most a Loop may run (MAX_LOOP_ITERATIONS), of its trip count 1099511627776",
    ),
  },
];
