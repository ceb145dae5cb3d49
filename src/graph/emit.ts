/**
 * ONNX nodes for traced kernel calls: one small function per kernel (a table keyed by TracedKernel, so a kernel
 * added to the trace without its row does not compile), each reading its call's typed arguments.
 */
import type { BinaryOp, PoolKind, ReduceOp, Storage, UnaryOp } from '../backend/backend.js';
import { ValueError, formatShape } from '../errors.js';
import {
  AttributeType,
  DataType,
  emptyAttribute,
  floatTensorProto,
  int32TensorProto,
  int64TensorProto,
  type AttributeProto,
  type NodeProto,
  type TensorProto,
} from './onnx-ir.js';
import type { TracedCallOf, TracedKernel } from './trace.js';

const attribute = (name: string, type: number, value: Partial<AttributeProto>): AttributeProto => ({
  ...emptyAttribute(name, type),
  ...value,
});
export const int = (name: string, i: number) => attribute(name, AttributeType.INT, { i });
export const ints = (name: string, values: readonly number[]) =>
  attribute(name, AttributeType.INTS, { ints: [...values] });
const float = (name: string, f: number) => attribute(name, AttributeType.FLOAT, { f });
const text = (name: string, s: string) =>
  attribute(name, AttributeType.STRING, { s: new TextEncoder().encode(s) });
const tensorAttribute = (name: string, t: TensorProto) => attribute(name, AttributeType.TENSOR, { t });

/** A float32 or int32 tensor of values read from a backend. */
export const valuesTensor = (name: string, shape: readonly number[], values: Float32Array | Int32Array) =>
  values instanceof Float32Array
    ? floatTensorProto(name, shape, values)
    : int32TensorProto(name, shape, values);

/** Writes nodes in order, each named after its position and, for the one that makes a traced value, its layer. */
export class OnnxEmitter {
  readonly nodes: NodeProto[] = [];
  #counter = 0;
  /** The storage whose value the current call makes: its layer names the call's last node. */
  #at: Storage | undefined;

  constructor(
    private readonly paths: ReadonlyMap<Storage, string>,
    /** Write shape constants that keep the first dimension as copies of it (exportOnnx's batch 'dynamic'). */
    private readonly dynamicBatch = false,
  ) {}

  /** A node; `named` marks the one making the traced value, named after that value's layer. */
  node(opType: string, inputs: readonly string[], attributes: AttributeProto[] = [], named = false): string {
    const path = named && this.#at !== undefined ? this.paths.get(this.#at) : undefined;
    const name = `${path === undefined ? '' : `${path}/`}${opType}_${this.#counter++}`;
    const out = `${name}_output`;
    this.nodes.push({ input: [...inputs], output: [out], name, opType, domain: '', attribute: attributes });
    return out;
  }

  /** The node making the traced value. */
  output(opType: string, inputs: readonly string[], attributes: AttributeProto[] = []): string {
    return this.node(opType, inputs, attributes, true);
  }

  constant(t: TensorProto): string {
    return this.node('Constant', [], [tensorAttribute('value', t)]);
  }

  int64s(values: readonly number[]): string {
    return this.constant(int64TensorProto('', [values.length], values));
  }

  floatScalar(value: number): string {
    return this.constant(floatTensorProto('', [], Float32Array.of(value)));
  }

  /**
   * Reshape's target shape for a value of shape `from`: where the batch may vary, a first dimension kept from the
   * input is written as 0, Reshape's "copy the input's dimension".
   */
  reshapeTarget(from: readonly number[], to: readonly number[]): readonly number[] {
    return this.dynamicBatch && from[0] === to[0] ? [0, ...to.slice(1)] : to;
  }

  /** Resize's sizes for an [N, C, H, W] value `x`: where the batch may vary, N and C are read from `x` itself. */
  resizeSizes(x: string, xShape: readonly number[], size: readonly number[]): string {
    if (!this.dynamicBatch) return this.int64s([xShape[0], xShape[1], ...size]);
    const batchAndChannels = this.node('Slice', [
      this.node('Shape', [x]),
      this.int64s([0]),
      this.int64s([2]),
    ]);
    return this.node('Concat', [batchAndChannels, this.int64s(size)], [int('axis', 0)]);
  }

  /** Expand's target shape: where the batch may vary, a first dimension kept from the input is written as 1. */
  expandTarget(from: readonly number[], to: readonly number[]): readonly number[] {
    return this.dynamicBatch && from[0] === to[0] ? [1, ...to.slice(1)] : to;
  }

  /** The nodes `make` writes for the traced value `at`; the one it marks as the output is named after its layer. */
  value(at: Storage, make: () => string): string {
    this.#at = at;
    try {
      return make();
    } finally {
      this.#at = undefined;
    }
  }

  /** The node(s) of a traced call reading the named inputs; returns the name of the value it makes. */
  call<K extends TracedKernel>(call: TracedCallOf<K>, inputs: readonly string[], at: Storage): string {
    const rule: EmitRule<K> = emitRules[call.kernel];
    return this.value(at, () => rule(call, inputs, this));
  }
}

type EmitRule<K extends TracedKernel> = (
  call: TracedCallOf<K>,
  inputs: readonly string[],
  e: OnnxEmitter,
) => string;

/** LeCun's 1998 squashing function A·tanh(S·x). */
const LECUN_A = 1.7159;
const LECUN_S = 2 / 3;

const unaryOps: Record<UnaryOp, (x: string, e: OnnxEmitter) => string> = {
  neg: (x, e) => e.output('Neg', [x]),
  abs: (x, e) => e.output('Abs', [x]),
  exp: (x, e) => e.output('Exp', [x]),
  log: (x, e) => e.output('Log', [x]),
  sqrt: (x, e) => e.output('Sqrt', [x]),
  square: (x, e) => e.output('Mul', [x, x]),
  reciprocal: (x, e) => e.output('Reciprocal', [x]),
  relu: (x, e) => e.output('Relu', [x]),
  sigmoid: (x, e) => e.output('Sigmoid', [x]),
  tanh: (x, e) => e.output('Tanh', [x]),
  scaledTanh: (x, e) => {
    const inner = e.node('Tanh', [e.node('Mul', [x, e.floatScalar(LECUN_S)])]);
    return e.output('Mul', [inner, e.floatScalar(LECUN_A)]);
  },
  sign: (x, e) => e.output('Sign', [x]),
};

/** Comparisons give float 1/0 in convnets, bool in ONNX. */
const comparison =
  (opType: string) =>
  (inputs: readonly string[], e: OnnxEmitter): string =>
    e.output('Cast', [e.node(opType, inputs)], [int('to', DataType.FLOAT)]);

const binaryOps: Record<BinaryOp, (inputs: readonly string[], e: OnnxEmitter) => string> = {
  add: (inputs, e) => e.output('Add', inputs),
  sub: (inputs, e) => e.output('Sub', inputs),
  mul: (inputs, e) => e.output('Mul', inputs),
  div: (inputs, e) => e.output('Div', inputs),
  maximum: (inputs, e) => e.output('Max', inputs),
  minimum: (inputs, e) => e.output('Min', inputs),
  pow: (inputs, e) => e.output('Pow', inputs),
  equal: comparison('Equal'),
  greater: comparison('Greater'),
  less: comparison('Less'),
};

const reduceOps: Record<ReduceOp, (x: string, axes: readonly number[], e: OnnxEmitter) => string> = {
  // ReduceSum takes its axes as an input from opset 13; ReduceMax and ReduceMin as an attribute until 18.
  sum: (x, axes, e) => e.output('ReduceSum', [x, e.int64s(axes)], [int('keepdims', 1)]),
  max: (x, axes, e) => e.output('ReduceMax', [x], [ints('axes', axes), int('keepdims', 1)]),
  min: (x, axes, e) => e.output('ReduceMin', [x], [ints('axes', axes), int('keepdims', 1)]),
};

/** ONNX's pooled size, floor or ceil of (in + pads − kernel) / stride, + 1. */
function onnxPooledSize(
  size: number,
  kernel: number,
  stride: number,
  begin: number,
  end: number,
  ceil: boolean,
): number {
  const span = (size + begin + end - kernel) / stride;
  return (ceil ? Math.ceil(span) : Math.floor(span)) + 1;
}

/**
 * Max pooling's ceil mode exports as extra end padding with ceil_mode 0 (padding never wins a max), which gives
 * PyTorch's window count exactly; average pooling keeps ceil_mode and must agree with ONNX's count.
 */
const pool2d: EmitRule<'pool2d'> = ({ args: [kind, , xShape, attrs], shape }, [x], e) => {
  const [top, bottom, left, right] = attrs.padding;
  const begin = [top, left];
  const end = [bottom, right];
  const out = shape.slice(2);
  let ceil = attrs.ceilMode;
  if (kind === 'max' && ceil) {
    for (let i = 0; i < 2; i++)
      end[i] = Math.max(end[i], (out[i] - 1) * attrs.stride[i] + attrs.kernel[i] - xShape[2 + i] - begin[i]);
    ceil = false;
  }
  for (let i = 0; i < 2; i++) {
    const onnx = onnxPooledSize(xShape[2 + i], attrs.kernel[i], attrs.stride[i], begin[i], end[i], ceil);
    if (onnx !== out[i]) {
      throw new ValueError(
        `exportOnnx: ${kind} pooling of ${formatShape(xShape)} gives ${out[i]} positions on axis ${i + 2}, ONNX's rule ${onnx}`,
      );
    }
  }
  const common = [
    ints('kernel_shape', attrs.kernel),
    ints('strides', attrs.stride),
    ints('pads', [...begin, ...end]),
    int('ceil_mode', ceil ? 1 : 0),
  ];
  const pools: Record<PoolKind, () => string> = {
    max: () => e.output('MaxPool', [x], common),
    avg: () =>
      e.output('AveragePool', [x], [...common, int('count_include_pad', attrs.countIncludePad ? 1 : 0)]),
  };
  return pools[kind]();
};

/** The error for a kernel ONNX has no operator for. */
const unexportable = (why: string) => (): never => {
  throw new ValueError(`exportOnnx: ${why}`);
};

const emitRules: { readonly [K in TracedKernel]: EmitRule<K> } = {
  upload: ({ args: [values], shape }, _, e) => e.constant(valuesTensor('', shape, values)),
  fill: ({ args: [, value, dtype], shape }, _, e) => {
    const one =
      dtype === 'float32'
        ? floatTensorProto('', [1], Float32Array.of(value))
        : int32TensorProto('', [1], [value]);
    return e.output('ConstantOfShape', [e.int64s(shape)], [tensorAttribute('value', one)]);
  },
  cast: ({ args: [, , dtype] }, inputs, e) =>
    e.output('Cast', inputs, [int('to', dtype === 'int32' ? DataType.INT32 : DataType.FLOAT)]),
  reshape: ({ args: [, from], shape: to }, [x], e) => {
    if (from.join() === to.join()) return x;
    const flattens = from.length >= 2 && to.length === 2 && to[0] === from[0];
    if (flattens) return e.output('Flatten', [x], [int('axis', 1)]);
    return e.output('Reshape', [x, e.int64s(e.reshapeTarget(from, to))]);
  },
  unary: ({ args: [op] }, [x], e) => unaryOps[op](x, e),
  binary: ({ args: [op] }, inputs, e) => binaryOps[op](inputs, e),
  axpby: ({ args: [alpha, , beta] }, [x, y], e) =>
    e.output('Add', [e.node('Mul', [x, e.floatScalar(alpha)]), e.node('Mul', [y, e.floatScalar(beta)])]),
  reduce: ({ args: [op, , , axes] }, [x], e) => reduceOps[op](x, axes, e),
  matmul: ({ args: [, , , , , , transposeA, transposeB], shape }, [a, b], e) => {
    if (shape.length === 2) {
      if (!transposeA && !transposeB) return e.output('MatMul', [a, b]);
      return e.output('Gemm', [a, b], [int('transA', transposeA ? 1 : 0), int('transB', transposeB ? 1 : 0)]);
    }
    const swap = (v: string, t: boolean) => (t ? e.node('Transpose', [v], [ints('perm', [0, 2, 1])]) : v);
    return e.output('MatMul', [swap(a, transposeA), swap(b, transposeB)]);
  },
  permute: ({ args: [, , perm] }, inputs, e) => e.output('Transpose', inputs, [ints('perm', perm)]),
  slice: ({ args: [, shape, begin, size] }, [x], e) => {
    const axes = shape.flatMap((d, i) => (begin[i] !== 0 || size[i] !== d ? [i] : []));
    if (axes.length === 0) return x;
    const starts = e.int64s(axes.map((i) => begin[i]));
    const ends = e.int64s(axes.map((i) => begin[i] + size[i]));
    return e.output('Slice', [x, starts, ends, e.int64s(axes)]);
  },
  pad: ({ args: [, , before, after, value] }, [x], e) =>
    e.output('Pad', [x, e.int64s([...before, ...after]), e.floatScalar(value)]),
  concat: ({ args: [, , axis] }, inputs, e) => e.output('Concat', inputs, [int('axis', axis)]),
  oneHot: unexportable('the oneHot kernel has no ONNX export'),
  im2col: unexportable('the im2col kernel has no ONNX export'),
  conv2d: ({ args: [, , , wShape, , attrs, post = {}] }, inputs, e) => {
    const [top, bottom, left, right] = attrs.padding;
    // A fused convolution is written out in standard operators: Conv, then Add, then Relu.
    const conv = e.node(
      'Conv',
      post.add ? inputs.slice(0, -1) : inputs,
      [
        ints('kernel_shape', wShape.slice(2)),
        ints('strides', attrs.stride),
        ints('pads', [top, left, bottom, right]),
        ints('dilations', attrs.dilation),
        int('group', attrs.groups),
      ],
      !post.add && !post.relu,
    );
    const sum = post.add ? e.node('Add', [conv, inputs[inputs.length - 1]], [], !post.relu) : conv;
    return post.relu ? e.output('Relu', [sum]) : sum;
  },
  pool2d,
  adaptiveAvgPool2d: ({ args: [, xShape, [oh, ow]] }, [x], e) => {
    const [n, c, h, w] = xShape;
    if (oh === 1 && ow === 1) return e.output('GlobalAveragePool', [x]);
    if (oh % h === 0 && ow % w === 0) {
      // Every bin lies in one input pixel (VGG's 7×7 pool of a 1×1 map): a nearest-neighbour repeat.
      const spreadShape = [n, c, h, 1, w, 1];
      const repeatedShape = [n, c, h, oh / h, w, ow / w];
      const spread = e.node('Reshape', [x, e.int64s(e.reshapeTarget(xShape, spreadShape))]);
      const repeated = e.node('Expand', [spread, e.int64s(e.expandTarget(spreadShape, repeatedShape))]);
      return e.output('Reshape', [repeated, e.int64s(e.reshapeTarget(repeatedShape, [n, c, oh, ow]))]);
    }
    if (h % oh !== 0 || w % ow !== 0) {
      throw new ValueError(
        `exportOnnx: adaptive average pooling ${h}×${w} → ${oh}×${ow} has uneven bins; ONNX has no such operator ` +
          '(export at an input size where the bins are even, or where the output is 1×1)',
      );
    }
    const kernel = [h / oh, w / ow];
    return e.output('AveragePool', [x], [ints('kernel_shape', kernel), ints('strides', kernel)]);
  },
  // PyTorch's nearest reads floor(out · in/out) ('asymmetric', 'floor'); its bilinear (align_corners false) uses
  // half-pixel centres, which ONNX's 'half_pixel' follows down to an output of one pixel.
  resize2d: ({ args: [, xShape, size, mode] }, [x], e) => {
    const attributes =
      mode === 'nearest'
        ? [
            text('mode', 'nearest'),
            text('coordinate_transformation_mode', 'asymmetric'),
            text('nearest_mode', 'floor'),
          ]
        : [text('mode', 'linear'), text('coordinate_transformation_mode', 'half_pixel')];
    return e.output('Resize', [x, '', '', e.resizeSizes(x, xShape, size)], attributes);
  },
  lrn: ({ args: [, , { size, alpha, beta, k }] }, inputs, e) => {
    if (size % 2 === 0) {
      throw new ValueError(
        `exportOnnx: LocalResponseNorm of even size ${size}: ONNX's LRN centres its window differently`,
      );
    }
    const attributes = [int('size', size), float('alpha', alpha), float('beta', beta), float('bias', k)];
    return e.output('LRN', inputs, attributes);
  },
  batchNormTraining: unexportable('batch norm ran with batch statistics; a layer forces training mode'),
  batchNormInference: ({ args: [, , , , , , eps] }, inputs, e) =>
    e.output('BatchNormalization', inputs, [float('epsilon', eps)]),
  softmax: ({ args: [, , axis, log] }, inputs, e) =>
    e.output(log ? 'LogSoftmax' : 'Softmax', inputs, [int('axis', axis)]),
};
