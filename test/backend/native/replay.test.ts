// Recorded inference runs (Backend.recorder, native/src/recording.cc, graph/replay.ts): a replay computes what
// the graph computes node by node, follows new inputs, shapes and weights, never hands out memory it rewrites,
// and a run that reads values is never replayed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Storage } from '../../../src/backend/backend.js';
import { getBackend, setBackend } from '../../../src/backend/registry.js';
import { OnnxModel, buildOnnxModel, decodeOnnx, optimizeForInference } from '../../../src/io/onnx/index.js';
import { floatTensorProto } from '../../../src/graph/onnx-ir.js';
import * as models from '../../../src/models/index.js';
import * as nn from '../../../src/nn/index.js';
import type { Module } from '../../../src/nn/index.js';
import { sizeOf } from '../../../src/backend/shapes.js';
import { Generator, type Tensor, noGrad, randn } from '../../../src/tensor/index.js';
import { assertClose, modelBytes, node, randomiseBatchNorms } from '../../graph/helpers.js';
import { native, skipNative, spyOn } from './helpers.js';

process.env.CONVNETS_THREADS ??= '1';

function replaysAgree(net: Module, shape: number[], what: string): void {
  const counts = spyOn(getBackend().recorder!);
  const fast = optimizeForInference(net, shape);
  const generator = new Generator(4);
  const kept: [Float32Array, ReturnType<typeof randn>][] = [];
  for (let run = 0; run < 5; run++) {
    const x = randn(shape, { generator });
    const expected = noGrad(() => net.call(x)).data() as Float32Array;
    const y = noGrad(() => fast.call(x));
    assertClose(y.data(), expected, 1e-4, `${what}, run ${run + 1}`);
    kept.push([expected, y]);
  }
  // Run 1 runs node by node, run 2 is recorded, runs 3 to 5 replay it.
  assert.deepEqual(counts, { recorded: 1, refused: 0, replays: 3 }, what);
  // What each run returned is its own: later replays do not rewrite it.
  kept.forEach(([expected, y], i) =>
    assertClose(y.data(), expected, 1e-4, `${what}, run ${i + 1} afterwards`),
  );
}

test('optimised ResNet-20 and GoogLeNet replay their recorded runs', { skip: skipNative }, () => {
  setBackend('native');
  replaysAgree(randomiseBatchNorms(models.resnet20({ seed: 1 }), 2), [2, 3, 32, 32], 'resnet20');
  replaysAgree(
    randomiseBatchNorms(models.googlenet({ seed: 1, auxLogits: false }), 3),
    [2, 3, 64, 64],
    'googlenet',
  );
});

/** A fully convolutional net, whose graph runs at any input size. */
function convolutional(): Module {
  const generator = new Generator(6);
  return new nn.Sequential(
    new nn.Conv2d(3, 16, 3, { padding: 1, generator }),
    new nn.ReLU(),
    new nn.MaxPool2d(2),
    new nn.Conv2d(16, 8, 1, { generator }),
  ).eval();
}

test('a new input shape or new weights make a new recording', { skip: skipNative }, () => {
  const backend = setBackend('native');
  const counts = spyOn(backend.recorder!);
  const net = convolutional();
  const model = new OnnxModel(buildOnnxModel(net, [1, 3, 8, 8]), { trainable: false });
  const generator = new Generator(7);
  const check = (shape: number[], what: string) => {
    const x = randn(shape, { generator });
    const y = noGrad(() => model.call(x));
    // With gradients on, the graph runs node by node, never from a recording.
    assertClose(y.data(), model.call(x).data(), 1e-5, what);
  };
  for (let i = 0; i < 3; i++) check([1, 3, 8, 8], `8×8 run ${i + 1}`);
  for (let i = 0; i < 3; i++) check([2, 3, 12, 10], `2×12×10 run ${i + 1}`);
  assert.deepEqual(counts, { recorded: 2, refused: 0, replays: 2 });
  const weight = model.buffers()[0];
  weight.assign(randn(weight.shape, { generator }));
  check([2, 3, 12, 10], 'after assigning a weight');
  check([2, 3, 12, 10], 'the run after');
  check([2, 3, 12, 10], 'a replay with the new weight');
  assert.deepEqual(counts, { recorded: 3, refused: 0, replays: 3 });
});

test('a run that reads values or uploads is not replayed', { skip: skipNative }, () => {
  const backend = setBackend('native');
  const counts = spyOn(backend.recorder!);
  // Pow has no oneDNN kernel: the native backend computes it on the reference backend, reading its input.
  const exponent = floatTensorProto('e', [1], Float32Array.of(2));
  const bytes = modelBytes({
    nodes: [node('Relu', ['x'], ['r']), node('Pow', ['r', 'e'], ['y'])],
    inputs: [['x', [2, 3]]],
    outputs: ['y'],
    initializers: [exponent],
  });
  const model = decodeOnnx(bytes);
  const generator = new Generator(8);
  for (let run = 0; run < 4; run++) {
    const x = randn([2, 3], { generator });
    const y = noGrad(() => model.call(x)).data();
    const expected = Array.from(x.data(), (v) => Math.max(v, 0) ** 2);
    assertClose(y, expected, 1e-6, `run ${run + 1}`);
  }
  assert.deepEqual(counts, { recorded: 0, refused: 1, replays: 0 });
});

test(
  'a graph that passes its input through as an output still gives every output',
  { skip: skipNative },
  () => {
    setBackend('native');
    const model = decodeOnnx(
      modelBytes({ nodes: [node('Relu', ['x'], ['r'])], inputs: [['x', [2, 3]]], outputs: ['x', 'r'] }),
    );
    const generator = new Generator(10);
    for (let run = 0; run < 4; run++) {
      const x = randn([2, 3], { generator });
      const outputs = noGrad(() => model.run([x]));
      assert.deepEqual(
        Array.from((outputs.get('x') as Tensor).data()),
        Array.from(x.data()),
        `run ${run + 1}: x`,
      );
      const relu = Array.from(x.data(), (v) => Math.max(v, 0));
      assert.deepEqual(Array.from((outputs.get('r') as Tensor).data()), relu, `run ${run + 1}: relu`);
    }
  },
);

/** A 3×3 convolution's attributes that keep the input's size. */
const sameSize = { stride: [1, 1], padding: [1, 1, 1, 1], dilation: [1, 1], groups: 1 } as const;

/** Standard normal values, as many as `dims` holds. */
const normals = (generator: Generator, dims: readonly number[]) =>
  Float32Array.from({ length: sizeOf(dims) }, () => generator.normal());

test('memory a recording uses is not handed out while it lives', { skip: skipNative }, () => {
  const backend = native();
  const generator = new Generator(9);
  const shape = [1, 4, 6, 6];
  const upload = (dims: number[]) => backend.upload(normals(generator, dims), dims);
  const [x, w] = [upload(shape), upload([4, 4, 3, 3])];
  let y = x;
  const recording = backend.recorder.record([x], () => {
    // The first output is freed within the recording: the second may reuse its memory, as each replay will.
    const first = backend.conv2d(x, shape, w, [4, 4, 3, 3], null, sameSize);
    y = backend.conv2d(first, shape, w, [4, 4, 3, 3], null, sameSize, { relu: true });
    backend.release(first);
    return [y];
  });
  assert.ok(recording !== null);
  const expected = backend.read(y, shape);
  assert.ok(expected.some((v) => v > 0));
  for (let i = 0; i < 3; i++) recording.replay([x]);
  assert.deepEqual(backend.read(y, shape), expected, 'replays compute what the recorded run did');
  // A released output stays with the recording: a new storage of its size gets other memory.
  backend.release(y);
  const zeros = backend.fill(shape, 0, 'float32');
  const live = backend.memory();
  for (let i = 0; i < 3; i++) recording.replay([x]);
  assert.ok(
    backend.read(zeros, shape).every((v) => v === 0),
    'replays leave other storages alone',
  );
  assert.deepEqual(backend.memory(), live, 'replays allocate nothing');
  recording.release();
  assert.throws(() => recording.replay([x]), /released/);
  // Reading values within a recording (JavaScript may act on them) makes it one that cannot be replayed.
  assert.equal(
    backend.recorder.record([x], () => {
      backend.read(x, shape);
      return [];
    }),
    null,
  );
});

test(
  'a convolution and the pooling of its output replay image by image, as the batch computes them',
  {
    skip: skipNative,
  },
  () => {
    const backend = native();
    const generator = new Generator(11);
    const upload = (dims: number[]) => backend.upload(normals(generator, dims), dims);
    const pool = {
      kernel: [3, 3],
      stride: [2, 2],
      padding: [0, 0, 0, 0],
      ceilMode: true,
      countIncludePad: true,
    } as const;
    const [w, bias] = [upload([16, 3, 3, 3]), upload([16])];
    /** A recording of x's convolution (with bias and ReLU) and its max pooling, the pooled output and its shape. */
    const record = (xShape: number[]) => {
      const x = upload(xShape);
      const convShape = [xShape[0], 16, xShape[2], xShape[3]];
      const pooledShape = [
        xShape[0],
        16,
        Math.ceil((xShape[2] - 3) / 2) + 1,
        Math.ceil((xShape[3] - 3) / 2) + 1,
      ];
      const run = (input: Storage) => {
        const y = backend.conv2d(input, xShape, w, [16, 3, 3, 3], bias, sameSize, { relu: true });
        const pooled = backend.pool2d('max', y, convShape, pool, false).y;
        backend.release(y);
        return pooled;
      };
      // A first run makes the weights' reordered copy, which a recording made now would not include.
      backend.release(run(x));
      let pooled = x;
      const recording = backend.recorder.record([x], () => [(pooled = run(x))]);
      assert.ok(recording !== null);
      // A replay on a new input must compute what a batched run computes from it.
      const check = () => {
        const fresh = upload(xShape);
        recording.replay([fresh]);
        assertClose(
          backend.read(pooled, pooledShape),
          backend.read(run(fresh), pooledShape),
          1e-5,
          `${xShape}`,
        );
      };
      return { recording, check };
    };
    // Three images whose convolution writes 9.6 MB: split image by image, the two calls make one step.
    const large = record([3, 3, 224, 224]);
    assert.equal(large.recording.steps(), 1);
    large.check();
    large.check();
    // At 2.4 MB the batch stays in cache: two steps, run batched.
    const small = record([3, 3, 112, 112]);
    assert.equal(small.recording.steps(), 2);
    small.check();
    large.recording.release();
    small.recording.release();
  },
);

test('a replay reads its inputs in place, and copies those it cannot', { skip: skipNative }, () => {
  const backend = native();
  const generator = new Generator(12);
  const shape = [2, 16, 5, 5];
  const wShape = [16, 16, 3, 3];
  const values = () => normals(generator, shape);
  const w = backend.upload(normals(generator, wShape), wShape);
  const convolve = (x: Storage) => backend.conv2d(x, shape, w, wShape, null, sameSize);
  /** What the recorded run computes from its three inputs. */
  const graph = (a: Storage, b: Storage, c: Storage) => [
    // An output that views an input: a replay must show the new input's values through it.
    backend.reshape(a, shape, [2, 400]),
    // A hand-written step (axpby's loop) reading an input holds its address.
    backend.axpby(2, b, 1, b, shape),
    // Only kernels read c: a replay points them at the caller's c.
    convolve(c),
  ];
  const inputs = () => [values(), values(), values()].map((v) => backend.upload(v, shape));
  const recorded = inputs();
  graph(recorded[0], recorded[1], recorded[2]).forEach((y) => backend.release(y));
  let outputs: Storage[] = [];
  const recording = backend.recorder.record(
    recorded,
    () => (outputs = graph(recorded[0], recorded[1], recorded[2])),
  );
  assert.ok(recording !== null);
  const shapes = [[2, 400], shape, shape];
  for (let run = 0; run < 3; run++) {
    const given = inputs();
    // A blocked input differs in layout from the recorded one: it is copied.
    if (run === 2) given[2] = convolve(given[2]);
    assert.equal(backend.isBlocked(given[2]), run === 2);
    const kept = given.map((x) => backend.read(x, shape));
    recording.replay(given);
    const expected = graph(given[0], given[1], given[2]);
    outputs.forEach((y, i) =>
      assertClose(
        backend.read(y, shapes[i]),
        backend.read(expected[i], shapes[i]),
        1e-5,
        `run ${run + 1}, output ${i}`,
      ),
    );
    given.forEach((x, i) =>
      assert.deepEqual(backend.read(x, shape), kept[i], `run ${run + 1}: input ${i} unchanged`),
    );
  }
  assert.throws(() => recording.replay(recorded.slice(1)), /wrong number of inputs/);
  const small = backend.upload(new Float32Array(399), [1, 399]);
  assert.throws(() => recording.replay([small, ...recorded.slice(1)]), /size or type/);
  recording.release();
});
