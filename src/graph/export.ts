/**
 * ONNX export by tracing, in three steps: the module runs once in evaluation mode on a sample input while every
 * kernel call is recorded (trace.ts); the calls the output depends on are kept, a Linear layer's matmul and bias
 * addition merged into one Gemm (traced-graph.ts); each becomes ONNX nodes by its kernel's row (emit.ts).
 * Parameters and buffers become initialisers under their state-dict names ('layer1.0.conv1.weight'), and values
 * made during the pass (scalars, masks) become Constant nodes. Residual additions, concatenations and functional
 * ops export like layers, because what is recorded is the computation, not the module tree. Shapes are those of
 * the traced input, unless the batch is exported as dynamic: then the module is traced at a second batch size too,
 * and the two graphs must agree but for the batch.
 */
import type { Storage } from '../backend/backend.js';
import { ValueError, formatShape } from '../errors.js';
import type { Module } from '../nn/index.js';
import { Generator, randn, type Tensor } from '../tensor/index.js';
import { version } from '../version.js';
import { OnnxEmitter, int, valuesTensor } from './emit.js';
import {
  DataType,
  type AttributeProto,
  type Dimension,
  type ModelProto,
  type NodeProto,
  type TensorProto,
} from './onnx-ir.js';
import { exportGraph, traceModule, type GraphValue } from './traced-graph.js';
import { checkOptions, type OptionKeys } from '../options.js';

/** How a module is exported to ONNX. */
export interface ExportOnnxOptions {
  /** The default-domain operator set to declare: 13 (default) to 17; the nodes written mean the same in all. */
  opsetVersion?: number;
  inputName?: string;
  outputName?: string;
  /** The input traced; by default standard normal values of inputShape from a fixed seed. */
  sample?: Tensor;
  /** Stored as the model's doc_string. */
  docString?: string;
  /** Stored as the model's metadata_props (key, value strings); OnnxModel.metadata reads them back. */
  metadata?: Readonly<Record<string, string>>;
  /**
   * The first dimension of the input and output: 'traced' (default) writes the traced batch size; 'dynamic' a
   * symbolic dimension named 'batch', so that the file runs at any batch size. A graph that depends on the batch
   * size in another way (a constant holding it, an output whose first dimension is not the batch) is then a
   * ValueError naming the node.
   */
  batch?: 'traced' | 'dynamic';
}

/** The nodes and initialisers of a traced module, and its output. */
interface EmittedGraph {
  nodes: NodeProto[];
  initializers: TensorProto[];
  output: Tensor;
}

/** Every key of ExportOnnxOptions, for the functions that take them to check. */
export const exportOnnxOptionKeys: OptionKeys<ExportOnnxOptions> = {
  opsetVersion: true,
  inputName: true,
  outputName: true,
  sample: true,
  docString: true,
  metadata: true,
  batch: true,
};

/** Builds the ModelProto of a module traced on one input of shape inputShape (batch included). */
export function buildOnnxModel(
  module: Module,
  inputShape: readonly number[],
  options: ExportOnnxOptions = {},
): ModelProto {
  checkOptions('graph.buildOnnxModel', options, exportOnnxOptionKeys);
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

  const dynamic = options.batch === 'dynamic';
  if (options.batch !== undefined && options.batch !== 'traced' && !dynamic) {
    throw new ValueError(`exportOnnx: batch '${String(options.batch)}' is not 'traced' or 'dynamic'`);
  }
  const io = { input: inputName, output: outputName };
  const { nodes, initializers, output } = emitGraph(module, sample, io, dynamic);
  let outputShape: Dimension[] = [...output.shape];
  let inputShapeWritten: Dimension[] = [...inputShape];
  if (dynamic) {
    const batch = inputShape[0];
    const other = [batch + 1, ...inputShape.slice(1)];
    const check = emitGraph(module, randn(other, { generator: new Generator(0) }), io, dynamic);
    checkBatchFree(nodes, check.nodes, [batch, batch + 1]);
    if (output.shape[0] !== batch || check.output.shape[0] !== batch + 1) {
      throw new ValueError(
        `exportOnnx: batch 'dynamic': the output's first dimension is not the batch ` +
          `(${formatShape(output.shape)} at batch ${batch}, ${formatShape(check.output.shape)} at ${batch + 1})`,
      );
    }
    outputShape = [BATCH_DIMENSION, ...output.shape.slice(1)];
    inputShapeWritten = [BATCH_DIMENSION, ...inputShape.slice(1)];
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
        { name: inputName, type: { kind: 'tensor', elemType: DataType.FLOAT, shape: inputShapeWritten } },
      ],
      output: [{ name: outputName, type: { kind: 'tensor', elemType, shape: outputShape } }],
      valueInfo: [],
    },
    metadataProps: Object.entries(options.metadata ?? {}),
    functions: 0,
  };
}

/** Traces `module` on `sample` and writes the nodes of what its output depends on. */
function emitGraph(
  module: Module,
  sample: Tensor,
  io: { input: string; output: string },
  dynamicBatch: boolean,
): EmittedGraph {
  const traced = traceModule(module, sample);
  const output = traced.result;
  const values = exportGraph(traced, module, sample);
  const e = new OnnxEmitter(traced.paths, dynamicBatch);
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
        return io.input;
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
    node.input = node.input.map((n) => (n === outputValue ? io.output : n));
    node.output = node.output.map((n) => (n === outputValue ? io.output : n));
  }
  return { nodes: e.nodes, initializers, output };
}

/** The symbolic first dimension of a file exported with batch 'dynamic'. */
const BATCH_DIMENSION = 'batch';

/**
 * Refuses a graph whose nodes differ between two traces at different batch sizes: some shape constant or attribute
 * holds the batch size, so the file would only run at the traced one.
 */
function checkBatchFree(a: readonly NodeProto[], b: readonly NodeProto[], batches: readonly number[]): void {
  const differs = (x: NodeProto, y: NodeProto | undefined) =>
    y === undefined ||
    x.opType !== y.opType ||
    x.input.join() !== y.input.join() ||
    x.attribute.length !== y.attribute.length ||
    x.attribute.some((attr, i) => !sameAttribute(attr, y.attribute[i]));
  const at = a.findIndex((node, i) => differs(node, b[i]));
  if (at < 0 && a.length === b.length) return;
  let node = a[at] ?? b[a.length];
  // A shape constant is nameless to the user: name the node that reads it.
  if (node.opType === 'Constant') node = a.find((reader) => reader.input.includes(node.output[0])) ?? node;
  throw new ValueError(
    `exportOnnx: batch 'dynamic': node '${node.name}' (${node.opType}) depends on the batch size ` +
      `(traced at batches ${batches.join(' and ')}); export with the traced batch instead`,
  );
}

function sameAttribute(x: AttributeProto, y: AttributeProto): boolean {
  const same = (u: ArrayLike<number>, v: ArrayLike<number>) =>
    u.length === v.length && Array.from(u).every((value, i) => Object.is(value, v[i]));
  if (x.name !== y.name || x.type !== y.type || x.i !== y.i || !Object.is(x.f, y.f)) return false;
  if (!same(x.ints, y.ints) || !same(x.floats, y.floats) || !same(x.s, y.s)) return false;
  if (x.t === null || y.t === null) return x.t === y.t;
  const [u, v] = [x.t.values('constant'), y.t.values('constant')];
  return x.t.dataType === y.t.dataType && same(u.dims, v.dims) && same(u.values, v.values);
}
