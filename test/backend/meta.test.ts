import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Backend, Conv2dAttrs, Pool2dAttrs, Shape, Storage } from '../../src/backend/backend.js';
import { MetaBackend } from '../../src/backend/meta.js';
import { ReferenceBackend } from '../../src/backend/reference/index.js';
import { backendNames, getBackend, withBackend } from '../../src/backend/registry.js';
import { BackendError, ValueError } from '../../src/errors.js';
import { Conv2d, Sequential, ReLU, MaxPool2d, Flatten, Linear, BatchNorm2d } from '../../src/nn/index.js';
import { noGrad, randn, zeros } from '../../src/tensor/index.js';
import { generator, randomArray } from './reference/helpers.js';

const random = generator(7);

function floats(backend: Backend, shape: Shape): Storage {
  return backend.upload(
    randomArray(
      random,
      shape.reduce((a, b) => a * b, 1),
    ),
    shape,
  );
}

/** Positive values, for kernels such as log and sqrt that expect them. */
function positive(backend: Backend, shape: Shape): Storage {
  const values = randomArray(
    random,
    shape.reduce((a, b) => a * b, 1),
  ).map((v) => 1 + Math.abs(v));
  return backend.upload(values, shape);
}

const conv: Conv2dAttrs = { stride: [2, 1], padding: [1, 2, 0, 1], dilation: [1, 2], groups: 2 };
const pool: Pool2dAttrs = {
  kernel: [3, 2],
  stride: [2, 2],
  padding: [1, 1, 0, 0],
  ceilMode: true,
  countIncludePad: false,
};
const lrnAttrs = { size: 3, alpha: 1e-4, beta: 0.75, k: 2 };
const x4: Shape = [2, 4, 7, 6];
const w4: Shape = [6, 2, 3, 2];
// conv2d of x4 by w4 with `conv`: [2, 6, 4, 5]
const y4: Shape = [2, 6, 4, 5];
// pool2d of x4 with `pool`: [2, 4, 4, 3]
const p4: Shape = [2, 4, 4, 3];

type Kernel = Exclude<
  keyof Backend,
  'name' | 'threads' | 'shapeOnly' | 'recorder' | 'describe' | 'upload' | 'read' | 'release' | 'memory'
>;

/** One case per kernel, a compile error when a kernel lacks one; each returns every storage the kernel made. */
const cases: Record<Kernel, (b: Backend) => Storage[]> = {
  fill: (b) => [b.fill([3, 5], 2, 'int32'), b.fill([], 1, 'float32')],
  cast: (b) => [b.cast(floats(b, [4, 3]), [4, 3], 'int32')],
  reshape: (b) => [b.reshape(b.upload(Int32Array.of(1, 2, 3, 4, 5, 6), [2, 3]), [2, 3], [3, 2])],
  unary: (b) => [b.unary('log', positive(b, [3, 4]), [3, 4]), b.unary('relu', floats(b, [5]), [5])],
  activationBackward: (b) => {
    const x = floats(b, [2, 3]);
    return [b.activationBackward('tanh', x, b.unary('tanh', x, [2, 3]), floats(b, [2, 3]), [2, 3])];
  },
  binary: (b) => [b.binary('add', floats(b, [2, 1, 4]), [2, 1, 4], floats(b, [3, 1]), [3, 1], [2, 3, 4])],
  axpby: (b) => [b.axpby(2, floats(b, [2, 3]), -0.5, floats(b, [2, 3]), [2, 3])],
  reduce: (b) => [b.reduce('sum', floats(b, [2, 3, 4]), [2, 3, 4], [0, 2])],
  matmul: (b) => [b.matmul(floats(b, [2, 4, 3]), floats(b, [2, 5, 4]), 2, 3, 4, 5, true, true)],
  permute: (b) => [b.permute(b.upload(new Int32Array(24), [2, 3, 4]), [2, 3, 4], [2, 0, 1])],
  slice: (b) => [b.slice(floats(b, [4, 5]), [4, 5], [1, 2], [2, 3])],
  pad: (b) => [b.pad(floats(b, [2, 3]), [2, 3], [1, 0], [2, 3], 0)],
  concat: (b) => [
    b.concat(
      [floats(b, [2, 3]), floats(b, [2, 5])],
      [
        [2, 3],
        [2, 5],
      ],
      1,
    ),
  ],
  oneHot: (b) => [b.oneHot(b.upload(Int32Array.of(2, 0, 1), [3]), 3, 4)],
  im2col: (b) => [b.im2col(floats(b, x4), x4, [3, 2], conv)],
  conv2d: (b) => [b.conv2d(floats(b, x4), x4, floats(b, w4), w4, floats(b, [6]), conv)],
  conv2dBackwardData: (b) => [b.conv2dBackwardData(floats(b, y4), y4, floats(b, w4), w4, x4, conv)],
  conv2dBackwardFilter: (b) => [b.conv2dBackwardFilter(floats(b, x4), x4, floats(b, y4), y4, w4, conv)],
  pool2d: (b) => {
    const max = b.pool2d('max', floats(b, x4), x4, pool);
    const avg = b.pool2d('avg', floats(b, x4), x4, pool);
    return [max.y, max.workspace!, avg.y, ...(avg.workspace === null ? [] : [avg.workspace])];
  },
  pool2dBackward: (b) => {
    const { workspace } = b.pool2d('max', floats(b, x4), x4, pool);
    return [b.pool2dBackward('max', floats(b, p4), p4, x4, pool, workspace)];
  },
  adaptiveAvgPool2d: (b) => [b.adaptiveAvgPool2d(floats(b, x4), x4, [3, 2])],
  adaptiveAvgPool2dBackward: (b) => [b.adaptiveAvgPool2dBackward(floats(b, [2, 4, 3, 2]), [2, 4, 3, 2], x4)],
  resize2d: (b) => [b.resize2d(floats(b, x4), x4, [7, 3], 'bilinear')],
  resize2dBackward: (b) => [b.resize2dBackward(floats(b, [2, 4, 7, 3]), [2, 4, 7, 3], x4, 'nearest')],
  lrn: (b) => [b.lrn(floats(b, x4), x4, lrnAttrs)],
  lrnBackward: (b) => [b.lrnBackward(floats(b, x4), floats(b, x4), x4, lrnAttrs)],
  batchNormTraining: (b) => {
    const r = b.batchNormTraining(floats(b, x4), x4, floats(b, [4]), floats(b, [4]), 1e-5);
    return [r.y, r.mean, r.variance];
  },
  batchNormInference: (b) => [
    b.batchNormInference(
      floats(b, x4),
      x4,
      floats(b, [4]),
      floats(b, [4]),
      floats(b, [4]),
      positive(b, [4]),
      1e-5,
    ),
  ],
  batchNormBackward: (b) => {
    const r = b.batchNormBackward(
      floats(b, x4),
      floats(b, x4),
      x4,
      floats(b, [4]),
      floats(b, [4]),
      positive(b, [4]),
      1e-5,
    );
    return [r.dx, r.dgamma, r.dbeta];
  },
  softmax: (b) => [b.softmax(floats(b, [3, 5]), [3, 5], 1, true)],
  softmaxBackward: (b) => [b.softmaxBackward(floats(b, [3, 5]), floats(b, [3, 5]), [3, 5], 0, false)],
};

test('every meta kernel returns storages of the dtype and size the reference backend returns', () => {
  for (const [kernel, run] of Object.entries(cases)) {
    const expected = run(new ReferenceBackend()).map((s) => [s.dtype, s.size]);
    const actual = run(new MetaBackend()).map((s) => [s.dtype, s.size]);
    assert.deepEqual(actual, expected, kernel);
  }
});

test('meta storages hold no values: read throws a BackendError saying so', () => {
  const meta: Backend = new MetaBackend();
  const x = meta.upload(Float32Array.of(1, 2, 3), [3]);
  assert.equal(x.size, 3);
  assert.throws(
    () => meta.read(x, [3]),
    (e: unknown) => {
      assert.ok(e instanceof BackendError);
      assert.match(e.message, /meta tensors hold no values/);
      return true;
    },
  );
  assert.throws(() => meta.conv2d(new ReferenceBackend().fill([1], 0, 'float32'), [1], x, [3], null, conv), {
    message: /another backend/,
  });
  meta.release(x);
  assert.throws(() => meta.unary('neg', x, [3]), { message: /released/ });
});

test('meta memory() counts live storages and bytes as if they held their values', () => {
  const meta: Backend = new MetaBackend();
  const a = meta.fill([10, 10], 0, 'float32');
  const b = meta.upload(new Int32Array(5), [5]);
  assert.deepEqual(meta.memory(), { storages: 2, bytes: 420, collected: 0 });
  meta.release(a);
  meta.release(a);
  assert.deepEqual(meta.memory(), { storages: 1, bytes: 20, collected: 0 });
  meta.release(b);
  assert.deepEqual(meta.memory(), { storages: 0, bytes: 0, collected: 0 });
});

test("'meta' is a registered backend name", () => {
  assert.ok(backendNames().includes('meta'));
});

test('withBackend makes another backend active and restores the previous one, also on a throw', () => {
  const before = getBackend();
  const inside = withBackend('meta', () => getBackend());
  assert.equal(inside.name, 'meta');
  assert.equal(getBackend(), before);
  // The same instance on every call, so tensors made in two calls can meet in one op.
  assert.equal(
    withBackend('meta', () => getBackend()),
    inside,
  );
  assert.throws(() =>
    withBackend('meta', () => {
      throw new ValueError('boom');
    }),
  );
  assert.equal(getBackend(), before);
  const instance = new MetaBackend();
  assert.equal(
    withBackend(instance, () => getBackend()),
    instance,
  );
  // Naming the active backend keeps it.
  assert.equal(
    withBackend(before.name, () => getBackend()),
    before,
  );
  assert.throws(() => withBackend('no-such-backend', () => 0), { message: /unknown backend/ });
  assert.equal(getBackend(), before);
});

test('a network built under the meta backend runs its forward pass for shapes, reading nothing', () => {
  const shape = withBackend('meta', () => {
    const net = new Sequential(
      new Conv2d(3, 64, 11, { stride: 4, padding: 2 }),
      new BatchNorm2d(64),
      new ReLU(),
      new MaxPool2d(3, { stride: 2 }),
      new Flatten(),
      new Linear(64 * 27 * 27, 10),
    ).eval();
    const y = noGrad(() => net.call(zeros([2, 3, 224, 224])));
    assert.throws(() => y.data(), BackendError);
    return y.shape;
  });
  assert.deepEqual(shape, [2, 10]);
  // A real tensor is unaffected: the active backend is back.
  assert.equal(randn([2]).data().length, 2);
});
