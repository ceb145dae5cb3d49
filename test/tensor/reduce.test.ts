import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ValueError } from '../../src/errors.js';
import { Tensor, max, mean, min, sum, tensor } from '../../src/tensor/index.js';
import { assertTensor, distinctTensor, gradcheck, uniformTensor } from './gradcheck.js';

type Reduce = (x: Tensor, axes?: number | readonly number[], keepDims?: boolean) => Tensor;

const axisCases: [string, number | number[] | undefined][] = [
  ['all axes', undefined],
  ['axis 0', 0],
  ['axis 1', 1],
  ['last axis as −1', -1],
  ['axes [0, 2]', [0, 2]],
  ['axes [2, 1] unsorted', [2, 1]],
];

const reductions: [string, Reduce, (seed: number) => Tensor][] = [
  ['sum', sum, (k) => uniformTensor([2, 3, 4], k)],
  ['mean', mean, (k) => uniformTensor([2, 3, 4], k)],
  // Distinct values 0.1 apart: no ties, and a 0.01 step never changes the winner.
  ['max', max, (k) => distinctTensor([2, 3, 4], k)],
  ['min', min, (k) => distinctTensor([2, 3, 4], k)],
];

for (const [name, op, make] of reductions) {
  for (const [what, axes] of axisCases) {
    for (const keepDims of [false, true]) {
      test(`${name} gradient over ${what}, keepDims ${keepDims}`, () => {
        gradcheck(`${name} ${what} keepDims=${keepDims}`, (x) => op(x, axes, keepDims), [make(11)]);
      });
    }
  }
}

test('reduction values and shapes by hand', () => {
  const x = tensor([
    [1, 5, 3],
    [4, 2, 6],
  ]);
  assertTensor(sum(x), [], [21], 'sum all');
  assertTensor(sum(x, 0), [3], [5, 7, 9], 'sum axis 0');
  assertTensor(sum(x, 1, true), [2, 1], [9, 12], 'sum axis 1 keepDims');
  assertTensor(mean(x, -1), [2], [3, 4], 'mean last axis');
  assertTensor(mean(x, [0, 1], true), [1, 1], [3.5], 'mean all keepDims');
  assertTensor(max(x, 1), [2], [5, 6], 'max axis 1');
  assertTensor(max(x, 0, true), [1, 3], [4, 5, 6], 'max axis 0 keepDims');
  assertTensor(min(x), [], [1], 'min all');
  assertTensor(min(x, 0), [3], [1, 2, 3], 'min axis 0');
  const cube = tensor(
    Array.from({ length: 24 }, (_, i) => i),
    [2, 3, 4],
  );
  assertTensor(sum(cube, [0, 2]), [3], [60, 92, 124], 'sum axes [0, 2]');
});

test('max shares the gradient equally between ties, as PyTorch amax', () => {
  const x = tensor(
    [
      [3, 1, 3],
      [0, 2, 1],
    ],
    undefined,
    { requiresGrad: true },
  );
  max(x, 1).backward(tensor([1, 1]));
  assertTensor(x.grad!, [2, 3], [0.5, 0, 0.5, 0, 1, 0], 'tie gradient');
});

test('reduction axes out of range are refused', () => {
  assert.throws(
    () => sum(tensor([1, 2]), 1),
    (e: unknown) => e instanceof ValueError && /sum: axis 1 is out of range for rank 1/.test(e.message),
  );
  assert.throws(() => max(tensor([1, 2]), -2), ValueError);
});
