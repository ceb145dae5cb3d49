// The boundary with the addon: attributes cross by name, and what oneDNN refuses comes back naming the kernel and
// the attributes a user passed, never as oneDNN's bare "could not create a descriptor".
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Conv2dAttrs } from '../../../src/backend/backend.js';
import { BackendError } from '../../../src/errors.js';
import { loadAddon } from '../../../src/backend/native/addon.js';
import { native, skipNative } from './helpers.js';

const attrs: Conv2dAttrs = { stride: [1, 1], padding: [0, 0, 0, 0], dilation: [1, 1], groups: 1 };

test(
  'a convolution oneDNN refuses is an error naming its shapes and attributes',
  { skip: skipNative },
  () => {
    const backend = native();
    const cases: [number[], number[], RegExp][] = [
      // No input channels, and a kernel of no size: oneDNN has no descriptor for either.
      [[1, 0, 5, 5], [2, 0, 3, 3], /input \[1, 0, 5, 5\], weight \[2, 0, 3, 3\].*groups 1/],
      [[1, 1, 5, 5], [2, 1, 0, 0], /input \[1, 1, 5, 5\], weight \[2, 1, 0, 0\], output \[1, 2, 6, 6\]/],
    ];
    for (const [xShape, wShape, message] of cases) {
      const size = (s: number[]) => s.reduce((a, d) => a * d, 1);
      const x = backend.upload(new Float32Array(size(xShape)), xShape);
      const w = backend.upload(new Float32Array(size(wShape)), wShape);
      assert.throws(
        () => backend.conv2d(x, xShape, w, wShape, null, attrs),
        (error: Error) =>
          error instanceof BackendError &&
          /^native conv2d: oneDNN has no convolution for/.test(error.message) &&
          message.test(error.message),
      );
    }
  },
);

test('an attribute missing or of the wrong type is named', { skip: skipNative }, () => {
  const addon = loadAddon();
  const x = addon.upload(new Float32Array(16), [1, 1, 4, 4], 0);
  const geometry = { kind: 'max' as const, x: [1, 1, 4, 4], y: [1, 1, 2, 2], kernel: [2, 2], stride: [2, 2] };
  const full = { ...geometry, paddingBefore: [0, 0], paddingAfter: [0, 0], countIncludePad: false };
  assert.doesNotThrow(() => addon.pool2d(x, full, false));
  assert.throws(
    () => addon.pool2d(x, geometry as typeof full, false),
    /pool2d: attribute 'paddingBefore' is missing/,
  );
  assert.throws(
    () => addon.pool2d(x, { ...full, stride: 2 } as unknown as typeof full, false),
    /pool2d: attribute 'stride' must be an array of non-negative integers/,
  );
  assert.throws(
    () => addon.lrn(x, [1, 1, 4, 4], { size: 3, alpha: 1e-4, beta: '0.75' } as never),
    /lrn: attribute 'beta' must be a number/,
  );
});
