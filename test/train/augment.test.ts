import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { PcaLighting } from '../../src/data/index.js';
import { augmentTransforms, formatAugment, parseAugment } from '../../src/train/index.js';

test('--augment reads a list of augmentations with parameters, defaults where none are given', () => {
  assert.deepEqual(parseAugment('none'), []);
  assert.deepEqual(parseAugment('crop-flip'), [
    { name: 'crop', values: [4] },
    { name: 'flip', values: [] },
  ]);
  const items = parseAugment(
    'flip, vflip,crop:2,resized-crop:0.5,rotate:15,shear:10,warp:30,5,color:0.2,pca',
  );
  assert.equal(
    formatAugment(items),
    'flip,vflip,crop:2,resized-crop:0.5,rotate:15,shear:10,warp:30,5,color:0.2,pca:0.1',
  );
  assert.deepEqual(parseAugment('warp'), [{ name: 'warp', values: [34, 4] }]);
  assert.deepEqual(parseAugment('warp:20'), [{ name: 'warp', values: [20, 4] }]);

  const pca: PcaLighting = {
    eigenvalues: [0.2, 0.02, 0.002],
    eigenvectors: [
      [0.58, 0.58, 0.58],
      [-0.7, 0, 0.7],
      [0.4, -0.8, 0.4],
    ],
  };
  const specs = augmentTransforms(items, { inputShape: [3, 24, 20], pca });
  assert.deepEqual(
    specs.map((s) => s.kind),
    [
      'randomHorizontalFlip',
      'randomVerticalFlip',
      'randomCrop',
      'randomResizedCrop',
      'randomRotation',
      'randomAffine',
      'elasticTransform',
      'colorShift',
      'pcaLighting',
    ],
  );
  // Crops are cut to the model's input, [height, width].
  assert.deepEqual(specs[2], {
    kind: 'randomCrop',
    size: [24, 20],
    padding: [2, 2, 2, 2],
    padIfNeeded: false,
    fill: 0,
    mode: 'constant',
  });
  assert.deepEqual((specs[3] as { scale: number[] }).scale, [0.5, 1]);
  assert.deepEqual((specs[5] as { shear: number[] }).shear, [-10, 10, 0, 0]);
  assert.deepEqual((specs[8] as { eigenvalues: number[] }).eigenvalues, pca.eigenvalues);
});

test('--augment names what is wrong with a spec', () => {
  const cases: [string, RegExp][] = [
    ['flop', /unknown 'flop' \(did you mean flip\?\); known: flip, vflip, crop:PADDING, .*pca:ALPHA-STD/],
    ['crop:-1', /crop: padding must be an integer ≥ 0, got '-1'/],
    ['crop:2.5', /crop: padding must be an integer ≥ 0, got '2\.5'/],
    ['resized-crop:1.5', /resized-crop: min-scale must be in \(0, 1\], got '1\.5'/],
    ['rotate:x', /rotate: degrees must be ≥ 0, got 'x'/],
    ['flip:1', /flip takes no parameters, got 1/],
    ['warp:1,2,3', /warp takes at most 2 \(alpha, sigma\), got 1,2,3/],
    ['warp:10,0', /warp: sigma must be > 0, got '0'/],
    ['flip,,crop', /an empty item/],
    ['color:0.1:2', /one colon, then the parameters/],
  ];
  for (const [text, message] of cases) assert.throws(() => parseAugment(text), message, text);
  assert.throws(
    () => augmentTransforms(parseAugment('pca'), { inputShape: [1, 28, 28] }),
    /--augment pca needs RGB input, and this model takes 1 channel/,
  );
});
