// What the native backend's max pooling does with NaN, against PyTorch's rule (any NaN in a window gives NaN, and
// the gradient goes to the window's last NaN), which the reference backend follows.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isDeepStrictEqual } from 'node:util';
import type { Pool2dAttrs } from '../../../src/backend/backend.js';
import { pool2dOutputShape, sizeOf } from '../../../src/backend/shapes.js';
import { input, layouts, native, skipNative, uploadNative } from './helpers.js';

const attrs: Pool2dAttrs = {
  kernel: [2, 2],
  stride: [2, 2],
  padding: [0, 0, 0, 0],
  ceilMode: false,
  countIncludePad: true,
};

// F.max_pool2d(x, 2) in PyTorch 1.13, and x.grad after y.backward(1, 2, 3, …).
// prettier-ignore
const cases = [
  {
    name: 'windows mixing NaN and numbers',
    x: [
      NaN, 5, 1, 2,
      NaN, 2, 3, NaN,
      0, 1, NaN, NaN,
      4, -1, -2, -3,
    ],
    xShape: [1, 1, 4, 4],
    y: [NaN, NaN, 4, NaN],
    dx: [0, 0, 0, 0, 1, 0, 0, 2, 0, 0, 0, 4, 3, 0, 0, 0],
  },
  {
    name: 'a window of NaN only',
    x: [NaN, NaN, 1, NaN, NaN, NaN, NaN, 2],
    xShape: [1, 1, 2, 4],
    y: [NaN, NaN],
    dx: [0, 0, 0, 0, 0, 1, 2, 0],
  },
];

test(
  'native max pooling propagates NaN as PyTorch does',
  {
    skip: skipNative,
    todo:
      "oneDNN's max pooling skips NaN (oneDNN 2.6): a window holding a NaN gives its largest other value and " +
      'sends the gradient there; a window of NaN only gives −3.4028235e38 and sends it to its first element',
  },
  (t) => {
    const backend = native();
    // Every case runs and is reported before the first mismatch fails the test.
    const mismatches: string[] = [];
    for (const c of cases) {
      const yShape = pool2dOutputShape(c.xShape, attrs);
      for (const layout of layouts) {
        const x = uploadNative(backend, input(Float32Array.from(c.x), c.xShape), layout);
        const { y, workspace } = backend.pool2d('max', x, c.xShape, attrs);
        const dy = backend.upload(
          Float32Array.from({ length: sizeOf(yShape) }, (_, i) => i + 1),
          yShape,
        );
        const dx = backend.pool2dBackward('max', dy, yShape, c.xShape, attrs, workspace);
        const values = [...backend.read(y, yShape)];
        const gradient = [...backend.read(dx, c.xShape)];
        t.diagnostic(`${c.name}, ${layout}: y [${values.join(', ')}], dx [${gradient.join(', ')}]`);
        if (!isDeepStrictEqual([values, gradient], [c.y, c.dx])) mismatches.push(`${c.name}, ${layout}`);
      }
    }
    assert.deepEqual(mismatches, []);
  },
);
