// Batch-invariant weight gradients (CONVNETS_BATCH_INVARIANT=1): each image's gradient from oneDNN, summed in
// float64 in the batch's order. They must agree with the reference backend, be the same whatever the order of the
// images, and equal the average of the gradients of two halves of the batch (what two data-parallel processes
// compute) to within one float32 rounding.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Conv2dAttrs } from '../../../src/backend/backend.js';
import { conv2dOutputShape, sizeOf } from '../../../src/backend/shapes.js';
import { generator, randomArray } from '../reference/helpers.js';
import { agree, input, layouts, native, skipNative, uploadNative, type Layout } from './helpers.js';

const attrs: Conv2dAttrs = { stride: [1, 1], padding: [1, 1, 1, 1], dilation: [1, 1], groups: 1 };
// ResNet-20's first-stage convolution (oneDNN's JIT kernel, blocked layouts), at batch 8.
const xShape = [8, 16, 12, 12];
const wShape = [16, 16, 3, 3];
const yShape = conv2dOutputShape(xShape, wShape, attrs);
const perImage = { x: sizeOf(xShape) / 8, y: sizeOf(yShape) / 8 };

/** The images of `x` and `dy` at `indices`, in that order. */
function images(values: Float32Array, size: number, indices: number[]): Float32Array {
  const out = new Float32Array(indices.length * size);
  indices.forEach((n, i) => out.set(values.subarray(n * size, (n + 1) * size), i * size));
  return out;
}

function weightGradient(x: Float32Array, dy: Float32Array, indices: number[], layout: Layout): Float32Array {
  const backend = native();
  const batch = indices.length;
  const xs = uploadNative(
    backend,
    input(images(x, perImage.x, indices), [batch, ...xShape.slice(1)]),
    layout,
  );
  const dys = uploadNative(
    backend,
    input(images(dy, perImage.y, indices), [batch, ...yShape.slice(1)]),
    layout,
  );
  const dw = backend.conv2dBackwardFilter(
    xs,
    [batch, ...xShape.slice(1)],
    dys,
    [batch, ...yShape.slice(1)],
    wShape,
    attrs,
  );
  const values = backend.read(dw, [sizeOf(wShape)]) as Float32Array;
  for (const s of [xs, dys, dw]) backend.release(s);
  return values;
}

for (const layout of layouts) {
  test(`batch-invariant conv2dBackwardFilter [${layout}]`, { skip: skipNative }, () => {
    const random = generator(21);
    const x = Float32Array.from(randomArray(random, sizeOf(xShape)));
    const dy = Float32Array.from(randomArray(random, sizeOf(yShape)));
    const all = [0, 1, 2, 3, 4, 5, 6, 7];
    native().setBatchInvariantGradients(true);
    try {
      agree(
        'conv2dBackwardFilter, batch-invariant',
        layout,
        [input(x, xShape), input(dy, yShape)],
        (b, [xs, dys]) => b.conv2dBackwardFilter(xs, xShape, dys, yShape, wShape, attrs),
      );
      const whole = weightGradient(x, dy, all, layout);
      assert.deepEqual(
        weightGradient(x, dy, [...all].reverse(), layout),
        whole,
        'the order of the images mattered',
      );
      // Two ranks of a DistributedSampler: every other image each; allreduce adds their gradients.
      const even = weightGradient(x, dy, [0, 2, 4, 6], layout);
      const odd = weightGradient(x, dy, [1, 3, 5, 7], layout);
      const scale = Math.max(...whole.map(Math.abs));
      const worst = Math.max(...whole.map((w, i) => Math.abs(Math.fround(even[i] + odd[i]) - w)));
      assert.ok(
        worst <= 2 * 2 ** -24 * scale,
        `halves added differ by ${worst / scale} of the largest value`,
      );
    } finally {
      native().setBatchInvariantGradients(false);
    }
  });
}
