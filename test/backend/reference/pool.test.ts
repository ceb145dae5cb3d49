import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Pool2dAttrs, PoolKind } from '../../../src/backend/backend.js';
import {
  adaptiveAvgPool2d,
  adaptiveAvgPool2dBackward,
  pool2d,
  pool2dBackward,
} from '../../../src/backend/reference/pool.js';
import { pool2dOutputShape } from '../../../src/backend/shapes.js';
import { ShapeError } from '../../../src/errors.js';
import { assertClose, checkGradient, generator, randomArray } from './helpers.js';

function attrs(
  kernel: [number, number],
  stride: [number, number],
  padding: [number, number, number, number] = [0, 0, 0, 0],
  ceilMode = false,
  countIncludePad = true,
): Pool2dAttrs {
  return { kernel, stride, padding, ceilMode, countIncludePad };
}

interface Case {
  name: string;
  x: [number, number, number, number];
  attrs: Pool2dAttrs;
}

const cases: Case[] = [
  { name: '2×2 stride 2', x: [2, 3, 6, 8], attrs: attrs([2, 2], [2, 2]) },
  { name: '3×3 stride 2 odd input', x: [1, 2, 7, 9], attrs: attrs([3, 3], [2, 2]) },
  { name: 'overlapping, padded', x: [2, 2, 7, 6], attrs: attrs([3, 3], [2, 2], [1, 1, 1, 1]) },
  { name: 'asymmetric padding', x: [1, 3, 6, 7], attrs: attrs([3, 2], [1, 2], [1, 0, 0, 1]) },
  { name: 'ceil mode', x: [2, 1, 6, 7], attrs: attrs([3, 3], [2, 2], [0, 0, 0, 0], true) },
  { name: 'ceil mode with padding', x: [1, 2, 4, 5], attrs: attrs([3, 3], [2, 2], [1, 1, 1, 1], true) },
  { name: 'ceil mode, asymmetric', x: [1, 2, 8, 5], attrs: attrs([2, 3], [3, 2], [1, 0, 1, 1], true) },
  { name: 'batch 1, whole plane', x: [1, 4, 5, 3], attrs: attrs([5, 3], [1, 1]) },
];

/** Floor or ceil of the window count, with PyTorch's rule that the last window starts before the right padding. */
function naiveOutput(
  input: number,
  kernel: number,
  stride: number,
  before: number,
  after: number,
  ceil: boolean,
): number {
  const span = input + before + after - kernel;
  let out = (ceil ? Math.ceil(span / stride) : Math.floor(span / stride)) + 1;
  if (ceil && (out - 1) * stride >= input + before) out--;
  return out;
}

function naiveShape({ x, attrs: a }: Case): number[] {
  return [
    x[0],
    x[1],
    naiveOutput(x[2], a.kernel[0], a.stride[0], a.padding[0], a.padding[1], a.ceilMode),
    naiveOutput(x[3], a.kernel[1], a.stride[1], a.padding[2], a.padding[3], a.ceilMode),
  ];
}

/**
 * Walks every tap of every window without clipping and sorts it: inside the input, inside the padding, or
 * beyond the padded input (where a ceil-mode window overhangs). Average pooling divides by the real and
 * padding taps together when padding counts, by the real taps alone otherwise.
 */
function naivePool(kind: PoolKind, x: Float32Array, c: Case): { y: Float64Array; argmax: Int32Array } {
  const [batch, channels, height, width] = c.x;
  const [, , outH, outW] = naiveShape(c);
  const { kernel, stride, padding, countIncludePad } = c.attrs;
  const y = new Float64Array(batch * channels * outH * outW);
  const argmax = new Int32Array(y.length);
  for (let plane = 0; plane < batch * channels; plane++) {
    for (let oh = 0; oh < outH; oh++) {
      for (let ow = 0; ow < outW; ow++) {
        let sum = 0;
        let real = 0;
        let padded = 0;
        let best = -Infinity;
        let bestIndex = -1;
        for (let ki = 0; ki < kernel[0]; ki++) {
          for (let kj = 0; kj < kernel[1]; kj++) {
            const ih = oh * stride[0] - padding[0] + ki;
            const iw = ow * stride[1] - padding[2] + kj;
            const insideH = ih >= 0 && ih < height;
            const insideW = iw >= 0 && iw < width;
            if (insideH && insideW) {
              const v = x[plane * height * width + ih * width + iw];
              sum += v;
              real++;
              if (v > best) [best, bestIndex] = [v, ih * width + iw];
            } else if (ih < height + padding[1] && iw < width + padding[3]) {
              padded++;
            }
          }
        }
        const o = (plane * outH + oh) * outW + ow;
        y[o] = kind === 'max' ? best : sum / (countIncludePad ? real + padded : real);
        argmax[o] = bestIndex;
      }
    }
  }
  return { y, argmax };
}

function size(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Distinct values at least 1/size apart, so no window ties and a 1e-3 step never changes the maximum. */
function distinctValues(random: () => number, count: number): Float32Array {
  const values = Float32Array.from({ length: count }, (_, i) => (2 * i) / count - 1);
  for (let i = count - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [values[i], values[j]] = [values[j], values[i]];
  }
  return values;
}

test('pool2dOutputShape follows the floor and ceil formulas', () => {
  for (const c of cases) assert.deepEqual(pool2dOutputShape(c.x, c.attrs), naiveShape(c), c.name);
  // GoogLeNet's 3×3 stride-2 ceil-mode pool: 112 → 56 (floor would give 55).
  assert.deepEqual(
    pool2dOutputShape([1, 64, 112, 112], attrs([3, 3], [2, 2], [0, 0, 0, 0], true)),
    [1, 64, 56, 56],
  );
  assert.throws(() => pool2dOutputShape([1, 64, 112], attrs([3, 3], [2, 2])), ShapeError);
  assert.throws(() => pool2dOutputShape([1, 1, 2, 2], attrs([3, 3], [1, 1])), ShapeError);
});

test('max pooling of a 4×4 ramp, by hand', () => {
  const ramp = Float32Array.from({ length: 16 }, (_, i) => i);
  const { y, argmax } = pool2d('max', ramp, [1, 1, 4, 4], attrs([2, 2], [2, 2]));
  assert.deepEqual([...y], [5, 7, 13, 15]);
  assert.deepEqual([...argmax!], [5, 7, 13, 15]);
  const dx = pool2dBackward(
    'max',
    Float32Array.from([1, 2, 3, 4]),
    [1, 1, 2, 2],
    [1, 1, 4, 4],
    attrs([2, 2], [2, 2]),
    argmax,
  );
  assert.deepEqual([...dx], [0, 0, 0, 0, 0, 1, 0, 2, 0, 0, 0, 0, 0, 3, 0, 4]);
  // Negated, 3×3 stride 2 padding 1 ceil mode (values from PyTorch 1.13): padding never wins.
  const negated = pool2d(
    'max',
    ramp.map((v) => -v),
    [1, 1, 4, 4],
    attrs([3, 3], [2, 2], [1, 1, 1, 1], true),
  );
  assert.deepEqual([...negated.y], [-0, -1, -3, -4, -5, -7, -12, -13, -15]);
  assert.deepEqual([...negated.argmax!], [0, 1, 3, 4, 5, 7, 12, 13, 15]);
});

test('average pooling of a 4×4 ramp and of ones, by hand (as PyTorch 1.13 gives)', () => {
  const ramp = Float32Array.from({ length: 16 }, (_, i) => i);
  const { y, argmax } = pool2d('avg', ramp, [1, 1, 4, 4], attrs([2, 2], [2, 2]));
  assert.deepEqual([...y], [2.5, 4.5, 10.5, 12.5]);
  assert.equal(argmax, null);
  const ones5 = new Float32Array(25).fill(1);
  const corners = pool2d('avg', ones5, [1, 1, 5, 5], attrs([2, 2], [2, 2], [1, 1, 1, 1], true)).y;
  assert.deepEqual([...corners], [0.25, 0.5, 0.5, 0.5, 1, 1, 0.5, 1, 1]);
  // The last ceil-mode window runs past the padded edge: divided by 2 × 2, not 3 × 3, when padding counts.
  const ones4 = new Float32Array(16).fill(1);
  const overhang = pool2d('avg', ones4, [1, 1, 4, 4], attrs([3, 3], [2, 2], [1, 1, 1, 1], true)).y;
  assertClose(overhang, [4 / 9, 6 / 9, 1 / 3, 6 / 9, 1, 0.5, 1 / 3, 0.5, 0.25], 1e-7, 'count padding');
  const excluded = pool2d('avg', ones4, [1, 1, 4, 4], attrs([3, 3], [2, 2], [1, 1, 1, 1], true, false)).y;
  assert.deepEqual([...excluded], [1, 1, 1, 1, 1, 1, 1, 1, 1]);
});

test('pool2d matches the naive window walk', () => {
  const random = generator(21);
  for (const c of cases) {
    const x = randomArray(random, size(c.x));
    const max = naivePool('max', x, c);
    const result = pool2d('max', x, c.x, c.attrs);
    assert.deepEqual([...result.y], [...max.y].map(Math.fround), `${c.name}: max`);
    assert.deepEqual(result.argmax, max.argmax, `${c.name}: argmax`);
    for (const countIncludePad of [true, false]) {
      const avgCase = { ...c, attrs: { ...c.attrs, countIncludePad } };
      const what = `${c.name}: avg, countIncludePad ${countIncludePad}`;
      assertClose(pool2d('avg', x, c.x, avgCase.attrs).y, naivePool('avg', x, avgCase).y, 1e-6, what);
    }
  }
});

test('max pooling picks the first of tied maxima, as PyTorch does', () => {
  const { argmax } = pool2d('max', new Float32Array(16).fill(1), [1, 1, 4, 4], attrs([2, 2], [2, 2]));
  assert.deepEqual([...argmax!], [0, 2, 8, 10]);
});

test('max pooling propagates NaN as PyTorch does', () => {
  const x = Float32Array.from([1, NaN, 3, 2]);
  const { y, argmax } = pool2d('max', x, [1, 1, 2, 2], attrs([2, 2], [1, 1]));
  assert.ok(Number.isNaN(y[0]));
  assert.equal(argmax![0], 1);
});

test('max pooling with NaNs: any NaN in a window gives NaN, its gradient goes to the last NaN (PyTorch 1.13)', () => {
  // prettier-ignore
  const x = Float32Array.from([
    NaN, 5, 1, 2,
    NaN, 2, 3, NaN,
    0, 1, NaN, NaN,
    4, -1, -2, -3,
  ]);
  const shape = [1, 1, 4, 4];
  // F.max_pool2d(x, **options, return_indices=True), then y.backward(1, 2, 3, …) for x.grad.
  const cases: [Pool2dAttrs, number[], number[], number[]][] = [
    [
      attrs([2, 2], [2, 2]),
      [NaN, NaN, 4, NaN],
      [4, 7, 12, 11],
      [0, 0, 0, 0, 1, 0, 0, 2, 0, 0, 0, 4, 3, 0, 0, 0],
    ],
    [
      attrs([3, 3], [1, 1], [1, 1, 1, 1]),
      [NaN, NaN, NaN, NaN, NaN, NaN, NaN, NaN, NaN, NaN, NaN, NaN, 4, NaN, NaN, NaN],
      [4, 4, 7, 7, 4, 10, 11, 11, 4, 10, 11, 11, 12, 10, 11, 11],
      [0, 0, 0, 0, 17, 0, 0, 7, 0, 0, 30, 69, 13, 0, 0, 0],
    ],
    [
      attrs([3, 3], [2, 2], [0, 0, 0, 0], true),
      [NaN, NaN, NaN, NaN],
      [10, 11, 10, 11],
      [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 6, 0, 0, 0, 0],
    ],
  ];
  for (const [a, yWanted, argmaxWanted, dxWanted] of cases) {
    const what = `kernel ${a.kernel}, stride ${a.stride}, padding ${a.padding}, ceil ${a.ceilMode}`;
    const { y, argmax } = pool2d('max', x, shape, a);
    assert.deepEqual([...y], yWanted, what);
    assert.deepEqual([...argmax!], argmaxWanted, what);
    const dy = Float32Array.from(y, (_, i) => i + 1);
    assert.deepEqual(
      [...pool2dBackward('max', dy, pool2dOutputShape(shape, a), shape, a, argmax)],
      dxWanted,
      what,
    );
  }
});

test('pool2d backward matches finite differences of the forward', () => {
  const random = generator(23);
  for (const c of cases) {
    const yShape = naiveShape(c);
    const x = distinctValues(random, size(c.x));
    const dy = randomArray(random, size(yShape));
    const { argmax } = pool2d('max', x, c.x, c.attrs);
    const dxMax = pool2dBackward('max', dy, yShape, c.x, c.attrs, argmax);
    checkGradient((v) => pool2d('max', v, c.x, c.attrs).y, x, dy, dxMax, `${c.name}: max`);
    for (const countIncludePad of [true, false]) {
      const a = { ...c.attrs, countIncludePad };
      const dxAvg = pool2dBackward('avg', dy, yShape, c.x, a, null);
      checkGradient((v) => pool2d('avg', v, c.x, a).y, x, dy, dxAvg, `${c.name}: avg ${countIncludePad}`);
    }
  }
});

test('pool2d backward rejects a wrong output gradient or a missing argmax', () => {
  const c = cases[0];
  const a = c.attrs;
  assert.throws(
    () => pool2dBackward('avg', new Float32Array(2 * 3 * 3 * 3), [2, 3, 3, 3], c.x, a, null),
    ShapeError,
  );
  assert.throws(() => pool2dBackward('max', new Float32Array(2 * 3 * 3 * 4), [2, 3, 3, 4], c.x, a, null));
});

/**
 * Adaptive pooling's bins written the other way round: input pixel [i, i + 1) belongs to bin o when it overlaps
 * the bin's exact extent [o·in/out, (o + 1)·in/out), which is what floor and ceil of the bounds select.
 */
function naiveAdaptive(x: Float32Array, shape: number[], outH: number, outW: number): Float64Array {
  const [batch, channels, height, width] = shape;
  const y = new Float64Array(batch * channels * outH * outW);
  const covers = (o: number, i: number, inSize: number, outSize: number) =>
    o * inSize < (i + 1) * outSize && i * outSize < (o + 1) * inSize;
  for (let plane = 0; plane < batch * channels; plane++) {
    for (let oh = 0; oh < outH; oh++) {
      for (let ow = 0; ow < outW; ow++) {
        let sum = 0;
        let count = 0;
        for (let ih = 0; ih < height; ih++) {
          for (let iw = 0; iw < width; iw++) {
            if (!covers(oh, ih, height, outH) || !covers(ow, iw, width, outW)) continue;
            sum += x[(plane * height + ih) * width + iw];
            count++;
          }
        }
        y[(plane * outH + oh) * outW + ow] = sum / count;
      }
    }
  }
  return y;
}

test('adaptive average pooling uses PyTorch bins', () => {
  const ramp = Float32Array.from({ length: 25 }, (_, i) => i);
  // Values from PyTorch 1.13: rows bin as [0, 2), [1, 4), [3, 5); columns as [0, 3), [2, 5).
  assert.deepEqual([...adaptiveAvgPool2d(ramp, [1, 1, 5, 5], [3, 2])], [3.5, 5.5, 11, 13, 18.5, 20.5]);
  const random = generator(29);
  const shapes: [number[], [number, number]][] = [
    [
      [2, 3, 7, 5],
      [3, 2],
    ],
    [
      [1, 2, 6, 6],
      [1, 1],
    ],
    [
      [1, 1, 4, 5],
      [7, 3],
    ],
    [
      [2, 2, 9, 4],
      [4, 4],
    ],
  ];
  for (const [shape, out] of shapes) {
    const x = randomArray(random, size(shape));
    const y = adaptiveAvgPool2d(x, shape, out);
    assertClose(y, naiveAdaptive(x, shape, out[0], out[1]), 1e-6, `adaptive ${shape} → ${out}`);
    const dyShape = [shape[0], shape[1], out[0], out[1]];
    const dy = randomArray(random, size(dyShape));
    const dx = adaptiveAvgPool2dBackward(dy, dyShape, shape);
    checkGradient((v) => adaptiveAvgPool2d(v, shape, out), x, dy, dx, `adaptive backward ${shape} → ${out}`);
  }
});
