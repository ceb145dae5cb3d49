// The boundary with the addon: attributes cross by name, and what oneDNN refuses comes back naming the kernel and
// the attributes a user passed, never as oneDNN's bare "could not create a descriptor".
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Conv2dAttrs } from '../../../src/backend/backend.js';
import { BackendError } from '../../../src/errors.js';
import { loadAddon } from '../../../src/backend/native/addon.js';
import { skipNative } from './helpers.js';

const attrs: Conv2dAttrs = { stride: [1, 1], padding: [0, 0, 0, 0], dilation: [1, 1], groups: 1 };

test(
  'a convolution oneDNN refuses is an error naming its shapes and attributes',
  { skip: skipNative },
  () => {
    // Straight to the addon: the shape rules (backend/shapes.ts) refuse these before any backend sees them.
    const addon = loadAddon();
    const cases: [number[], number[], number[], RegExp][] = [
      // No input channels, and a kernel of no size: oneDNN has no descriptor for either.
      [[1, 0, 5, 5], [2, 0, 3, 3], [1, 2, 3, 3], /input \[1, 0, 5, 5\], weight \[2, 0, 3, 3\].*groups 1/],
      [
        [1, 1, 5, 5],
        [2, 1, 0, 0],
        [1, 2, 6, 6],
        /input \[1, 1, 5, 5\], weight \[2, 1, 0, 0\], output \[1, 2, 6, 6\]/,
      ],
    ];
    for (const [x, w, y, message] of cases) {
      const size = (s: number[]) => s.reduce((a, d) => a * d, 1);
      const geometry = { x, w, y, ...attrs };
      const post = { add: null, relu: false, addInPlace: false, trainedWeights: false };
      assert.throws(
        () =>
          addon.conv2d(
            addon.upload(new Float32Array(size(x)), x, 0),
            addon.upload(new Float32Array(size(w)), w, 0),
            null,
            geometry,
            post,
          ),
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
