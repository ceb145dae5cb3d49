import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Conv2dAttrs } from '../../../src/backend/backend.js';
import {
  col2im,
  conv2d,
  conv2dBackwardData,
  conv2dBackwardFilter,
  im2col,
} from '../../../src/backend/reference/conv.js';
import { conv2dOutputShape } from '../../../src/backend/shapes.js';
import { ShapeError } from '../../../src/errors.js';
import { assertClose, checkGradient, generator, randomArray } from './helpers.js';

interface Case {
  name: string;
  x: [number, number, number, number];
  w: [number, number, number, number];
  attrs: Conv2dAttrs;
}

function attrs(
  stride: [number, number],
  padding: [number, number, number, number],
  dilation: [number, number] = [1, 1],
  groups = 1,
): Conv2dAttrs {
  return { stride, padding, dilation, groups };
}

const cases: Case[] = [
  { name: '3×3 same padding', x: [2, 3, 7, 6], w: [4, 3, 3, 3], attrs: attrs([1, 1], [1, 1, 1, 1]) },
  {
    name: 'stride 2×3, asymmetric padding',
    x: [2, 2, 9, 8],
    w: [3, 2, 3, 2],
    attrs: attrs([2, 3], [0, 2, 1, 0]),
  },
  { name: 'dilation 2×1', x: [1, 2, 8, 7], w: [2, 2, 3, 3], attrs: attrs([1, 2], [2, 1, 0, 3], [2, 1]) },
  {
    name: 'dilation 3×2, groups',
    x: [2, 4, 9, 10],
    w: [4, 2, 2, 3],
    attrs: attrs([2, 1], [1, 0, 2, 1], [3, 2], 2),
  },
  { name: 'two groups', x: [2, 4, 6, 5], w: [6, 2, 3, 3], attrs: attrs([1, 1], [1, 0, 0, 1], [1, 1], 2) },
  {
    name: 'depthwise, stride 2',
    x: [2, 5, 7, 7],
    w: [5, 1, 3, 3],
    attrs: attrs([2, 2], [1, 1, 1, 1], [1, 1], 5),
  },
  {
    name: 'depthwise ×2 channels',
    x: [1, 3, 5, 6],
    w: [6, 1, 2, 3],
    attrs: attrs([1, 1], [0, 1, 1, 1], [2, 1], 3),
  },
  { name: 'batch 1, 1×1, odd sizes', x: [1, 3, 5, 9], w: [2, 3, 1, 1], attrs: attrs([1, 1], [0, 0, 0, 0]) },
  { name: 'kernel covers the input', x: [3, 2, 4, 3], w: [2, 2, 4, 3], attrs: attrs([1, 1], [0, 0, 0, 0]) },
  { name: 'padding wider than kernel', x: [1, 1, 3, 3], w: [2, 1, 2, 2], attrs: attrs([3, 1], [3, 2, 0, 2]) },
];

/** Spatial output size from the textbook formula, independent of outputSize. */
function naiveOutput(
  input: number,
  kernel: number,
  stride: number,
  before: number,
  after: number,
  dilation: number,
): number {
  return Math.floor((input + before + after - dilation * (kernel - 1) - 1) / stride) + 1;
}

function naiveShape({ x, w, attrs }: Case): number[] {
  const { stride, padding, dilation } = attrs;
  return [
    x[0],
    w[0],
    naiveOutput(x[2], w[2], stride[0], padding[0], padding[1], dilation[0]),
    naiveOutput(x[3], w[3], stride[1], padding[2], padding[3], dilation[1]),
  ];
}

/**
 * The seven-loop convolution: visit(yIndex, xIndex, wIndex) for every multiply that touches a real input
 * element. Forward, backward-data and backward-filter are all this loop with a different body.
 */
function naiveLoop(c: Case, visit: (yIndex: number, xIndex: number, wIndex: number) => void): void {
  const [batch, channels, height, width] = c.x;
  const [outChannels, groupChannels, kh, kw] = c.w;
  const [, , outH, outW] = naiveShape(c);
  const { stride, padding, dilation, groups } = c.attrs;
  const groupOut = outChannels / groups;
  for (let n = 0; n < batch; n++) {
    for (let co = 0; co < outChannels; co++) {
      const g = Math.floor(co / groupOut);
      for (let oh = 0; oh < outH; oh++) {
        for (let ow = 0; ow < outW; ow++) {
          const yIndex = ((n * outChannels + co) * outH + oh) * outW + ow;
          for (let ci = 0; ci < groupChannels; ci++) {
            for (let ki = 0; ki < kh; ki++) {
              for (let kj = 0; kj < kw; kj++) {
                const ih = oh * stride[0] - padding[0] + ki * dilation[0];
                const iw = ow * stride[1] - padding[2] + kj * dilation[1];
                if (ih < 0 || ih >= height || iw < 0 || iw >= width) continue;
                const xIndex = ((n * channels + g * groupChannels + ci) * height + ih) * width + iw;
                visit(yIndex, xIndex, ((co * groupChannels + ci) * kh + ki) * kw + kj);
              }
            }
          }
        }
      }
    }
  }
}

function size(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

test('conv2dOutputShape follows the formula with asymmetric padding and dilation', () => {
  for (const c of cases) assert.deepEqual(conv2dOutputShape(c.x, c.w, c.attrs), naiveShape(c), c.name);
  // AlexNet's first layer: 227 → (227 − 11)/4 + 1 = 55.
  assert.deepEqual(
    conv2dOutputShape([1, 3, 227, 227], [96, 3, 11, 11], attrs([4, 4], [0, 0, 0, 0])),
    [1, 96, 55, 55],
  );
});

test('conv2dOutputShape rejects shapes that do not fit, naming them', () => {
  const plain = attrs([1, 1], [0, 0, 0, 0]);
  assert.throws(() => conv2dOutputShape([3, 8, 8], [4, 3, 3, 3], plain), ShapeError);
  assert.throws(() => conv2dOutputShape([1, 3, 8, 8], [4, 3, 3], plain), ShapeError);
  assert.throws(
    () => conv2dOutputShape([1, 3, 8, 8], [4, 2, 3, 3], plain),
    (e: Error) =>
      e instanceof ShapeError && e.message.includes('[1, 3, 8, 8]') && e.message.includes('[4, 2, 3, 3]'),
  );
  assert.throws(() => conv2dOutputShape([1, 4, 8, 8], [3, 2, 3, 3], { ...plain, groups: 2 }), ShapeError);
  assert.throws(() => conv2dOutputShape([1, 3, 4, 4], [4, 3, 5, 3], plain), ShapeError);
  assert.throws(
    () => conv2dOutputShape([1, 3, 4, 4], [4, 3, 3, 3], { ...plain, dilation: [2, 1] }),
    ShapeError,
  );
  assert.doesNotThrow(() => conv2dOutputShape([1, 3, 4, 4], [4, 3, 5, 3], attrs([1, 1], [1, 0, 0, 0])));
});

test('im2col lays out [groups, C/groups·kh·kw, N·outH·outW] and col2im is its adjoint', () => {
  const random = generator(3);
  for (const c of cases) {
    const x = randomArray(random, size(c.x));
    const kernel: [number, number] = [c.w[2], c.w[3]];
    const cols = im2col(x, c.x, kernel, c.attrs);
    const [batch, channels] = c.x;
    const [, , outH, outW] = naiveShape(c);
    const columns = batch * outH * outW;
    const expected = new Float32Array(channels * kernel[0] * kernel[1] * columns);
    // The unrolling read off the naive loop, using output channel 0 of each group as the witness.
    const groupOut = c.w[0] / c.attrs.groups;
    naiveLoop(c, (yIndex, xIndex, wIndex) => {
      const co = Math.floor(yIndex / (outH * outW)) % c.w[0];
      if (co % groupOut !== 0) return;
      const n = Math.floor(yIndex / (c.w[0] * outH * outW));
      const position = yIndex % (outH * outW);
      const row =
        (co / groupOut) * c.w[1] * kernel[0] * kernel[1] + (wIndex % (c.w[1] * kernel[0] * kernel[1]));
      expected[row * columns + n * outH * outW + position] = x[xIndex];
    });
    assert.deepEqual(cols, expected, c.name);

    const other = randomArray(random, cols.length);
    const back = col2im(other, c.x, kernel, c.attrs);
    let left = 0;
    let right = 0;
    for (let i = 0; i < cols.length; i++) left += cols[i] * other[i];
    for (let i = 0; i < x.length; i++) right += x[i] * back[i];
    assert.ok(
      Math.abs(left - right) < 1e-4 * (1 + Math.abs(left)),
      `${c.name}: ⟨im2col x, c⟩ ≠ ⟨x, col2im c⟩`,
    );
  }
});

test('col2im accumulates into the array it is given', () => {
  const c = cases[0];
  const cols = new Float32Array(c.x[1] * 9 * c.x[0] * 7 * 6).fill(1);
  const base = new Float32Array(size(c.x)).fill(10);
  const out = col2im(cols, c.x, [3, 3], c.attrs, base);
  assert.equal(out, base);
  // A corner pixel is read by 4 of the 9 kernel taps, the centre by all 9.
  assert.equal(out[0], 14);
  assert.equal(out[2 * 6 + 2], 19);
});

test('conv2d matches the seven-loop convolution', () => {
  const random = generator(5);
  for (const c of cases) {
    const x = randomArray(random, size(c.x));
    const w = randomArray(random, size(c.w));
    for (const bias of [null, randomArray(random, c.w[0])]) {
      const yShape = naiveShape(c);
      const expected = new Float64Array(size(yShape));
      const plane = yShape[2] * yShape[3];
      if (bias !== null)
        for (let i = 0; i < expected.length; i++) expected[i] = bias[Math.floor(i / plane) % c.w[0]];
      naiveLoop(c, (yIndex, xIndex, wIndex) => (expected[yIndex] += x[xIndex] * w[wIndex]));
      assertClose(conv2d(x, c.x, w, c.w, bias, c.attrs), expected, 1e-5, `${c.name}, bias ${bias !== null}`);
    }
  }
});

test('conv2d computes a small example by hand', () => {
  // A 3×3 ramp against a 2×2 kernel [[1, 0], [0, −1]]: each output is x[i][j] − x[i+1][j+1] = −4.
  const x = Float32Array.from([0, 1, 2, 3, 4, 5, 6, 7, 8]);
  const w = Float32Array.from([1, 0, 0, -1]);
  const y = conv2d(x, [1, 1, 3, 3], w, [1, 1, 2, 2], Float32Array.from([0.5]), attrs([1, 1], [0, 0, 0, 0]));
  assert.deepEqual([...y], [-3.5, -3.5, -3.5, -3.5]);
  // Padding one row on top only: the first output row sees zeros above, 0 − 1·x[0][1] ... = −x[0][j+1].
  const padded = conv2d(x, [1, 1, 3, 3], w, [1, 1, 2, 2], null, attrs([1, 1], [1, 0, 0, 0]));
  assert.deepEqual([...padded], [-1, -2, -4, -4, -4, -4]);
});

test('conv2d backward kernels match naive loops', () => {
  const random = generator(9);
  for (const c of cases) {
    const x = randomArray(random, size(c.x));
    const w = randomArray(random, size(c.w));
    const yShape = naiveShape(c);
    const dy = randomArray(random, size(yShape));
    const dx = new Float64Array(x.length);
    const dw = new Float64Array(w.length);
    naiveLoop(c, (yIndex, xIndex, wIndex) => {
      dx[xIndex] += dy[yIndex] * w[wIndex];
      dw[wIndex] += dy[yIndex] * x[xIndex];
    });
    assertClose(conv2dBackwardData(dy, yShape, w, c.w, c.x, c.attrs), dx, 1e-5, `${c.name}: dx`);
    assertClose(conv2dBackwardFilter(x, c.x, dy, yShape, c.w, c.attrs), dw, 1e-5, `${c.name}: dw`);
  }
});

test('conv2d backward kernels match finite differences of the forward', () => {
  const random = generator(13);
  for (const c of cases) {
    const x = randomArray(random, size(c.x));
    const w = randomArray(random, size(c.w));
    const yShape = naiveShape(c);
    const dy = randomArray(random, size(yShape));
    const dx = conv2dBackwardData(dy, yShape, w, c.w, c.x, c.attrs);
    const dw = conv2dBackwardFilter(x, c.x, dy, yShape, c.w, c.attrs);
    checkGradient((v) => conv2d(v, c.x, w, c.w, null, c.attrs), x, dy, dx, `${c.name}: dx`);
    checkGradient((v) => conv2d(x, c.x, v, c.w, null, c.attrs), w, dy, dw, `${c.name}: dw`);
  }
});

test('the finite-difference check catches a wrong gradient', () => {
  const c = cases[1];
  const random = generator(17);
  const x = randomArray(random, size(c.x));
  const w = randomArray(random, size(c.w));
  const yShape = naiveShape(c);
  const dy = randomArray(random, size(yShape));
  const dw = conv2dBackwardFilter(x, c.x, dy, yShape, c.w, c.attrs);
  dw[3] *= 1.05;
  assert.throws(() =>
    checkGradient((v) => conv2d(x, c.x, v, c.w, null, c.attrs), w, dy, dw, 'perturbed dw', { samples: 100 }),
  );
});

test('conv2d backward kernels reject an output gradient of the wrong shape', () => {
  const c = cases[0];
  const dy = new Float32Array(2 * 4 * 7 * 5);
  assert.throws(
    () => conv2dBackwardData(dy, [2, 4, 7, 5], new Float32Array(108), c.w, c.x, c.attrs),
    ShapeError,
  );
  assert.throws(
    () => conv2dBackwardFilter(new Float32Array(size(c.x)), c.x, dy, [2, 4, 7, 5], c.w, c.attrs),
    ShapeError,
  );
});

test('a convolution whose unrolled input no typed array holds is a ShapeError naming it, not a RangeError', () => {
  // 1024 channels × (1 + 2·1100)² positions: 4.96e9 values for a 4 KB input.
  const attrs: Conv2dAttrs = {
    stride: [1, 1],
    padding: [1100, 1100, 1100, 1100],
    dilation: [1, 1],
    groups: 1,
  };
  const x = new Float32Array(1024);
  assert.throws(
    () => conv2d(x, [1, 1024, 1, 1], new Float32Array(1024), [1, 1024, 1, 1], null, attrs),
    (e: Error) =>
      e instanceof ShapeError && /im2col on the reference backend.*\[1024, 4844401\]/.test(e.message),
  );
});
