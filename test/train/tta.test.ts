import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setBackend } from '../../src/backend/registry.js';
import { arrayDataset, loader, transforms } from '../../src/data/index.js';
import { ShapeError, ValueError } from '../../src/errors.js';
import * as nn from '../../src/nn/index.js';
import { tensor } from '../../src/tensor/index.js';
import { Ensemble, evaluate, logMeanSoftmax, predict, ttaViews } from '../../src/train/index.js';
import { unreleased } from '../memory.js';

setBackend('reference');

const close = (actual: ArrayLike<number>, expected: readonly number[], tolerance = 1e-6) => {
  assert.equal(actual.length, expected.length);
  for (let i = 0; i < expected.length; i++)
    assert.ok(Math.abs(actual[i] - expected[i]) <= tolerance, `[${i}] ${actual[i]} vs ${expected[i]}`);
};

/** softmax of two logits, by hand. */
const softmax2 = (a: number, b: number): [number, number] => [
  1 / (1 + Math.exp(b - a)),
  1 / (1 + Math.exp(a - b)),
];

/** Flatten + Linear over a 2×2 crop whose logits are the crop's top-left and bottom-right pixels. */
function cornerPixels(): nn.Sequential {
  const linear = new nn.Linear(4, 2);
  linear.weight.assign(tensor([1, 0, 0, 0, 0, 0, 0, 1], [2, 4]));
  linear.bias!.assign(tensor([0, 0]));
  return new nn.Sequential(new nn.Flatten(), linear).eval();
}

// Two 3×3 images, row-major pixels v0…v8.
const images = [
  [0.1, 0.9, -0.4, 1.3, 0.2, 0.7, -1.1, 0.5, 2.0],
  [1.5, -0.3, 0.8, 0.0, -0.6, 1.2, 0.4, -0.9, 0.3],
];
// The (top-left, bottom-right) pixels of each 2×2 crop: corners, centre (round-half-even: top-left), then the
// same of the mirror image [v2 v1 v0; v5 v4 v3; v8 v7 v6].
const fiveCropPairs = (v: number[]) => [
  [v[0], v[4]],
  [v[1], v[5]],
  [v[3], v[7]],
  [v[4], v[8]],
  [v[0], v[4]],
];
const mirroredPairs = (v: number[]) => [
  [v[2], v[4]],
  [v[1], v[3]],
  [v[5], v[7]],
  [v[4], v[6]],
  [v[2], v[4]],
];
const meanOfSoftmax = (pairs: number[][]) => {
  const probabilities = pairs.map(([a, b]) => softmax2(a, b));
  return [0, 1].map((c) => probabilities.reduce((sum, p) => sum + p[c], 0) / pairs.length);
};

test('ttaViews: the mirror image, and five crops in torchvision order with its centre', () => {
  const x = tensor([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11], [1, 1, 3, 4]);
  const [same, mirrored] = ttaViews(x, { tta: 'flip' });
  assert.deepEqual(Array.from(same.data()), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
  assert.deepEqual(Array.from(mirrored.data()), [3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8]);
  // 3×4 cut to 2×2: centre top round(0.5) = 0 (half to even, as Python's round), left round(1) = 1.
  const crops = ttaViews(x, { tta: 'five-crop', cropSize: 2 }).map((view) => Array.from(view.data()));
  assert.deepEqual(crops, [
    [0, 1, 4, 5],
    [2, 3, 6, 7],
    [4, 5, 8, 9],
    [6, 7, 10, 11],
    [1, 2, 5, 6],
  ]);
  const ten = ttaViews(x, { tta: 'ten-crop', cropSize: [3, 2] }).map((view) => Array.from(view.data()));
  assert.equal(ten.length, 10);
  assert.deepEqual(ten[4], [1, 2, 5, 6, 9, 10]);
  assert.deepEqual(ten[5], [3, 2, 7, 6, 11, 10]);
  assert.deepEqual(ten[9], [2, 1, 6, 5, 10, 9]);
});

test('a crop larger than the image, a crop mode without a size and an unknown mode are clear errors', () => {
  const x = tensor(new Float32Array(2 * 3 * 5 * 5), [2, 3, 5, 5]);
  assert.throws(
    () => ttaViews(x, { tta: 'ten-crop', cropSize: [6, 4] }),
    (error: Error) =>
      error instanceof ShapeError &&
      error.message === "tta 'ten-crop': crop 6×4 is larger than the image 5×5 (input [2, 3, 5, 5])",
  );
  assert.throws(
    () => ttaViews(x, { tta: 'five-crop' }),
    (error: Error) => error instanceof ValueError && error.message === "tta 'five-crop' needs a cropSize",
  );
  assert.throws(
    () => ttaViews(x, { tta: 'mirror' as 'flip' }),
    (error: Error) =>
      error instanceof ValueError && /tta must be one of none, flip, five-crop, ten-crop/.test(error.message),
  );
});

test('logMeanSoftmax is the log of the averaged probabilities, finite where one view rules a class out', () => {
  // softmax [0, ln 3] = [1/4, 3/4]; softmax [ln 3, 0] = [3/4, 1/4]; mean [1/2, 1/2].
  const logits = tensor([0, Math.log(3), Math.log(3), 0], [2, 1, 2]);
  close(logMeanSoftmax(logits, 0).data(), [-Math.log(2), -Math.log(2)]);
  // The second view gives class 0 a probability of e^-200: the mean is ½ + ½e^-200 for class 0.
  const extreme = tensor([0, 0, -100, 100], [2, 1, 2]);
  close(logMeanSoftmax(extreme, 0).data(), [Math.log(0.25), Math.log(0.75)]);
  const far = tensor([-300, 300, -300, 300], [2, 1, 2]);
  close(logMeanSoftmax(far, 0).data(), [-600, 0], 1e-3);
});

test('predict averages the softmax over the views; evaluate with tta gives the same probabilities', async () => {
  const model = cornerPixels();
  const x = tensor(images.flat(), [2, 1, 3, 3]);
  const before = unreleased();
  const fiveCrop = predict(model, x, { tta: 'five-crop', cropSize: 2 });
  const tenCrop = predict(model, x, { tta: 'ten-crop', cropSize: 2 });
  const expectedFive = images.flatMap((v) => meanOfSoftmax(fiveCropPairs(v)));
  const expectedTen = images.flatMap((v) => meanOfSoftmax([...fiveCropPairs(v), ...mirroredPairs(v)]));
  close(fiveCrop.data(), expectedFive);
  close(tenCrop.data(), expectedTen);
  fiveCrop.dispose();
  tenCrop.dispose();
  assert.equal(unreleased(), before, 'predict leaves only its result');

  // Labels 1 and 0: the loss is the mean of -log(averaged probability of the label).
  const dataset = arrayDataset(Float32Array.from(images.flat()), [1, 0], [1, 3, 3]);
  const result = await evaluate(model, loader(dataset, { batchSize: 2 }), { tta: 'ten-crop', cropSize: 2 });
  const expectedLoss = -(Math.log(expectedTen[1]) + Math.log(expectedTen[2])) / 2;
  assert.ok(Math.abs(result.loss - expectedLoss) < 1e-5, `${result.loss} vs ${expectedLoss}`);
  const predicted = [expectedTen[1] > expectedTen[0] ? 1 : 0, expectedTen[3] > expectedTen[2] ? 1 : 0];
  assert.equal(result.top1, ((predicted[0] === 1 ? 1 : 0) + (predicted[1] === 0 ? 1 : 0)) / 2);

  // The loader's fiveCrop transform ([N, 5, C, H, W] batches) averages the same way as tta 'five-crop'.
  const cut = await evaluate(model, loader(dataset, { batchSize: 1, transform: transforms.fiveCrop(2) }));
  const fiveLoss = -(Math.log(expectedFive[1]) + Math.log(expectedFive[2])) / 2;
  assert.ok(Math.abs(cut.loss - fiveLoss) < 1e-5, `${cut.loss} vs ${fiveLoss}`);
  await assert.rejects(
    evaluate(model, loader(dataset, { batchSize: 1, transform: transforms.fiveCrop(2) }), { tta: 'flip' }),
    (error: Error) => error instanceof ValueError && /already cut into 5 crops/.test(error.message),
  );
  await assert.rejects(
    evaluate(model, loader(dataset, { batchSize: 2 }), { tta: 'five-crop', cropSize: 4 }),
    (error: Error) =>
      error instanceof ShapeError && /crop 4×4 is larger than the image 3×3/.test(error.message),
  );
});

test('an Ensemble averages its members softmax outputs, with TTA on top', async () => {
  const first = cornerPixels();
  const second = cornerPixels();
  // The second member swaps the classes: its logits are (bottom-right, top-left).
  (second.at(1) as nn.Linear).weight.assign(tensor([0, 0, 0, 1, 1, 0, 0, 0], [2, 4]));
  const ensemble = new Ensemble([first, second]).eval();
  assert.equal(ensemble.members.length, 2);
  assert.equal(ensemble.parameters().length, 4);
  const x = tensor(images.map((v) => [v[0], v[1], v[3], v[4]]).flat(), [2, 1, 2, 2]);
  const expected = images.flatMap((v) => {
    const [a, b] = softmax2(v[0], v[4]);
    const [c, d] = softmax2(v[4], v[0]);
    return [(a + c) / 2, (b + d) / 2];
  });
  close(predict(ensemble, x).data(), expected);
  // Members and mirror images together: the mean over 2 members × 2 views.
  const withFlip = images.flatMap((v) =>
    meanOfSoftmax([
      [v[0], v[4]],
      [v[4], v[0]],
      [v[1], v[3]],
      [v[3], v[1]],
    ]),
  );
  close(predict(ensemble, x, { tta: 'flip' }).data(), withFlip);
  const dataset = arrayDataset(Float32Array.from(x.data()), [0, 1], [1, 2, 2]);
  const result = await evaluate(ensemble, loader(dataset, { batchSize: 2 }));
  const expectedLoss = -(Math.log(expected[0]) + Math.log(expected[3])) / 2;
  assert.ok(Math.abs(result.loss - expectedLoss) < 1e-5, `${result.loss} vs ${expectedLoss}`);
  assert.throws(() => new Ensemble([]), /at least one member/);
  const threeClasses = new nn.Sequential(new nn.Flatten(), new nn.Linear(4, 3));
  assert.throws(
    () => new Ensemble([first, threeClasses]).call(x),
    (error: Error) =>
      error instanceof ShapeError && /member 1 gives \[2, 3\], member 0 \[2, 2\]/.test(error.message),
  );
});
