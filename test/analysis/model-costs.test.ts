import { test } from 'node:test';
import assert from 'node:assert/strict';
import { summary } from '../../src/analysis/index.js';
import { getBackend, withBackend } from '../../src/backend/registry.js';
import * as models from '../../src/models/index.js';

/**
 * Every registered model, built under the meta backend (no values, so VGG-19's 19.6 GMACs take milliseconds),
 * must reproduce the parameter and MAC figures its metadata quotes, exactly, at its default input.
 */
for (const info of models.list()) {
  test(`${info.name}: ${info.parameters.toLocaleString('en-US')} parameters, ${info.macs.toLocaleString('en-US')} MACs at [${info.inputShape.join(', ')}]`, () => {
    const net = withBackend('meta', () => models.get(info.name));
    const s = summary(net, info.inputShape);
    assert.equal(s.totals.parameters, info.parameters, 'parameters');
    assert.equal(s.totals.macs, info.macs, 'MACs');
    assert.equal(s.totals.flops, 2 * info.macs);
    assert.deepEqual(s.outputShape, [1, info.numClasses]);
  });
}

test('at least one model is registered', () => {
  assert.ok(models.list().length > 0);
});

test('summary of a model on the reference backend gives the figures of its meta twin and leaves its weights alone', () => {
  // A small model keeps this quick: LeNet-5 where it is registered, else the smallest.
  const info =
    models.list().find((i) => i.name === 'lenet5') ??
    [...models.list()].sort((a, b) => a.parameters - b.parameters)[0];
  const reference = withBackend('reference', () => getBackend());
  const net = withBackend(reference, () => models.get(info.name, { seed: 3 }));
  assert.equal(net.parameters()[0].backend.name, 'reference');
  const state = [...net.stateDict()];
  const values = state.map(([, t]) => Array.from(t.data()));
  const memory = reference.memory();
  const onReference = summary(net, info.inputShape);
  const onMeta = summary(
    withBackend('meta', () => models.get(info.name)),
    info.inputShape,
  );
  assert.deepEqual(onReference.toJSON(), onMeta.toJSON());
  assert.equal(onReference.totals.macs, info.macs);
  assert.deepEqual([...net.stateDict()], state);
  assert.deepEqual(
    state.map(([, t]) => Array.from(t.data())),
    values,
  );
  assert.deepEqual(reference.memory(), memory);
  assert.ok(net.training);
});
