import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ShapeError, ValueError } from '../../src/errors.js';
import {
  broadcastTo,
  concat,
  flatten,
  mul,
  pad,
  permute,
  reshape,
  slice,
  tensor,
  transpose,
  unsqueeze,
} from '../../src/tensor/index.js';
import { assertTensor, gradcheck, uniformTensor } from './gradcheck.js';

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

// Each op is followed by a multiplication so that the output depends on the op's element order.
test('reshape gradient, with an inferred dimension', () => {
  gradcheck('reshape', (x) => reshape(x, [4, -1]), [uniformTensor([2, 3, 2], 1)]);
});

test('flatten gradient, whole and from dimension 1', () => {
  gradcheck('flatten', (x) => flatten(x), [uniformTensor([2, 3, 2], 2)]);
  gradcheck('flatten(1)', (x) => flatten(x, 1), [uniformTensor([2, 3, 2, 2], 3)]);
  gradcheck('flatten(1, 2)', (x) => flatten(x, 1, 2), [uniformTensor([2, 3, 2, 2], 4)]);
});

test('unsqueeze gradient', () => {
  gradcheck('unsqueeze(1)', (x) => unsqueeze(x, 1), [uniformTensor([2, 3], 5)]);
  gradcheck('unsqueeze(−1)', (x) => unsqueeze(x, -1), [uniformTensor([2, 3], 6)]);
});

test('permute and transpose gradients', () => {
  gradcheck('permute [2, 0, 1]', (x) => permute(x, [2, 0, 1]), [uniformTensor([2, 3, 4], 7)]);
  gradcheck('permute [0, 2, 3, 1]', (x) => permute(x, [0, 2, 3, 1]), [uniformTensor([2, 3, 2, 2], 8)]);
  gradcheck('transpose', (x) => transpose(x), [uniformTensor([2, 3, 4], 9)]);
  gradcheck('transpose(0, 2)', (x) => transpose(x, 0, 2), [uniformTensor([2, 3, 4], 10)]);
});

test('slice gradient', () => {
  gradcheck('slice', (x) => slice(x, [1, 0, 1], [2, -1, 2]), [uniformTensor([3, 2, 4], 11)]);
});

test('pad gradient', () => {
  gradcheck('pad', (x) => pad(x, [0, 1, 2], [1, 0, 1], 0.5), [uniformTensor([2, 2, 3], 12)]);
});

test('concat gradient, every input, middle and last axes', () => {
  const [a, b, c] = [
    uniformTensor([2, 1, 3], 13),
    uniformTensor([2, 2, 3], 14),
    uniformTensor([2, 3, 3], 15),
  ];
  gradcheck('concat axis 1', (x, y, z) => concat([x, y, z], 1), [a, b, c]);
  gradcheck('concat axis −1', (x, y) => concat([x, y], -1), [
    uniformTensor([2, 3], 16),
    uniformTensor([2, 1], 17),
  ]);
  gradcheck('concat axis 0', (x, y) => concat([x, y], 0), [
    uniformTensor([1, 3], 18),
    uniformTensor([2, 3], 19),
  ]);
});

test('concat of a tensor with itself gets the summed gradient', () => {
  gradcheck('concat [x, x]', (x) => concat([x, mul(x, 2), x], 0), [uniformTensor([2, 3], 20)]);
});

test('broadcastTo gradient', () => {
  gradcheck('broadcastTo [3,1]→[2,3,4]', (x) => broadcastTo(x, [2, 3, 4]), [uniformTensor([3, 1], 21)]);
  gradcheck('broadcastTo []→[2,2]', (x) => broadcastTo(x, [2, 2]), [uniformTensor([], 22)]);
});

test('movement values by hand', () => {
  const x = tensor(range(6), [2, 3]);
  assertTensor(transpose(x), [3, 2], [0, 3, 1, 4, 2, 5], 'transpose');
  const cube = tensor(range(24), [2, 3, 4]);
  // permute [2, 0, 1]: out[k, i, j] = in[i, j, k].
  const p = permute(cube, [2, 0, 1]);
  assert.deepEqual(p.shape, [4, 2, 3]);
  assert.deepEqual(p.toArray().slice(0, 7), [0, 4, 8, 12, 16, 20, 1]);
  assertTensor(slice(cube, [1, 1, 2], [1, 2, 2]), [1, 2, 2], [18, 19, 22, 23], 'slice');
  assertTensor(slice(x, [0, 1], [-1, -1]), [2, 2], [1, 2, 4, 5], 'slice to the end');
  assertTensor(
    pad(tensor([1, 2, 3, 4], [2, 2]), [1, 0], [0, 1], 9),
    [3, 3],
    [9, 9, 9, 1, 2, 9, 3, 4, 9],
    'pad',
  );
  assertTensor(concat([x, tensor([[6], [7]])], 1), [2, 4], [0, 1, 2, 6, 3, 4, 5, 7], 'concat axis 1');
  assertTensor(concat([x, tensor([[6, 7, 8]])], 0), [3, 3], [0, 1, 2, 3, 4, 5, 6, 7, 8], 'concat axis 0');
  assertTensor(broadcastTo(tensor([1, 2]), [2, 2]), [2, 2], [1, 2, 1, 2], 'broadcastTo');
  assertTensor(reshape(x, [3, -1]), [3, 2], range(6), 'reshape');
  assertTensor(flatten(tensor(range(8), [2, 2, 2]), 1), [2, 4], range(8), 'flatten(1)');
  assert.deepEqual(unsqueeze(x, 0).shape, [1, 2, 3]);
  assert.deepEqual(unsqueeze(x, 2).shape, [2, 3, 1]);
  // Labels and indices move too.
  const labels = tensor(new Int32Array([3, 1, 2, 0]), [2, 2]);
  const moved = transpose(labels);
  assert.equal(moved.dtype, 'int32');
  assert.deepEqual(moved.toArray(), [3, 2, 1, 0]);
});

test('concat of mismatched shapes names both shapes', () => {
  const a = tensor(new Float32Array(2 * 3 * 4 * 4), [2, 3, 4, 4]);
  const b = tensor(new Float32Array(2 * 5 * 4 * 5), [2, 5, 4, 5]);
  assert.throws(
    () => concat([a, b], 1),
    (e: unknown) =>
      e instanceof ShapeError &&
      /concat/.test(e.message) &&
      /\[2, 3, 4, 4\]/.test(e.message) &&
      /\[2, 5, 4, 5\]/.test(e.message),
  );
  assert.throws(() => concat([a, tensor([1, 2])], 0), ShapeError);
});

test('shape misuse is refused', () => {
  const x = tensor(range(6), [2, 3]);
  assert.throws(
    () => reshape(x, [4, -1]),
    (e: unknown) => e instanceof ShapeError && /\[2, 3\]/.test(e.message),
  );
  assert.throws(() => reshape(x, [-1, -1]), ShapeError);
  // Non-integer dimensions whose product happens to match are refused too.
  for (const shape of [
    [2.5, 2.4],
    [NaN, 6],
    [-1, 1.5],
    [Infinity, 0],
    [-2, -3],
  ]) {
    assert.throws(
      () => reshape(x, shape),
      (e: unknown) => e instanceof ShapeError && /is not a non-negative integer or −1/.test(e.message),
      String(shape),
    );
  }
  assert.throws(() => slice(x, [0.5, 0], [1, 1]), ShapeError);
  assert.throws(() => slice(x, [0, 0], [1, 1.5]), ShapeError);
  assert.throws(() => broadcastTo(tensor([1]), [NaN]), /broadcastTo: shape \[NaN\]: dimension NaN/);
  assert.throws(() => permute(x, [0, 0]), ValueError);
  assert.throws(() => permute(x, [0]), ValueError);
  assert.throws(() => slice(x, [1, 0], [2, 1]), ShapeError);
  assert.throws(() => slice(x, [0], [1]), ShapeError);
  assert.throws(() => pad(x, [1], [1]), ValueError);
  assert.throws(
    () => broadcastTo(x, [3, 3]),
    (e: unknown) =>
      e instanceof ShapeError && /broadcastTo: \[2, 3\]/.test(e.message) && /\[3, 3\]/.test(e.message),
  );
  assert.throws(() => broadcastTo(tensor([1, 2, 3]), [3, 1]), ShapeError);
  assert.throws(() => concat([]), ValueError);
  assert.throws(
    () => concat([tensor([1.5]), tensor(new Int32Array([2]))]),
    (e: unknown) => e instanceof ValueError && /float32/.test(e.message) && /int32/.test(e.message),
  );
});
