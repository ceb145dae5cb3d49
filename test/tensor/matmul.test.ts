import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ShapeError } from '../../src/errors.js';
import { linear, matmul, tensor } from '../../src/tensor/index.js';
import { assertTensor, gradcheck, uniformTensor } from './gradcheck.js';

for (const transposeA of [false, true]) {
  for (const transposeB of [false, true]) {
    const what = `transposeA ${transposeA}, transposeB ${transposeB}`;
    // op(A) is [3, 4] and op(B) is [4, 2]; stored transposed where asked.
    const aShape = transposeA ? [4, 3] : [3, 4];
    const bShape = transposeB ? [2, 4] : [4, 2];
    test(`matmul gradient, ${what}`, () => {
      gradcheck(`matmul ${what}`, (a, b) => matmul(a, b, { transposeA, transposeB }), [
        uniformTensor(aShape, 1),
        uniformTensor(bShape, 2),
      ]);
    });
    test(`batched matmul gradient, ${what}`, () => {
      gradcheck(`batched matmul ${what}`, (a, b) => matmul(a, b, { transposeA, transposeB }), [
        uniformTensor([2, ...aShape], 3),
        uniformTensor([2, ...bShape], 4),
      ]);
    });
  }
}

test('matmul of a tensor with itself: x·xᵀ', () => {
  gradcheck('x·xᵀ', (x) => matmul(x, x, { transposeB: true }), [uniformTensor([3, 4], 5)]);
});

test('linear gradient, with and without bias', () => {
  const [x, w, b] = [uniformTensor([3, 5], 6), uniformTensor([4, 5], 7), uniformTensor([4], 8)];
  gradcheck('linear with bias', (xi, wi, bi) => linear(xi, wi, bi), [x, w, b]);
  gradcheck('linear without bias', (xi, wi) => linear(xi, wi), [x, w]);
});

test('matmul and linear values by hand', () => {
  const a = tensor([
    [1, 2, 3],
    [4, 5, 6],
  ]);
  const b = tensor([
    [7, 8],
    [9, 10],
    [11, 12],
  ]);
  assertTensor(matmul(a, b), [2, 2], [58, 64, 139, 154], 'A·B');
  assertTensor(matmul(a, a, { transposeB: true }), [2, 2], [14, 32, 32, 77], 'A·Aᵀ');
  assertTensor(matmul(a, a, { transposeA: true }), [3, 3], [17, 22, 27, 22, 29, 36, 27, 36, 45], 'Aᵀ·A');
  assertTensor(matmul(b, a, { transposeA: true, transposeB: true }), [2, 2], [58, 139, 64, 154], 'Bᵀ·Aᵀ');
  const batchA = tensor([1, 0, 0, 1, 2, 0, 0, 2], [2, 2, 2]);
  const batchB = tensor([1, 2, 3, 4, 1, 2, 3, 4], [2, 2, 2]);
  assertTensor(matmul(batchA, batchB), [2, 2, 2], [1, 2, 3, 4, 2, 4, 6, 8], 'batched');
  // linear: x·Wᵀ + b with W [out, in].
  assertTensor(
    linear(
      tensor([[1, 2]]),
      tensor([
        [1, 0],
        [0, 1],
        [1, 1],
      ]),
      tensor([10, 20, 30]),
    ),
    [1, 3],
    [11, 22, 33],
    'linear',
  );
});

test('matmul and linear shape errors name the shapes', () => {
  const a = tensor(new Float32Array(6), [2, 3]);
  assert.throws(
    () => matmul(a, a),
    (e: unknown) => e instanceof ShapeError && /\[2, 3\]/.test(e.message) && /inner/.test(e.message),
  );
  assert.throws(() => matmul(a, tensor(new Float32Array(12), [2, 3, 2])), ShapeError);
  assert.throws(
    () => matmul(tensor(new Float32Array(12), [2, 3, 2]), tensor(new Float32Array(12), [3, 2, 2])),
    ShapeError,
  );
  assert.throws(
    () => linear(tensor(new Float32Array(8), [2, 4]), tensor(new Float32Array(15), [5, 3])),
    (e: unknown) => e instanceof ShapeError && /\[2, 4\]/.test(e.message) && /\[5, 3\]/.test(e.message),
  );
  assert.throws(
    () => linear(a, tensor(new Float32Array(12), [4, 3]), tensor([1, 2])),
    (e: unknown) =>
      e instanceof ShapeError && /linear: bias \[2\]/.test(e.message) && /\[4, 3\]/.test(e.message),
  );
});
