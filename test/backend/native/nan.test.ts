// Max pooling propagates NaN as PyTorch does (a window holding a NaN pools to NaN; oneDNN's max skips NaNs), in
// plain and blocked layouts, with padding and overlapping windows, and in a replayed recording.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Pool2dAttrs, Shape } from '../../../src/backend/backend.js';
import { pool2dOutputShape } from '../../../src/backend/shapes.js';
import { Generator } from '../../../src/tensor/index.js';
import { layouts, native, skipNative } from './helpers.js';

process.env.CONVNETS_THREADS ??= '1';

/** Max pooling written out, NaN-propagating: the oracle. */
function maxPool(values: Float32Array, shape: Shape, attrs: Pool2dAttrs): Float32Array {
  const [n, c, h, w] = shape;
  const [, , oh, ow] = pool2dOutputShape(shape, attrs);
  const out = new Float32Array(n * c * oh * ow);
  let o = 0;
  for (let plane = 0; plane < n * c; plane++) {
    for (let y = 0; y < oh; y++) {
      for (let x = 0; x < ow; x++) {
        const top = y * attrs.stride[0] - attrs.padding[0];
        const left = x * attrs.stride[1] - attrs.padding[2];
        let best = -Infinity;
        let nan = false;
        for (let i = Math.max(top, 0); i < Math.min(top + attrs.kernel[0], h); i++) {
          for (let j = Math.max(left, 0); j < Math.min(left + attrs.kernel[1], w); j++) {
            const v = values[plane * h * w + i * w + j];
            if (Number.isNaN(v)) nan = true;
            else best = Math.max(best, v);
          }
        }
        out[o++] = nan ? NaN : best;
      }
    }
  }
  return out;
}

const windows: [string, Pool2dAttrs][] = [
  [
    '2×2 stride 2',
    { kernel: [2, 2], stride: [2, 2], padding: [0, 0, 0, 0], ceilMode: false, countIncludePad: false },
  ],
  [
    '3×3 stride 1, padding 1',
    { kernel: [3, 3], stride: [1, 1], padding: [1, 1, 1, 1], ceilMode: false, countIncludePad: false },
  ],
  [
    '3×3 stride 2, ceil mode',
    { kernel: [3, 3], stride: [2, 2], padding: [0, 0, 0, 0], ceilMode: true, countIncludePad: false },
  ],
];

function input(generator: Generator, shape: Shape, nans: number): Float32Array {
  const values = Float32Array.from({ length: shape.reduce((a, d) => a * d, 1) }, () => generator.normal());
  for (let i = 0; i < nans; i++) values[Math.floor(generator.uniform() * values.length)] = NaN;
  return values;
}

for (const layout of layouts) {
  for (const [name, attrs] of windows) {
    test(
      `max pooling ${name}, ${layout} layout: a window holding a NaN pools to NaN`,
      { skip: skipNative },
      () => {
        const backend = native();
        backend.setBlockedLayouts(layout === 'blocked');
        const generator = new Generator(31);
        const shape = [2, 16, 8, 8];
        // A blocked input comes from a convolution by the identity, which leaves oneDNN's layout on its output.
        const values = input(generator, shape, layout === 'blocked' ? 3 : 12);
        let x = backend.upload(values, shape);
        if (layout === 'blocked') {
          const identity = new Float32Array(16 * 16);
          for (let i = 0; i < 16; i++) identity[i * 17] = 1;
          const w = backend.upload(identity, [16, 16, 1, 1]);
          const conv = { stride: [1, 1], padding: [0, 0, 0, 0], dilation: [1, 1], groups: 1 } as const;
          x = backend.conv2d(x, shape, w, [16, 16, 1, 1], null, conv);
          assert.ok(backend.isBlocked(x), 'the input is blocked');
        }
        for (const withWorkspace of [true, false]) {
          const { y } = backend.pool2d('max', x, shape, attrs, withWorkspace);
          const got = backend.read(y, pool2dOutputShape(shape, attrs));
          // The convolution spreads each NaN over the channels: the oracle pools the values the kernel sees.
          const expected = maxPool(backend.read(x, shape) as Float32Array, shape, attrs);
          assert.ok(
            expected.some(Number.isNaN) && expected.some((v) => !Number.isNaN(v)),
            'some windows hold NaN',
          );
          expected.forEach((v, i) =>
            assert.ok(Object.is(got[i], v), `output ${i}: ${got[i]}, expected ${v}`),
          );
        }
        backend.setBlockedLayouts(true);
      },
    );
  }
}

test('a replayed max pooling propagates the NaN of its new input', { skip: skipNative }, () => {
  const backend = native();
  const generator = new Generator(32);
  const shape = [1, 4, 6, 6];
  const attrs = windows[0][1];
  const x = backend.upload(input(generator, shape, 0), shape);
  let y = x;
  const recording = backend.recorder.record([x], () => [
    (y = backend.pool2d('max', x, shape, attrs, false).y),
  ]);
  assert.ok(recording !== null);
  for (const nans of [0, 3]) {
    const values = input(generator, shape, nans);
    recording.replay([backend.upload(values, shape)]);
    const got = backend.read(y, pool2dOutputShape(shape, attrs));
    maxPool(values, shape, attrs).forEach((v, i) =>
      assert.ok(Object.is(got[i], v), `${nans} NaNs, output ${i}`),
    );
  }
  recording.release();
});
