// The wasm backend's pool of threads (src/backend/wasm/pool.ts): the kernels that run in parts give, on 3 threads,
// the very values they give on one (each value is summed in the same order whichever part computes it), the workers
// do take parts, and LeNet-5 and ResNet-20 training steps agree bit for bit threaded and single-threaded.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Backend, Conv2dAttrs, Shape, Storage } from '../../../src/backend/backend.js';
import { setBackend } from '../../../src/backend/registry.js';
import { conv2dOutputShape } from '../../../src/backend/shapes.js';
import { WasmBackend } from '../../../src/backend/wasm/index.js';
import { loadWasmModule, loadWasmThreading } from '../../../src/backend/wasm/node-loader.js';
import { resnet20 } from '../../../src/models/cifar-resnet.js';
import { lenet5 } from '../../../src/models/lenet.js';
import type { Module } from '../../../src/nn/index.js';
import * as optim from '../../../src/optim/index.js';
import { Generator, crossEntropy, randn, scope, tensor } from '../../../src/tensor/index.js';
import { skipWasm } from './helpers.js';

/** A backend made with CONVNETS_THREADS=threads, as setBackend('wasm') makes it. */
function withThreads<T>(threads: number, make: () => T): T {
  const saved = process.env.CONVNETS_THREADS;
  process.env.CONVNETS_THREADS = String(threads);
  try {
    return make();
  } finally {
    if (saved === undefined) delete process.env.CONVNETS_THREADS;
    else process.env.CONVNETS_THREADS = saved;
  }
}

const skipThreads =
  skipWasm || (withThreads(2, loadWasmThreading) === null ? 'no convnets-threads.wasm built' : false);
const single = skipThreads
  ? null
  : withThreads(1, () => new WasmBackend(loadWasmModule(), loadWasmThreading()));
const pooled = skipThreads
  ? null
  : withThreads(3, () => new WasmBackend(loadWasmModule(), loadWasmThreading()));

function values(generator: Generator, shape: Shape): Float32Array {
  return Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => generator.normal());
}

/** The outputs of `kernel` on `backend`, its inputs uploaded there. */
function run(
  backend: Backend,
  inputs: [Float32Array, Shape][],
  kernel: (s: Storage[]) => Storage,
): Float32Array {
  const storages = inputs.map(([v, shape]) => backend.upload(v, shape));
  const out = kernel(storages);
  const result = backend.read(out, [out.size]) as Float32Array;
  for (const s of [...storages, out]) backend.release(s);
  return result;
}

test(
  'on 3 threads the convolutions and matmul give exactly the values they give on one',
  { skip: skipThreads },
  () => {
    const generator = new Generator(3);
    const cases: { x: Shape; w: Shape; attrs: Conv2dAttrs }[] = [
      // 7 images split 2/2/3; channels past the GEMM's row blocks; stride, groups and dilation.
      {
        x: [7, 5, 13, 11],
        w: [6, 5, 3, 3],
        attrs: { stride: [1, 1], padding: [1, 1, 1, 1], dilation: [1, 1], groups: 1 },
      },
      {
        x: [2, 4, 9, 10],
        w: [8, 2, 3, 2],
        attrs: { stride: [2, 1], padding: [1, 0, 1, 0], dilation: [1, 2], groups: 2 },
      },
      {
        x: [5, 1, 32, 32],
        w: [6, 1, 5, 5],
        attrs: { stride: [1, 1], padding: [0, 0, 0, 0], dilation: [1, 1], groups: 1 },
      },
      // Fewer images than parts: the forward splits each image's 100 and 49 output positions instead.
      {
        x: [1, 3, 20, 19],
        w: [8, 3, 7, 7],
        attrs: { stride: [2, 2], padding: [3, 3, 3, 3], dilation: [1, 1], groups: 1 },
      },
      {
        x: [2, 16, 7, 7],
        w: [32, 16, 3, 3],
        attrs: { stride: [1, 1], padding: [1, 1, 1, 1], dilation: [1, 1], groups: 1 },
      },
    ];
    for (const { x: xShape, w: wShape, attrs } of cases) {
      const [x, w] = [values(generator, xShape), values(generator, wShape)];
      const bias = values(generator, [wShape[0]]);
      const forward = (b: Backend) =>
        run(
          b,
          [
            [x, xShape],
            [w, wShape],
            [bias, [wShape[0]]],
          ],
          ([sx, sw, sb]) => b.conv2d(sx, xShape, sw, wShape, sb, attrs, { relu: true }),
        );
      const y = forward(single!);
      assert.deepEqual(forward(pooled!), y, `conv2d ${xShape} * ${wShape}`);
      const yShape = conv2dOutputShape(xShape, wShape, attrs);
      const dy = values(generator, yShape);
      const data = (b: Backend) =>
        run(
          b,
          [
            [dy, yShape],
            [w, wShape],
          ],
          ([sdy, sw]) => b.conv2dBackwardData(sdy, yShape, sw, wShape, xShape, attrs),
        );
      assert.deepEqual(data(pooled!), data(single!), `conv2dBackwardData ${xShape} * ${wShape}`);
      const filter = (b: Backend) =>
        run(
          b,
          [
            [x, xShape],
            [dy, yShape],
          ],
          ([sx, sdy]) => b.conv2dBackwardFilter(sx, xShape, sdy, yShape, wShape, attrs),
        );
      assert.deepEqual(filter(pooled!), filter(single!), `conv2dBackwardFilter ${xShape} * ${wShape}`);
    }
    // A batch of 5 (split by matrix) and of 1 (split by rows), operands transposed or not.
    for (const [batch, m, k, n, ta, tb] of [
      [5, 9, 300, 17, false, true],
      [1, 301, 70, 40, true, false],
    ] as const) {
      const [a, b] = [values(generator, [batch, m, k]), values(generator, [batch, k, n])];
      const product = (backend: Backend) =>
        run(
          backend,
          [
            [a, [batch, m, k]],
            [b, [batch, k, n]],
          ],
          ([sa, sb]) => backend.matmul(sa, sb, batch, m, k, n, ta, tb),
        );
      assert.deepEqual(product(pooled!), product(single!), `matmul ${batch}×${m}×${k}×${n}`);
    }
  },
);

test('the workers take parts of the work', { skip: skipThreads }, async () => {
  // A worker starts in its own time; until it does, the calling thread runs every part. Give them 20 s.
  const xShape: Shape = [8, 16, 32, 32];
  const wShape: Shape = [16, 16, 3, 3];
  const attrs: Conv2dAttrs = { stride: [1, 1], padding: [1, 1, 1, 1], dilation: [1, 1], groups: 1 };
  const generator = new Generator(4);
  const [x, w] = [values(generator, xShape), values(generator, wShape)];
  const started = Date.now();
  while (pooled!.workerParts() === 0 && Date.now() - started < 20_000) {
    run(
      pooled!,
      [
        [x, xShape],
        [w, wShape],
      ],
      ([sx, sw]) => pooled!.conv2d(sx, xShape, sw, wShape, null, attrs),
    );
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  assert.ok(pooled!.workerParts() > 0, 'no worker ran a part in 20 s');
  assert.equal(single!.workerParts(), 0);
  assert.equal(pooled!.threads, 3);
});

/** The loss and every parameter's gradient after one step of SGD with momentum, then the loss of a second step. */
function trainingSteps(makeModel: () => Module, inputShape: Shape): Float32Array[] {
  const model = makeModel();
  const generator = new Generator(9);
  const x = randn(inputShape, { generator });
  const labels = tensor(
    Int32Array.from({ length: inputShape[0] }, (_, i) => i % 10),
    [inputShape[0]],
    { dtype: 'int32' },
  );
  const optimizer = optim.sgd(model.parameters(), { lr: 0.05, momentum: 0.9 });
  const results: Float32Array[] = [];
  for (let step = 0; step < 2; step++) {
    scope(() => {
      optimizer.zeroGrad();
      const loss = crossEntropy(model.call(x), labels);
      loss.backward();
      results.push(Float32Array.of(loss.item()));
      if (step === 0) for (const p of model.parameters()) results.push(Float32Array.from(p.grad!.data()));
      optimizer.step();
    });
  }
  return results;
}

test(
  'LeNet-5 and ResNet-20 training steps agree bit for bit on 2 threads and on one',
  { skip: skipThreads },
  () => {
    const networks: [() => Module, Shape][] = [
      [() => lenet5({ seed: 1 }), [16, 1, 32, 32]],
      [() => resnet20({ seed: 1 }), [4, 3, 32, 32]],
    ];
    for (const [makeModel, inputShape] of networks) {
      const one = withThreads(1, () => setBackend('wasm'));
      assert.equal(one.threads, 1);
      const expected = trainingSteps(makeModel, inputShape);
      const two = withThreads(2, () => setBackend('wasm'));
      assert.equal(two.threads, 2);
      const actual = trainingSteps(makeModel, inputShape);
      assert.equal(actual.length, expected.length);
      actual.forEach((values, i) => assert.deepEqual(values, expected[i], `${inputShape}: result ${i}`));
      assert.ok(Number.isFinite(expected[0][0]));
    }
  },
);
