import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gemm } from '../../../src/backend/reference/gemm.js';
import { ShapeError } from '../../../src/errors.js';
import { assertClose, generator, randomArray } from './helpers.js';

/** The definition, element by element, reading A and B through their storage layouts. */
function naiveGemm(
  a: Float32Array,
  b: Float32Array,
  m: number,
  k: number,
  n: number,
  transposeA: boolean,
  transposeB: boolean,
): Float64Array {
  const c = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let sum = 0;
      for (let p = 0; p < k; p++) {
        sum += (transposeA ? a[p * m + i] : a[i * k + p]) * (transposeB ? b[j * k + p] : b[p * n + j]);
      }
      c[i * n + j] = sum;
    }
  }
  return c;
}

test('gemm multiplies a 2×2 example by hand', () => {
  const a = Float32Array.from([1, 2, 3, 4]);
  const b = Float32Array.from([5, 6, 7, 8]);
  assert.deepEqual([...gemm(a, b, 2, 2, 2, false, false)], [19, 22, 43, 50]);
  assert.deepEqual([...gemm(a, b, 2, 2, 2, true, false)], [26, 30, 38, 44]);
  assert.deepEqual([...gemm(a, b, 2, 2, 2, false, true)], [17, 23, 39, 53]);
  assert.deepEqual([...gemm(a, b, 2, 2, 2, true, true)], [23, 31, 34, 46]);
});

test('gemm matches the definition for every transpose and awkward sizes', () => {
  const random = generator(7);
  // Odd sizes, k below and not a multiple of the unrolling, m odd, n past one column block.
  const sizes: [number, number, number][] = [
    [1, 1, 1],
    [7, 13, 9],
    [3, 1, 5],
    [5, 6, 1],
    [2, 4, 3],
    [9, 3, 1030],
    [11, 37, 17],
  ];
  for (const [m, k, n] of sizes) {
    for (const transposeA of [false, true]) {
      for (const transposeB of [false, true]) {
        const a = randomArray(random, m * k);
        const b = randomArray(random, k * n);
        const what = `gemm m=${m} k=${k} n=${n} tA=${transposeA} tB=${transposeB}`;
        assertClose(
          gemm(a, b, m, k, n, transposeA, transposeB),
          naiveGemm(a, b, m, k, n, transposeA, transposeB),
          1e-6,
          what,
        );
      }
    }
  }
});

test('gemm reads and writes at offsets, and accumulates when asked', () => {
  const random = generator(11);
  const [m, k, n] = [5, 6, 7];
  for (const transposeA of [false, true]) {
    for (const transposeB of [false, true]) {
      const a = randomArray(random, 3 + m * k);
      const b = randomArray(random, 4 + k * n + 2);
      const out = randomArray(random, 5 + m * n + 3);
      const before = out.slice();
      gemm(a, b, m, k, n, transposeA, transposeB, out, 3, 4, 5, true);
      const product = naiveGemm(a.subarray(3), b.subarray(4, 4 + k * n), m, k, n, transposeA, transposeB);
      const expected = Float64Array.from(before);
      for (let i = 0; i < m * n; i++) expected[5 + i] += product[i];
      assertClose(out, expected, 1e-6, `accumulate tA=${transposeA} tB=${transposeB}`);

      gemm(a, b, m, k, n, transposeA, transposeB, out, 3, 4, 5);
      for (let i = 0; i < m * n; i++) expected[5 + i] = product[i];
      assertClose(out, expected, 1e-6, `overwrite tA=${transposeA} tB=${transposeB}`);
    }
  }
});

test('gemm sums in float64 before rounding', () => {
  // 1 + 1e-8·10⁴ in float32 steps would stay 1; summed in float64 it is 1.0001.
  const k = 10001;
  const a = new Float32Array(k).fill(1);
  const b = new Float32Array(k).fill(1e-8);
  b[0] = 1;
  const exact = Math.fround(1 + (k - 1) * Math.fround(1e-8));
  assert.notEqual(exact, 1);
  assert.equal(gemm(a, b, 1, k, 1, false, false)[0], exact);
  assert.equal(gemm(a, b, 1, k, 1, false, true)[0], exact);
});

test('gemm rejects arrays too short for the sizes', () => {
  const a = new Float32Array(6);
  assert.throws(() => gemm(a, new Float32Array(5), 2, 3, 2, false, false), ShapeError);
  assert.throws(() => gemm(a, new Float32Array(6), 2, 3, 2, false, false, new Float32Array(3)), ShapeError);
  assert.throws(() => gemm(a, new Float32Array(6), 2, 3, 2, false, false, undefined, 1), ShapeError);
});
