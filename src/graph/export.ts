/**
 * ONNX export by tracing: the module runs once in evaluation mode on a sample input while every kernel call is
 * recorded (trace.ts); the calls reachable from the output become ONNX nodes, parameters and buffers become
 * initialisers under their state-dict names ('layer1.0.conv1.weight'), and values made during the pass
 * (scalars, masks) become Constant nodes. Residual additions, concatenations and functional ops export like
 * layers, because what is recorded is the computation, not the module tree. A Linear layer's matmul + bias
 * becomes one Gemm. Shapes are those of the traced input; Flatten is exported as Flatten, so the batch size of
 * a classifier's input may still vary.
 */
import type { Storage } from '../backend/backend.js';
import { version } from '../version.js';
import { ValueError, formatShape } from '../errors.js';
import { Module, observeCalls } from '../nn/index.js';
import { Generator, Tensor, noGrad, randn } from '../tensor/index.js';
import {
  AttributeType,
  DataType,
  emptyAttribute,
  floatTensorProto,
  int32TensorProto,
  int64TensorProto,
  type AttributeProto,
  type ModelProto,
  type NodeProto,
  type TensorProto,
} from './onnx-ir.js';
import { traceKernels, type TracedCall, type TracedCallOf } from './trace.js';

export interface ExportOnnxOptions {
  /** The default-domain operator set to declare: 13 (default) to 17; the nodes written mean the same in all. */
  opsetVersion?: number;
  inputName?: string;
  outputName?: string;
  /** The input traced; by default standard normal values of inputShape from a fixed seed. */
  sample?: Tensor;
  /** Stored as the model's doc_string. */
  docString?: string;
}

const LECUN_A = 1.7159;
const LECUN_S = 2 / 3;

function attribute(name: string, type: number, value: Partial<AttributeProto>): AttributeProto {
  return { ...emptyAttribute(name, type), ...value };
}

const int = (name: string, i: number) => attribute(name, AttributeType.INT, { i });
const ints = (name: string, values: readonly number[]) =>
  attribute(name, AttributeType.INTS, { ints: [...values] });
const float = (name: string, f: number) => attribute(name, AttributeType.FLOAT, { f });
const tensorAttribute = (name: string, t: TensorProto) => attribute(name, AttributeType.TENSOR, { t });

/** Storages reachable from `root`, each after the ones it reads (iterative: deep nets would overflow recursion). */
function postOrder(root: Storage, deps: (s: Storage) => readonly Storage[]): Storage[] {
  const order: Storage[] = [];
  const seen = new Set<Storage>();
  const stack: [Storage, boolean][] = [[root, false]];
  while (stack.length > 0) {
    const [s, expanded] = stack.pop()!;
    if (expanded) {
      order.push(s);
      continue;
    }
    if (seen.has(s)) continue;
    seen.add(s);
    stack.push([s, true]);
    for (const d of [...deps(s)].reverse()) if (!seen.has(d)) stack.push([d, false]);
  }
  return order;
}

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

/** Builds the ModelProto of a module traced on one input of shape inputShape (batch included). */
export function buildOnnxModel(
  module: Module,
  inputShape: readonly number[],
  options: ExportOnnxOptions = {},
): ModelProto {
  const opset = options.opsetVersion ?? 13;
  if (!Number.isInteger(opset) || opset < 13 || opset > 17) {
    throw new ValueError(`exportOnnx: opsetVersion ${opset} is not supported (13 to 17)`);
  }
  const inputName = options.inputName ?? 'input';
  const outputName = options.outputName ?? 'output';
  const sample = options.sample ?? randn(inputShape, { generator: new Generator(0) });
  if (sample.shape.join() !== inputShape.join()) {
    throw new ValueError(
      `exportOnnx: sample ${formatShape(sample.shape)} does not match inputShape ${formatShape(inputShape)}`,
    );
  }

  // Trace in evaluation mode, noting which module produced each storage (for node names), then restore the modes.
  const modes = module.modules().map((m): [Module, boolean] => [m, m.training]);
  const paths = new Map<Storage, string>();
  const stopObserving = observeCalls((call) => {
    if (call.path !== '' && !call.output.disposed && !paths.has(call.output.storage)) {
      paths.set(call.output.storage, call.path);
    }
  });
  let trace;
  try {
    module.eval();
    trace = traceKernels(sample.backend, () => noGrad(() => module.call(sample)));
  } finally {
    stopObserving();
    for (const [m, training] of modes) m.training = training;
  }
  const output = trace.result;
  const { producers, shapes } = trace;

  const state = new Map<Storage, [string, Tensor]>();
  for (const [key, t] of module.stateDict()) if (!state.has(t.storage)) state.set(t.storage, [key, t]);
  const inputStorage = sample.storage;
  const producerOf = (s: Storage): TracedCall | undefined =>
    s === inputStorage || state.has(s) ? undefined : producers.get(s);
  const shapeOf = (s: Storage): readonly number[] => {
    if (s === inputStorage) return sample.shape;
    const known = state.get(s)?.[1].shape ?? shapes.get(s);
    if (known === undefined) throw new ValueError('exportOnnx: a value of unknown shape reached the graph');
    return known;
  };

  // Linear's y = x·Wᵀ + b (a 2-D matmul read only by the add of a 1-D parameter, possibly reshaped to [1, n])
  // becomes one Gemm.
  const plain = postOrder(output.storage, (s) => {
    const call = producerOf(s);
    return call === undefined ? [] : call.inputs;
  });
  const uses = new Map<Storage, number>();
  for (const s of plain) {
    const call = producerOf(s);
    for (const d of call === undefined ? [] : call.inputs) uses.set(d, (uses.get(d) ?? 0) + 1);
  }
  const fused = new Map<Storage, { product: TracedCallOf<'matmul'>; bias: Storage }>();
  const biasOf = (s: Storage): Storage | null => {
    if (state.has(s) && shapeOf(s).length === 1) return s;
    const call = producerOf(s);
    if (call?.kernel !== 'reshape' || call.shape.length !== 2 || call.shape[0] !== 1) return null;
    const [source] = call.args;
    return state.has(source) && shapeOf(source).length === 1 ? source : null;
  };
  for (const s of plain) {
    const call = producerOf(s);
    if (call?.kernel !== 'binary') continue;
    const [op, a, , b] = call.args;
    if (op !== 'add') continue;
    const product = producerOf(a);
    const bias = biasOf(b);
    if (
      product?.kernel === 'matmul' &&
      product.shape.length === 2 &&
      uses.get(a) === 1 &&
      bias !== null &&
      call.shape.join() === product.shape.join()
    ) {
      fused.set(s, { product, bias });
    }
  }
  const depsOf = (s: Storage): readonly Storage[] => {
    const f = fused.get(s);
    if (f !== undefined) return [...f.product.inputs, f.bias];
    const call = producerOf(s);
    return call === undefined ? [] : call.inputs;
  };

  const nodes: NodeProto[] = [];
  const initializers: TensorProto[] = [];
  const names = new Map<Storage, string>();
  let counter = 0;
  const emit = (
    opType: string,
    inputs: readonly string[],
    attributes: AttributeProto[] = [],
    at?: Storage,
  ): string => {
    const path = at === undefined ? undefined : paths.get(at);
    const name = `${path === undefined ? '' : `${path}/`}${opType}_${counter++}`;
    const out = `${name}_output`;
    nodes.push({ input: [...inputs], output: [out], name, opType, domain: '', attribute: attributes });
    return out;
  };
  const constant = (t: TensorProto): string => emit('Constant', [], [tensorAttribute('value', t)]);
  const int64s = (values: readonly number[]) => constant(int64TensorProto('', [values.length], values));
  const floatScalar = (value: number) => constant(floatTensorProto('', [], Float32Array.of(value)));
  const name = (s: Storage): string => {
    const n = names.get(s);
    if (n === undefined)
      throw new ValueError('exportOnnx: internal error, a value was used before it was made');
    return n;
  };

  for (const s of postOrder(output.storage, depsOf)) {
    if (s === inputStorage) {
      names.set(s, inputName);
      continue;
    }
    const owned = state.get(s);
    if (owned !== undefined) {
      const [key, t] = owned;
      initializers.push(
        t.dtype === 'float32'
          ? floatTensorProto(key, t.shape, t.data() as Float32Array)
          : int32TensorProto(key, t.shape, t.data()),
      );
      names.set(s, key);
      continue;
    }
    const f = fused.get(s);
    if (f !== undefined) {
      const [a, b] = f.product.inputs;
      const [, , , , , , transposeA, transposeB] = f.product.args;
      names.set(
        s,
        emit(
          'Gemm',
          [name(a), name(b), name(f.bias)],
          [int('transA', transposeA ? 1 : 0), int('transB', transposeB ? 1 : 0)],
          s,
        ),
      );
      continue;
    }
    const call = producers.get(s);
    if (call === undefined) {
      // Made before the trace and owned by no module's state: its current values become a constant.
      const shape = shapeOf(s);
      const values = sample.backend.read(s, shape);
      names.set(
        s,
        constant(
          values instanceof Float32Array
            ? floatTensorProto('', shape, values)
            : int32TensorProto('', shape, values),
        ),
      );
      continue;
    }
    names.set(s, emitCall(call, s));
  }

  /** The ONNX node(s) of one kernel call; returns the name of the value it makes. */
  function emitCall(call: TracedCall, at: Storage): string {
    const inputs = call.inputs.map(name);
    switch (call.kernel) {
      case 'upload': {
        const [values] = call.args;
        return constant(
          values instanceof Float32Array
            ? floatTensorProto('', call.shape, values)
            : int32TensorProto('', call.shape, values),
        );
      }
      case 'fill': {
        const [, value, dtype] = call.args;
        const one =
          dtype === 'float32'
            ? floatTensorProto('', [1], Float32Array.of(value))
            : int32TensorProto('', [1], [value]);
        return emit('ConstantOfShape', [int64s(call.shape)], [tensorAttribute('value', one)], at);
      }
      case 'cast':
        return emit(
          'Cast',
          inputs,
          [int('to', call.args[2] === 'int32' ? DataType.INT32 : DataType.FLOAT)],
          at,
        );
      case 'reshape': {
        const [, from] = call.args;
        const to = call.shape;
        if (from.join() === to.join()) return inputs[0];
        const flattens = from.length >= 2 && to.length === 2 && to[0] === from[0];
        return flattens
          ? emit('Flatten', inputs, [int('axis', 1)], at)
          : emit('Reshape', [inputs[0], int64s(to)], [], at);
      }
      case 'unary': {
        const [op] = call.args;
        const simple: Record<string, string> = {
          neg: 'Neg',
          abs: 'Abs',
          exp: 'Exp',
          log: 'Log',
          sqrt: 'Sqrt',
          reciprocal: 'Reciprocal',
          relu: 'Relu',
          sigmoid: 'Sigmoid',
          tanh: 'Tanh',
          sign: 'Sign',
        };
        if (op in simple) return emit(simple[op], inputs, [], at);
        if (op === 'square') return emit('Mul', [inputs[0], inputs[0]], [], at);
        if (op === 'scaledTanh') {
          const inner = emit('Tanh', [emit('Mul', [inputs[0], floatScalar(LECUN_S)])]);
          return emit('Mul', [inner, floatScalar(LECUN_A)], [], at);
        }
        throw new ValueError(`exportOnnx: no ONNX operator for unary '${op}'`);
      }
      case 'binary': {
        const [op] = call.args;
        const arithmetic: Record<string, string> = {
          add: 'Add',
          sub: 'Sub',
          mul: 'Mul',
          div: 'Div',
          maximum: 'Max',
          minimum: 'Min',
          pow: 'Pow',
        };
        if (op in arithmetic) return emit(arithmetic[op], inputs, [], at);
        // Comparisons give float 1/0 in convnets, bool in ONNX.
        const comparisons: Record<string, string | undefined> = {
          equal: 'Equal',
          greater: 'Greater',
          less: 'Less',
        };
        const comparison = comparisons[op];
        if (comparison === undefined) throw new ValueError(`exportOnnx: no ONNX operator for binary '${op}'`);
        return emit('Cast', [emit(comparison, inputs)], [int('to', DataType.FLOAT)], at);
      }
      case 'axpby': {
        const [alpha, , beta] = call.args;
        const [x, y] = inputs;
        return emit(
          'Add',
          [emit('Mul', [x, floatScalar(alpha)]), emit('Mul', [y, floatScalar(beta)])],
          [],
          at,
        );
      }
      case 'reduce': {
        const [op, , , axes] = call.args;
        if (op === 'sum') return emit('ReduceSum', [inputs[0], int64s(axes)], [int('keepdims', 1)], at);
        return emit(
          op === 'max' ? 'ReduceMax' : 'ReduceMin',
          inputs,
          [ints('axes', axes), int('keepdims', 1)],
          at,
        );
      }
      case 'matmul': {
        const [, , , , , , transposeA, transposeB] = call.args;
        if (call.shape.length === 2) {
          if (!transposeA && !transposeB) return emit('MatMul', inputs, [], at);
          return emit(
            'Gemm',
            inputs,
            [int('transA', transposeA ? 1 : 0), int('transB', transposeB ? 1 : 0)],
            at,
          );
        }
        const swap = (v: string, t: boolean) => (t ? emit('Transpose', [v], [ints('perm', [0, 2, 1])]) : v);
        return emit('MatMul', [swap(inputs[0], transposeA), swap(inputs[1], transposeB)], [], at);
      }
      case 'permute':
        return emit('Transpose', inputs, [ints('perm', call.args[2])], at);
      case 'slice': {
        const [, shape, begin, size] = call.args;
        const axes = shape.flatMap((d, i) => (begin[i] !== 0 || size[i] !== d ? [i] : []));
        if (axes.length === 0) return inputs[0];
        const starts = axes.map((i) => begin[i]);
        const ends = axes.map((i) => begin[i] + size[i]);
        return emit('Slice', [inputs[0], int64s(starts), int64s(ends), int64s(axes)], [], at);
      }
      case 'pad': {
        const [, , before, after, value] = call.args;
        return emit('Pad', [inputs[0], int64s([...before, ...after]), floatScalar(value)], [], at);
      }
      case 'concat':
        return emit('Concat', inputs, [int('axis', call.args[2])], at);
      case 'conv2d': {
        const [, , , wShape, , attrs, post = {}] = call.args;
        const [top, bottom, left, right] = attrs.padding;
        // A fused convolution is written out in standard operators: Conv, then Add, then Relu.
        const convInputs = post.add ? inputs.slice(0, -1) : inputs;
        let y = emit(
          'Conv',
          convInputs,
          [
            ints('kernel_shape', wShape.slice(2)),
            ints('strides', attrs.stride),
            ints('pads', [top, left, bottom, right]),
            ints('dilations', attrs.dilation),
            int('group', attrs.groups),
          ],
          post.add || post.relu ? undefined : at,
        );
        if (post.add) y = emit('Add', [y, inputs[inputs.length - 1]], [], post.relu ? undefined : at);
        return post.relu ? emit('Relu', [y], [], at) : y;
      }
      case 'pool2d':
        return emitPool(call, inputs[0], at);
      case 'adaptiveAvgPool2d': {
        const [, xShape, [oh, ow]] = call.args;
        const [n, c, h, w] = xShape;
        if (oh === 1 && ow === 1) return emit('GlobalAveragePool', inputs, [], at);
        if (oh % h === 0 && ow % w === 0) {
          // Every bin lies in one input pixel (VGG's 7×7 pool of a 1×1 map): a nearest-neighbour repeat.
          const spread = emit('Reshape', [inputs[0], int64s([n, c, h, 1, w, 1])]);
          const repeated = emit('Expand', [spread, int64s([n, c, h, oh / h, w, ow / w])]);
          return emit('Reshape', [repeated, int64s([n, c, oh, ow])], [], at);
        }
        if (h % oh !== 0 || w % ow !== 0) {
          throw new ValueError(
            `exportOnnx: adaptive average pooling ${h}×${w} → ${oh}×${ow} has uneven bins; ONNX has no such operator ` +
              '(export at an input size where the bins are even, or where the output is 1×1)',
          );
        }
        const kernel = [h / oh, w / ow];
        return emit('AveragePool', inputs, [ints('kernel_shape', kernel), ints('strides', kernel)], at);
      }
      case 'lrn': {
        const [, , attrs] = call.args;
        if (attrs.size % 2 === 0) {
          throw new ValueError(
            `exportOnnx: LocalResponseNorm of even size ${attrs.size}: ONNX's LRN centres its window differently`,
          );
        }
        return emit(
          'LRN',
          inputs,
          [
            int('size', attrs.size),
            float('alpha', attrs.alpha),
            float('beta', attrs.beta),
            float('bias', attrs.k),
          ],
          at,
        );
      }
      case 'batchNormInference':
        return emit('BatchNormalization', inputs, [float('epsilon', call.args[6])], at);
      case 'softmax': {
        const [, , axis, log] = call.args;
        return emit(log ? 'LogSoftmax' : 'Softmax', inputs, [int('axis', axis)], at);
      }
      case 'batchNormTraining':
        throw new ValueError(
          'exportOnnx: batch norm ran with batch statistics; a layer forces training mode',
        );
      case 'oneHot':
      case 'im2col':
        throw new ValueError(`exportOnnx: the ${call.kernel} kernel has no ONNX export`);
    }
  }

  /**
   * Max pooling's ceil mode exports as extra end padding with ceil_mode 0 (padding never wins a max), which gives
   * PyTorch's window count exactly; average pooling keeps ceil_mode and must agree with ONNX's count.
   */
  function emitPool(call: TracedCallOf<'pool2d'>, x: string, at: Storage): string {
    const [kind, , xShape, attrs] = call.args;
    const [top, bottom, left, right] = attrs.padding;
    const begin = [top, left];
    const end = [bottom, right];
    const out = call.shape.slice(2);
    let ceil = attrs.ceilMode;
    if (kind === 'max' && ceil) {
      for (let i = 0; i < 2; i++)
        end[i] = Math.max(
          end[i],
          (out[i] - 1) * attrs.stride[i] + attrs.kernel[i] - xShape[2 + i] - begin[i],
        );
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
    if (kind === 'max') return emit('MaxPool', [x], common, at);
    return emit('AveragePool', [x], [...common, int('count_include_pad', attrs.countIncludePad ? 1 : 0)], at);
  }

  // The output value takes the name the caller asked for.
  let outputValue = name(output.storage);
  if (outputValue === inputName || state.has(output.storage)) outputValue = emit('Identity', [outputValue]);
  for (const node of nodes) {
    node.input = node.input.map((n) => (n === outputValue ? outputName : n));
    node.output = node.output.map((n) => (n === outputValue ? outputName : n));
  }
  const elemType = output.dtype === 'float32' ? DataType.FLOAT : DataType.INT32;
  return {
    irVersion: opset >= 15 ? 8 : 7,
    opsetImport: [{ domain: '', version: opset }],
    producerName: 'convnets',
    producerVersion: version,
    domain: '',
    modelVersion: 0,
    docString: options.docString ?? '',
    graph: {
      name: module.typeName,
      node: nodes,
      initializer: initializers,
      sparseInitializers: 0,
      input: [
        { name: inputName, type: { kind: 'tensor', elemType: DataType.FLOAT, shape: [...inputShape] } },
      ],
      output: [{ name: outputName, type: { kind: 'tensor', elemType, shape: [...output.shape] } }],
      valueInfo: [],
    },
    metadataProps: [],
    functions: 0,
  };
}
