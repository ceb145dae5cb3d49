/**
 * ONNX export by tracing, in three steps: the module runs once in evaluation mode on a sample input while every
 * kernel call is recorded (trace.ts); the calls the output depends on are kept, a Linear layer's matmul and bias
 * addition merged into one Gemm (traced-graph.ts); each becomes ONNX nodes by its kernel's row (emit.ts).
 * Parameters and buffers become initialisers under their state-dict names ('layer1.0.conv1.weight'), and values
 * made during the pass (scalars, masks) become Constant nodes. Residual additions, concatenations and functional
 * ops export like layers, because what is recorded is the computation, not the module tree. Shapes are those of
 * the traced input; Flatten is exported as Flatten, so the batch size of a classifier's input may still vary.
 */
import type { Storage } from '../backend/backend.js';
import { ValueError, formatShape } from '../errors.js';
import type { Module } from '../nn/index.js';
import { Generator, randn, type Tensor } from '../tensor/index.js';
import { version } from '../version.js';
import { OnnxEmitter, int, valuesTensor } from './emit.js';
import { DataType, type ModelProto, type TensorProto } from './onnx-ir.js';
import { exportGraph, traceModule, type GraphValue } from './traced-graph.js';

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

  const traced = traceModule(module, sample);
  const output = traced.result;
  const values = exportGraph(traced, module, sample);
  const e = new OnnxEmitter(traced.paths);
  const initializers: TensorProto[] = [];
  const names = new Map<Storage, string>();
  const name = (s: Storage): string => {
    const n = names.get(s);
    if (n === undefined)
      throw new ValueError('exportOnnx: internal error, a value was used before it was made');
    return n;
  };
  const emitValue = (value: GraphValue): string => {
    switch (value.kind) {
      case 'input':
        return inputName;
      case 'state':
        initializers.push(valuesTensor(value.key, value.tensor.shape, value.tensor.data()));
        return value.key;
      case 'constant':
        return e.constant(valuesTensor('', value.shape, value.values));
      case 'linear': {
        const [, , , , , , transposeA, transposeB] = value.product.args;
        const inputs = [...value.product.inputs, value.bias].map(name);
        const transposes = [int('transA', transposeA ? 1 : 0), int('transB', transposeB ? 1 : 0)];
        return e.value(value.storage, () => e.output('Gemm', inputs, transposes));
      }
      case 'call':
        return e.call(value.call, value.call.inputs.map(name), value.storage);
    }
  };
  for (const value of values) names.set(value.storage, emitValue(value));

  // The output value takes the name the caller asked for: a node's output (an Identity of the input or a weight).
  let outputValue = name(output.storage);
  if (!e.nodes.some((node) => node.output.includes(outputValue)))
    outputValue = e.node('Identity', [outputValue]);
  for (const node of e.nodes) {
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
      node: e.nodes,
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
