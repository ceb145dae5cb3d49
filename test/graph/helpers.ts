import '../../src/index.js'; // the Node entry: registers the native backend for setBackend('native')
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import {
  AttributeType,
  DataType,
  emptyAttribute,
  type AttributeProto,
  type ModelProto,
  type NodeProto,
  type TensorProto,
  floatTensorProto,
  int64TensorProto,
} from '../../src/graph/onnx-ir.js';
import { nativeUnavailableReason } from '../../src/backend/native/addon.js';
import { getBackend, setBackend } from '../../src/backend/registry.js';
import { decodeOnnx } from '../../src/io/onnx/index.js';
import { decodeModelProto } from '../../src/io/onnx/proto.js';
import { encodeModelProto } from '../../src/io/onnx/proto-encode.js';
import { BatchNorm2d, type Module } from '../../src/nn/index.js';
import { Generator, add, noGrad, rand, randn, tensor } from '../../src/tensor/index.js';

/** The repository root, from dist/test/graph/. */
export const repoRoot = new URL('../../../', import.meta.url).pathname;

export function fixturePath(name: string): string {
  return `${repoRoot}test/fixtures/onnx/${name}`;
}

export function fixture(name: string): Uint8Array {
  const buffer = readFileSync(fixturePath(name));
  return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
}

/**
 * Imports a model PyTorch exported (test/fixtures/onnx/<name>.onnx, with <name>.json: its input and PyTorch's output)
 * and checks it on each backend, twice (the second run may be a recorded replay on the native backend), to 1e-4.
 * Returns the model's nodes for the caller's checks of what the file holds.
 */
export function matchesPytorchExport(name: string): NodeProto[] {
  const expected: { input: FixtureArray; output: FixtureArray } = JSON.parse(
    readFileSync(fixturePath(`${name}.json`), 'utf8'),
  );
  const bytes = fixture(`${name}.onnx`);
  const previous = getBackend().name;
  try {
    for (const backend of ['reference', ...(nativeUnavailableReason() === null ? ['native'] : [])]) {
      setBackend(backend);
      const net = decodeOnnx(bytes).eval();
      const x = tensor(expected.input.data, expected.input.shape);
      for (const run of [1, 2]) {
        const y = noGrad(() => net.call(x));
        assert.deepEqual([...y.shape], expected.output.shape);
        assertClose(y.data(), expected.output.data, 1e-4, `${name} on ${backend}, run ${run}`);
      }
    }
  } finally {
    setBackend(previous);
  }
  return decodeModelProto(bytes).graph.node;
}

interface FixtureArray {
  shape: number[];
  data: number[];
}

/** Largest |a − b| over two equally long arrays, and the largest |b| (for relative errors). */
export function maxError(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
): { abs: number; scale: number } {
  assert.equal(actual.length, expected.length, 'lengths differ');
  let abs = 0;
  let scale = 0;
  for (let i = 0; i < actual.length; i++) {
    abs = Math.max(abs, Math.abs(actual[i] - expected[i]));
    scale = Math.max(scale, Math.abs(expected[i]));
  }
  return { abs, scale };
}

export function assertClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  relative: number,
  what: string,
): void {
  const { abs, scale } = maxError(actual, expected);
  assert.ok(
    abs <= relative * Math.max(scale, 1e-30),
    `${what}: max |error| ${abs} exceeds ${relative} × ${scale}`,
  );
}

/** Gives every BatchNorm2d random statistics, scale and shift, so that folding them is not the identity. */
export function randomiseBatchNorms(net: Module, seed: number): Module {
  const g = new Generator(seed);
  noGrad(() => {
    for (const m of net.modules()) {
      if (!(m instanceof BatchNorm2d)) continue;
      const c = m.weight!.shape[0];
      m.getBuffer('running_mean')!.assign(randn([c], { generator: g }));
      m.getBuffer('running_var')!.assign(add(rand([c], { generator: g }), 0.5));
      m.weight!.assign(randn([c], { generator: g }));
      m.bias!.assign(randn([c], { generator: g }));
    }
  });
  return net.eval();
}

// ---- building small models by hand ----

export function attr(
  name: string,
  value: number | number[] | string | TensorProto,
  kind?: 'float' | 'floats',
): AttributeProto {
  const base = emptyAttribute(name);
  if (typeof value === 'string')
    return { ...base, type: AttributeType.STRING, s: new TextEncoder().encode(value) };
  if (kind === 'float') return { ...base, type: AttributeType.FLOAT, f: value as number };
  if (kind === 'floats') return { ...base, type: AttributeType.FLOATS, floats: value as number[] };
  if (typeof value === 'number') return { ...base, type: AttributeType.INT, i: value };
  if (Array.isArray(value)) return { ...base, type: AttributeType.INTS, ints: value };
  return { ...base, type: AttributeType.TENSOR, t: value };
}

export function node(
  opType: string,
  input: string[],
  output: string[],
  attribute: AttributeProto[] = [],
  name = '',
): NodeProto {
  return { opType, input, output, attribute, name, domain: '' };
}

export interface ModelSpec {
  nodes: NodeProto[];
  inputs: [string, number[]][];
  outputs: string[];
  initializers?: TensorProto[];
  opset?: number;
}

export function model(spec: ModelSpec): ModelProto {
  return {
    irVersion: 8,
    opsetImport: [{ domain: '', version: spec.opset ?? 13 }],
    producerName: 'test',
    producerVersion: '',
    domain: '',
    modelVersion: 0,
    docString: '',
    graph: {
      name: 'g',
      node: spec.nodes,
      initializer: spec.initializers ?? [],
      sparseInitializers: 0,
      input: spec.inputs.map(([name, shape]) => ({
        name,
        type: { kind: 'tensor', elemType: DataType.FLOAT, shape },
      })),
      output: spec.outputs.map((name) => ({
        name,
        type: { kind: 'tensor', elemType: DataType.FLOAT, shape: null },
      })),
      valueInfo: [],
    },
    metadataProps: [],
    functions: 0,
  };
}

export function modelBytes(spec: ModelSpec): Uint8Array {
  return encodeModelProto(model(spec)).finish();
}

export { floatTensorProto, int64TensorProto };

/**
 * onnxruntime-node, a development tool only: from $CONVNETS_ONNXRUNTIME (a directory whose node_modules has it),
 * else bench/'s own install, else this package's. null when none is installed.
 */
export function loadOnnxRuntime(): { module: OrtModule | null; tried: string[] } {
  const places = [
    ...(process.env.CONVNETS_ONNXRUNTIME ? [`${process.env.CONVNETS_ONNXRUNTIME}/`] : []),
    `${repoRoot}bench/`,
    repoRoot,
  ];
  for (const place of places) {
    try {
      return { module: createRequire(`${place}index.js`)('onnxruntime-node') as OrtModule, tried: places };
    } catch {
      // not installed there
    }
  }
  return { module: null, tried: places };
}

export interface OrtModule {
  InferenceSession: { create(bytes: Uint8Array): Promise<OrtSession> };
  Tensor: new (type: 'float32', data: Float32Array, dims: readonly number[]) => unknown;
}

export interface OrtSession {
  run(
    feeds: Record<string, unknown>,
  ): Promise<Record<string, { data: Float32Array; dims: readonly number[] }>>;
}
