import { ShapeError } from '../../errors.js';

/** Columns of C computed together: a block of B's rows this wide stays in L2 while every row of A passes. */
const BLOCK_N = 512;

/**
 * Row-major C[m, n] = op(A) · op(B), where op(A) is [m, k] and op(B) is [k, n]. A is stored [m, k], or [k, m]
 * when `transposeA`; B is stored [k, n], or [n, k] when `transposeB`. Products are summed in float64 and
 * rounded once. With `accumulate` the result is added to what `out` holds instead of replacing it.
 */
export function gemm(
  a: Float32Array,
  b: Float32Array,
  m: number,
  k: number,
  n: number,
  transposeA: boolean,
  transposeB: boolean,
  out?: Float32Array,
  aOffset = 0,
  bOffset = 0,
  outOffset = 0,
  accumulate = false,
): Float32Array {
  const c = out ?? new Float32Array(outOffset + m * n);
  checkLength('A', a, aOffset, m * k);
  checkLength('B', b, bOffset, k * n);
  checkLength('C', c, outOffset, m * n);
  if (m === 0 || n === 0) return c;
  // Element (i, p) of op(A) sits at aOffset + i·aRowStride + p·aColStride.
  const aRowStride = transposeA ? 1 : k;
  const aColStride = transposeA ? m : 1;
  if (transposeB) {
    productByDots(a, b, c, m, k, n, aRowStride, aColStride, aOffset, bOffset, outOffset, accumulate);
  } else {
    productByRows(a, b, c, m, k, n, aRowStride, aColStride, aOffset, bOffset, outOffset, accumulate);
  }
  return c;
}

function checkLength(name: string, array: Float32Array, offset: number, size: number): void {
  if (offset < 0 || offset + size > array.length) {
    throw new ShapeError(
      `gemm: ${name} needs ${size} elements from offset ${offset} but holds ${array.length}`,
    );
  }
}

/**
 * B stored [k, n]: i-k-j order, so the inner loop runs along contiguous rows of B and of the accumulators.
 * Two rows of C and four rows of B per pass let each load feed several multiply-adds (about 2× in V8).
 */
function productByRows(
  a: Float32Array,
  b: Float32Array,
  c: Float32Array,
  m: number,
  k: number,
  n: number,
  aRowStride: number,
  aColStride: number,
  aOffset: number,
  bOffset: number,
  outOffset: number,
  accumulate: boolean,
): void {
  const acc0 = new Float64Array(Math.min(n, BLOCK_N));
  const acc1 = new Float64Array(acc0.length);
  for (let j0 = 0; j0 < n; j0 += BLOCK_N) {
    const width = Math.min(BLOCK_N, n - j0);
    for (let i = 0; i < m; i += 2) {
      // With odd m the last pass computes row m − 1 twice and stores it once.
      const i1 = Math.min(i + 1, m - 1);
      const c0 = outOffset + i * n + j0;
      const c1 = outOffset + i1 * n + j0;
      for (let j = 0; j < width; j++) {
        acc0[j] = accumulate ? c[c0 + j] : 0;
        acc1[j] = accumulate ? c[c1 + j] : 0;
      }
      const a0Row = aOffset + i * aRowStride;
      const a1Row = aOffset + i1 * aRowStride;
      let p = 0;
      for (; p + 4 <= k; p += 4) {
        const x0 = a[a0Row + p * aColStride];
        const x1 = a[a0Row + (p + 1) * aColStride];
        const x2 = a[a0Row + (p + 2) * aColStride];
        const x3 = a[a0Row + (p + 3) * aColStride];
        const y0 = a[a1Row + p * aColStride];
        const y1 = a[a1Row + (p + 1) * aColStride];
        const y2 = a[a1Row + (p + 2) * aColStride];
        const y3 = a[a1Row + (p + 3) * aColStride];
        const b0 = bOffset + p * n + j0;
        const b1 = b0 + n;
        const b2 = b1 + n;
        const b3 = b2 + n;
        for (let j = 0; j < width; j++) {
          const v0 = b[b0 + j];
          const v1 = b[b1 + j];
          const v2 = b[b2 + j];
          const v3 = b[b3 + j];
          acc0[j] += x0 * v0 + x1 * v1 + x2 * v2 + x3 * v3;
          acc1[j] += y0 * v0 + y1 * v1 + y2 * v2 + y3 * v3;
        }
      }
      for (; p < k; p++) {
        const x = a[a0Row + p * aColStride];
        const y = a[a1Row + p * aColStride];
        const bRow = bOffset + p * n + j0;
        for (let j = 0; j < width; j++) {
          acc0[j] += x * b[bRow + j];
          acc1[j] += y * b[bRow + j];
        }
      }
      for (let j = 0; j < width; j++) {
        c[c0 + j] = acc0[j];
        c[c1 + j] = acc1[j];
      }
    }
  }
}

/**
 * B stored [n, k]: each C[i, j] is a dot product of a row of op(A) with a contiguous row of B, four columns
 * of C at a time so that each element of A is loaded once per four products.
 */
function productByDots(
  a: Float32Array,
  b: Float32Array,
  c: Float32Array,
  m: number,
  k: number,
  n: number,
  aRowStride: number,
  aColStride: number,
  aOffset: number,
  bOffset: number,
  outOffset: number,
  accumulate: boolean,
): void {
  // A row of op(A) is strided when A is transposed: gather it once so the dot products read contiguously.
  const aRow = aColStride === 1 ? a : new Float32Array(k);
  for (let i = 0; i < m; i++) {
    let aStart = aOffset + i * aRowStride;
    if (aRow !== a) {
      for (let p = 0; p < k; p++) aRow[p] = a[aStart + p * aColStride];
      aStart = 0;
    }
    const cRow = outOffset + i * n;
    for (let j = 0; j < n; j += 4) {
      // Past the last column the spare sums reuse column n − 1 and are not stored.
      const q0 = bOffset + j * k;
      const q1 = bOffset + Math.min(j + 1, n - 1) * k;
      const q2 = bOffset + Math.min(j + 2, n - 1) * k;
      const q3 = bOffset + Math.min(j + 3, n - 1) * k;
      let s0 = 0;
      let s1 = 0;
      let s2 = 0;
      let s3 = 0;
      for (let p = 0; p < k; p++) {
        const x = aRow[aStart + p];
        s0 += x * b[q0 + p];
        s1 += x * b[q1 + p];
        s2 += x * b[q2 + p];
        s3 += x * b[q3 + p];
      }
      const sums = [s0, s1, s2, s3];
      for (let r = 0; r < 4 && j + r < n; r++) {
        c[cRow + j + r] = (accumulate ? c[cRow + j + r] : 0) + sums[r];
      }
    }
  }
}
