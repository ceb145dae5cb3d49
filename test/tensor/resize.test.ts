// interpolate (F.interpolate) and nn.Upsample: values by hand, gradients against finite differences, options
// checked. PyTorch's values and gradients are in test/pytorch/layers.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ShapeError, ValueError } from '../../src/errors.js';
import { Upsample } from '../../src/nn/index.js';
import { interpolate, tensor } from '../../src/tensor/index.js';
import { assertTensor, gradcheck, uniformTensor } from './gradcheck.js';

test('interpolate values by hand: nearest repeats, bilinear weighs half-pixel neighbours', () => {
  const x = tensor([1, 2, 3, 4], [1, 1, 2, 2]);
  assertTensor(
    interpolate(x, { scaleFactor: 2 }),
    [1, 1, 4, 4],
    [1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4],
    'nearest ×2',
  );
  // Output column j reads input position (j + 0.5) / 2 − 0.5: −0.25 (clamped to 0), 0.25, 0.75, 1.25 (past the last
  // centre: the last pixel).
  const row = [1, 1.25, 1.75, 2];
  const bilinear = interpolate(x, { size: [1, 4], mode: 'bilinear' });
  // One output row reads position (0 + 0.5) · 2 − 0.5 = 0.5: halfway between the two input rows.
  assertTensor(
    bilinear,
    [1, 1, 1, 4],
    row.map((v) => v + 1),
    'bilinear to 1×4',
  );
  assertTensor(interpolate(x, { size: 2, mode: 'bilinear' }), [1, 1, 2, 2], [1, 2, 3, 4], 'same size');
});

for (const mode of ['nearest', 'bilinear'] as const) {
  for (const [from, to] of [
    [
      [3, 4],
      [6, 8],
    ],
    [
      [5, 4],
      [3, 7],
    ],
  ] as const) {
    test(`interpolate ${mode} gradient, ${from.join('×')} → ${to.join('×')}`, () => {
      gradcheck(`interpolate ${mode}`, (x) => interpolate(x, { size: to, mode }), [
        uniformTensor([2, 2, ...from], 4),
      ]);
    });
  }
}

test('interpolate refuses what it cannot do, naming it', () => {
  const x = tensor(new Float32Array(16), [1, 1, 4, 4]);
  assert.throws(
    () => interpolate(x, {}),
    (e) => e instanceof ValueError && /size or scaleFactor/.test(e.message),
  );
  assert.throws(() => interpolate(x, { size: 2, scaleFactor: 2 }), /either size or scaleFactor/);
  assert.throws(
    () => interpolate(x, { scaleFactor: 0.1 }),
    (e) => e instanceof ShapeError && /\[0, 0\]/.test(e.message),
  );
  assert.throws(() => interpolate(x, { scaleFactor: -1 }), /scaleFactor -1 must be > 0/);
  assert.throws(() => interpolate(x, { size: 3, mode: 'bicubic' as 'nearest' }), /mode 'bicubic'/);
  assert.throws(() => interpolate(tensor([1, 2], [1, 2]), { size: 3 }), /4-D input/);
});

test('Upsample is interpolate as a layer', () => {
  const x = uniformTensor([1, 2, 3, 3], 7);
  const layer = new Upsample({ scaleFactor: 2, mode: 'bilinear' });
  assert.deepEqual(layer.call(x).data(), interpolate(x, { size: 6, mode: 'bilinear' }).data());
  assert.equal(layer.toString(), "Upsample(scaleFactor=2, mode='bilinear')");
});
