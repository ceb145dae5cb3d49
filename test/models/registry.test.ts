// The registry across families (src/models/registry.ts): one unit for accuracies, one ImageNet normalisation.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IMAGENET_PREPROCESSING, get, list } from '../../src/models/index.js';
import { ValueError } from '../../src/errors.js';

test('every reported top-1 accuracy is a percent, as torchvision’s tables print it', () => {
  const reported = list().filter((info) => info.reportedAccuracy !== undefined);
  assert.ok(reported.length > 0);
  for (const { name, reportedAccuracy } of reported) {
    const top1 = reportedAccuracy!.top1;
    // Every model here beats 1 %, so a fraction (0.7613 for 76.13 %) cannot pass.
    assert.ok(top1 > 1 && top1 <= 100, `${name}: top1 ${top1}`);
  }
});

test('every model that names a normalisation names torchvision’s ImageNet one', () => {
  const preprocessed = list().filter((info) => info.preprocessing !== undefined);
  assert.ok(preprocessed.length > 0);
  for (const { name, preprocessing } of preprocessed)
    assert.deepEqual(preprocessing, IMAGENET_PREPROCESSING, name);
  assert.deepEqual(IMAGENET_PREPROCESSING, { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] });
});

test('an unknown name is an error that lists the known ones', () => {
  assert.throws(
    () => get('resnet51'),
    (error: unknown) => {
      assert.ok(error instanceof ValueError);
      assert.match(error.message, /unknown model 'resnet51'; known models: .*resnet50/);
      return true;
    },
  );
});
