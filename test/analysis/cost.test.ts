import { test } from 'node:test';
import assert from 'node:assert/strict';
import { summary } from '../../src/analysis/index.js';
import { withBackend } from '../../src/backend/registry.js';
import { Conv2d, Sequential } from '../../src/nn/index.js';

/**
 * The worked example of docs/cost.md (the Inception paper's argument for 1×1 bottlenecks): multiplications of a
 * 5×5 'same' convolution from 28×28×192 to 28×28×32, directly and through a 1×1 reduction to 16 channels.
 */
test('5×5 same convolution 28×28×192 → 28×28×32 costs 120,422,400 multiplications', () => {
  const direct = withBackend('meta', () => new Conv2d(192, 32, 5, { padding: 'same' }));
  const s = summary(direct, [192, 28, 28]);
  assert.deepEqual(s.outputShape, [1, 32, 28, 28]);
  // 28·28·32 outputs, each a sum of 5·5·192 products.
  assert.equal(28 * 28 * 32 * 5 * 5 * 192, 120_422_400);
  assert.equal(s.totals.macs, 120_422_400);
  assert.equal(s.totals.flops, 240_844_800);
});

test('with a 1×1 bottleneck to 16 channels first: 2,408,448 + 10,035,200 = 12,443,648', () => {
  const bottleneck = withBackend(
    'meta',
    () => new Sequential(new Conv2d(192, 16, 1), new Conv2d(16, 32, 5, { padding: 'same' })),
  );
  const s = summary(bottleneck, [192, 28, 28]);
  assert.deepEqual(
    s.rows.map((r) => [r.path, r.outputShape, r.macs]),
    [
      ['0', [1, 16, 28, 28], 2_408_448],
      ['1', [1, 32, 28, 28], 10_035_200],
    ],
  );
  assert.equal(s.totals.macs, 12_443_648);
  // About a tenth of the direct cost.
  assert.equal(Math.round((120_422_400 / s.totals.macs) * 10) / 10, 9.7);
});
