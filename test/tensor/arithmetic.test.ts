import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ShapeError } from '../../src/errors.js';
import {
  Tensor,
  abs,
  add,
  axpby,
  div,
  exp,
  log,
  maximum,
  minimum,
  mul,
  neg,
  pow,
  reciprocal,
  scalar,
  sqrt,
  square,
  sub,
  tensor,
} from '../../src/tensor/index.js';
import { assertTensor, awayFromZero, gradcheck, gridTensor, uniformTensor } from './gradcheck.js';

type Binary = (a: Tensor | number, b: Tensor | number) => Tensor;

/** Shape pairs covering every broadcasting case: equal, size-1 on both sides, rank-different, scalars. */
const broadcastCases: [string, number[], number[]][] = [
  ['equal shapes', [2, 3], [2, 3]],
  ['[3, 1] with [1, 4]', [3, 1], [1, 4]],
  ['rank 3 with rank 1', [2, 3, 4], [4]],
  ['rank 1 with rank 3', [3], [2, 1, 3]],
  ['scalar tensor on the right', [2, 3], []],
  ['scalar tensor on the left', [], [2, 3]],
  ['[1, 1] with [2, 3]', [1, 1], [2, 3]],
  ['[2, 1, 3] with [4, 1]: both sides broadcast', [2, 1, 3], [4, 1]],
];

const binaryOps: [
  string,
  Binary,
  (shape: number[], seed: number) => Tensor,
  (shape: number[], seed: number) => Tensor,
][] = [
  ['add', add, (s, k) => uniformTensor(s, k), (s, k) => uniformTensor(s, k)],
  ['sub', sub, (s, k) => uniformTensor(s, k), (s, k) => uniformTensor(s, k)],
  ['mul', mul, (s, k) => uniformTensor(s, k), (s, k) => uniformTensor(s, k)],
  // Divisors and bases kept in [0.5, 1.5] so the functions stay smooth and gradients O(1).
  ['div', div, (s, k) => uniformTensor(s, k), (s, k) => uniformTensor(s, k, 0.5, 1.5)],
  ['pow', pow, (s, k) => uniformTensor(s, k, 0.5, 1.5), (s, k) => uniformTensor(s, k, -1.5, 1.5)],
  // Grids 0.05 apart: never within two steps of a tie.
  ['maximum', maximum, (s, k) => gridTensor(s, k), (s, k) => gridTensor(s, k, 0.05)],
  ['minimum', minimum, (s, k) => gridTensor(s, k), (s, k) => gridTensor(s, k, 0.05)],
];

for (const [name, op, makeA, makeB] of binaryOps) {
  for (const [what, aShape, bShape] of broadcastCases) {
    test(`${name} gradient, ${what}`, () => {
      gradcheck(`${name} ${what}`, (a, b) => op(a, b), [makeA(aShape, 1), makeB(bShape, 2)]);
    });
  }
  test(`${name} gradient with a number operand on either side`, () => {
    gradcheck(`${name}(x, 0.75)`, (a) => op(a, 0.75), [makeA([2, 3], 3)]);
    gradcheck(`${name}(1.25, x)`, (a) => op(1.25, a), [makeB([2, 3], 3)]);
  });
}

const unaryOps: [string, (x: Tensor) => Tensor, Tensor][] = [
  ['neg', neg, uniformTensor([2, 3], 4)],
  ['abs', abs, awayFromZero([2, 3], 5)],
  ['exp', exp, uniformTensor([2, 3], 6, -2, 1)],
  ['log', log, uniformTensor([2, 3], 7, 0.5, 3)],
  ['sqrt', sqrt, uniformTensor([2, 3], 8, 0.5, 3)],
  ['square', square, uniformTensor([2, 3], 9, -2, 2)],
  ['reciprocal', reciprocal, awayFromZero([2, 3], 10, 0.5)],
];

for (const [name, op, x] of unaryOps) {
  test(`${name} gradient`, () => {
    gradcheck(name, op, [x]);
  });
}

test('broadcast arithmetic by hand', () => {
  const column = tensor([[1], [2], [3]]);
  const row = tensor([10, 20, 30, 40]);
  assertTensor(add(column, row), [3, 4], [11, 21, 31, 41, 12, 22, 32, 42, 13, 23, 33, 43], 'column + row');
  assertTensor(sub(row, column), [3, 4], [9, 19, 29, 39, 8, 18, 28, 38, 7, 17, 27, 37], 'row − column');
  assertTensor(
    mul(
      tensor([
        [1, 2],
        [3, 4],
      ]),
      tensor([[10], [100]]),
    ),
    [2, 2],
    [10, 20, 300, 400],
    'mul [2,2]·[2,1]',
  );
  assertTensor(div(tensor([1, 2, 4]), 2), [3], [0.5, 1, 2], 'div by a number');
  assertTensor(div(1, tensor([1, 2, 4])), [3], [1, 0.5, 0.25], 'number divided by a tensor');
  assertTensor(pow(tensor([2, 3]), tensor([[1], [2]])), [2, 2], [2, 3, 4, 9], 'pow broadcasting');
  assertTensor(maximum(tensor([1, 5, -2]), 0), [3], [1, 5, 0], 'maximum with 0');
  assertTensor(minimum(tensor([1, 5, -2]), scalar(2)), [3], [1, 2, -2], 'minimum with a scalar tensor');
  assertTensor(add(scalar(1), scalar(2)), [], [3], 'scalar + scalar');
  // An NCHW tensor plus a per-channel [C, 1, 1] bias.
  const x = tensor([1, 2, 3, 4, 5, 6, 7, 8], [1, 2, 2, 2]);
  assertTensor(
    add(x, tensor([100, 200], [2, 1, 1])),
    [1, 2, 2, 2],
    [101, 102, 103, 104, 205, 206, 207, 208],
    'channel bias',
  );
});

test('unary values by hand', () => {
  const x = tensor([-2, 0.5, 4]);
  assertTensor(neg(x), [3], [2, -0.5, -4], 'neg');
  assertTensor(abs(x), [3], [2, 0.5, 4], 'abs');
  assertTensor(square(x), [3], [4, 0.25, 16], 'square');
  assertTensor(reciprocal(x), [3], [-0.5, 2, 0.25], 'reciprocal');
  assertTensor(sqrt(tensor([4, 9])), [2], [2, 3], 'sqrt');
  assertTensor(exp(tensor([0, 1])), [2], [1, Math.E], 'exp');
  assertTensor(log(tensor([1, Math.E])), [2], [0, 1], 'log');
});

test('axpby: values by hand, gradients, and a shape mismatch refused', () => {
  assertTensor(axpby(2, tensor([1, -2, 3]), -0.5, tensor([4, 4, -8])), [3], [0, -6, 10], '2x − y/2');
  gradcheck('axpby(0.9, x, −1.5, y)', (x, y) => axpby(0.9, x, -1.5, y), [
    uniformTensor([2, 3], 1),
    uniformTensor([2, 3], 2),
  ]);
  assert.throws(() => axpby(1, tensor([1, 2, 3]), 1, tensor([1, 2])), /axpby: x \[3\] and y \[2\] differ/);
});

test('a residual add of mismatched shapes names both shapes', () => {
  const identity = tensor(new Float32Array(2 * 64 * 8 * 8), [2, 64, 8, 8]);
  const branch = tensor(new Float32Array(2 * 128 * 4 * 4), [2, 128, 4, 4]);
  assert.throws(
    () => add(branch, identity),
    (e: unknown) =>
      e instanceof ShapeError &&
      /\[2, 128, 4, 4\]/.test(e.message) &&
      /\[2, 64, 8, 8\]/.test(e.message) &&
      /add/.test(e.message),
  );
  assert.throws(() => mul(tensor([1, 2, 3]), tensor([1, 2])), ShapeError);
});

test('integer tensors are refused by arithmetic', () => {
  const labels = tensor(new Int32Array([1, 2]));
  assert.throws(() => add(labels, 1), /add: expected float32 input, got int32/);
});
