import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ClassificationMetrics, formatConfusion } from '../../src/train/index.js';

test('top-1, top-5, per-class accuracy and confusion matrix on a hand example', () => {
  const metrics = new ClassificationMetrics(6);
  // Rows: scores of 6 classes. Label ranks: 0 (top), 2, 5 (last), 0, 4.
  const logits = [
    [9, 1, 2, 3, 4, 5], // label 0: predicted 0
    [1, 9, 8, 7, 0, 0], // label 3: predicted 1, rank 2
    [6, 5, 4, 3, 2, 1], // label 5: predicted 0, rank 5 (outside top 5)
    [0, 0, 0, 0, 0, 1], // label 5: predicted 5
    [5, 4, 3, 2, 1, 0], // label 4: predicted 0, rank 4 (inside top 5)
  ].flat();
  metrics.update(logits, [0, 3, 5, 5, 4], 0.5);
  metrics.update([0, 0, 0, 0, 0, 0], [2], 2); // a tie: argmax picks class 0; label 2 ranks 2nd.. counts as rank 2
  const result = metrics.result();
  assert.equal(result.samples, 6);
  assert.equal(result.top1, 2 / 6);
  assert.equal(result.top5, 5 / 6);
  assert.equal(result.loss, (0.5 * 5 + 2) / 6);
  assert.deepEqual(result.confusion, [
    [1, 0, 0, 0, 0, 0],
    [0, 0, 0, 0, 0, 0],
    [1, 0, 0, 0, 0, 0],
    [0, 1, 0, 0, 0, 0],
    [1, 0, 0, 0, 0, 0],
    [1, 0, 0, 0, 0, 1],
  ]);
  assert.deepEqual(result.perClass.slice(2), [0, 0, 0, 0.5]);
  assert.equal(result.perClass[0], 1);
  assert.ok(Number.isNaN(result.perClass[1]));
  assert.match(formatConfusion(result.confusion), /^true \\ pred/);
});
