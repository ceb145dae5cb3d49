import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ShapeError, ValueError } from '../../src/errors.js';
import {
  Generator,
  full,
  manualSeed,
  ones,
  rand,
  randn,
  scalar,
  tensor,
  uniform,
  zeros,
} from '../../src/tensor/index.js';

test('tensor() infers shapes from nesting and dtypes from the values', () => {
  const nested = tensor([
    [1, 2, 3],
    [4, 5, 6],
  ]);
  assert.deepEqual(nested.shape, [2, 3]);
  assert.equal(nested.dtype, 'float32');
  assert.deepEqual(nested.toArray(), [1, 2, 3, 4, 5, 6]);
  const flat = tensor([1, 2, 3, 4, 5, 6], [3, 2]);
  assert.deepEqual(flat.shape, [3, 2]);
  const labels = tensor(new Int32Array([3, 1]));
  assert.equal(labels.dtype, 'int32');
  assert.ok(labels.data() instanceof Int32Array);
  assert.equal(tensor([1.7, -2.2], undefined, { dtype: 'int32' }).toArray().join(), '1,-2');
  assert.deepEqual(scalar(4).shape, []);
  assert.equal(scalar(4).item(), 4);
  assert.equal(tensor(7).item(), 7);
  assert.throws(
    () => tensor([1, 2, 3], [2, 2]),
    (e: unknown) => e instanceof ShapeError && /3 values/.test(e.message) && /\[2, 2\]/.test(e.message),
  );
  assert.throws(() => tensor([[1, 2], [3]]), ShapeError);
  assert.throws(() => tensor([1, 2]).item(), ValueError);
});

test('tensor() copies its input: later writes to the array do not leak in', () => {
  const values = new Float32Array([1, 2]);
  const t = tensor(values);
  values[0] = 99;
  assert.deepEqual(t.toArray(), [1, 2]);
  const out = t.data();
  out[1] = 99;
  assert.deepEqual(t.toArray(), [1, 2]);
});

test('filled tensors', () => {
  assert.deepEqual(zeros([2, 2]).toArray(), [0, 0, 0, 0]);
  assert.deepEqual(ones([3]).toArray(), [1, 1, 1]);
  assert.deepEqual(full([2], 2.5).toArray(), [2.5, 2.5]);
  assert.equal(zeros([2], { dtype: 'int32' }).dtype, 'int32');
  assert.ok(ones([2], { requiresGrad: true }).requiresGrad);
});

test('shapes that are not lists of non-negative integers, or too large to store, are ShapeErrors naming them', () => {
  const bad: [string, (shape: number[]) => unknown][] = [
    ['zeros()', (shape) => zeros(shape)],
    ['ones()', (shape) => ones(shape)],
    ['full()', (shape) => full(shape, 2)],
    ['randn()', (shape) => randn(shape)],
    ['rand()', (shape) => rand(shape)],
    ['uniform()', (shape) => uniform(shape, -1, 1)],
    ['tensor()', (shape) => tensor([1, 2, 3, 4, 5], shape)],
  ];
  for (const [op, make] of bad) {
    for (const shape of [[NaN], [2.5, 2], [Infinity], [-1, 5], [1, -0.5]]) {
      assert.throws(
        () => make(shape),
        (e: unknown) =>
          e instanceof ShapeError &&
          e.message.startsWith(`${op}: shape [${shape.join(', ')}]: dimension `) &&
          /is not a non-negative integer/.test(e.message),
        `${op} ${shape}`,
      );
    }
    // 2^33 elements: more than any typed array holds, so nothing is allocated.
    assert.throws(
      () => make([65536, 65536, 2]),
      (e: unknown) =>
        e instanceof ShapeError &&
        e.message ===
          `${op}: shape [65536, 65536, 2] holds 8589934592 elements, more than a typed array can (4294967296)`,
      op,
    );
  }
  assert.deepEqual([...zeros([0, 3]).shape], [0, 3], 'zero-size dimensions are fine');
});

test('random tensors are reproducible from a seed and have the right distribution', () => {
  const a = Array.from(randn([1000], { generator: new Generator(42) }).data());
  const b = Array.from(randn([1000], { generator: new Generator(42) }).data());
  assert.deepEqual(a, b);
  const meanA = a.reduce((s, v) => s + v, 0) / a.length;
  const varA = a.reduce((s, v) => s + (v - meanA) ** 2, 0) / a.length;
  assert.ok(Math.abs(meanA) < 0.1 && Math.abs(varA - 1) < 0.15, `mean ${meanA}, variance ${varA}`);
  const u = uniform([1000], -2, 3, { generator: new Generator(1) }).data();
  assert.ok(u.every((v) => v >= -2 && v < 3));
  assert.ok(u.some((v) => v < -1.5) && u.some((v) => v > 2.5));
  manualSeed(9);
  const first = rand([4]).toArray();
  manualSeed(9);
  assert.deepEqual(rand([4]).toArray(), first);
  assert.notDeepEqual(rand([4]).toArray(), first);
  assert.throws(() => uniform([2], 1, 1), ValueError);
});
