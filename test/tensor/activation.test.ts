import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ValueError } from '../../src/errors.js';
import { Generator, dropout, ones, relu, scaledTanh, sigmoid, tanh, tensor } from '../../src/tensor/index.js';
import { assertClose, assertTensor, awayFromZero, gradcheck, uniformTensor } from './gradcheck.js';

test('relu gradient away from the kink', () => {
  gradcheck('relu', relu, [awayFromZero([3, 4], 1)]);
});

for (const [name, op] of [
  ['sigmoid', sigmoid],
  ['tanh', tanh],
  ['scaledTanh', scaledTanh],
] as const) {
  test(`${name} gradient`, () => {
    gradcheck(name, op, [uniformTensor([3, 4], 2, -2.5, 2.5)]);
  });
}

test('activation values by hand', () => {
  const x = tensor([-1, 0, 2]);
  assertTensor(relu(x), [3], [0, 0, 2], 'relu');
  assertTensor(sigmoid(x), [3], [1 / (1 + Math.E), 0.5, 1 / (1 + Math.exp(-2))], 'sigmoid');
  assertTensor(tanh(x), [3], [Math.tanh(-1), 0, Math.tanh(2)], 'tanh');
  // LeCun 1998: f(±1) = ±1.7159 · tanh(2/3) ≈ ±1.
  assertTensor(
    scaledTanh(tensor([1, -1])),
    [2],
    [1.7159 * Math.tanh(2 / 3), -1.7159 * Math.tanh(2 / 3)],
    'scaledTanh',
  );
  assertClose(scaledTanh(tensor([1])).data(), [1], 'scaledTanh(1) ≈ 1', 1e-3);
});

test('dropout with a fixed generator: gradient equals the mask, values are x · mask', () => {
  const x = uniformTensor([4, 25], 3, 0.5, 1.5);
  const p = 0.3;
  const f = (t: typeof x) => dropout(t, p, { generator: new Generator(7) });
  gradcheck('dropout', f, [x]);
  // The mask itself: dropout of ones, with the same generator.
  const mask = f(ones([4, 25])).data();
  const kept = mask.filter((m) => m !== 0);
  assert.ok(
    kept.every((m) => Math.abs(m - 1 / (1 - p)) < 1e-6),
    'kept elements are scaled by 1/(1 − p)',
  );
  assert.ok(kept.length > 50 && kept.length < 90, `about 70 of 100 kept, got ${kept.length}`);
  const leaf = tensor(x.data(), x.shape, { requiresGrad: true });
  f(leaf).backward(ones([4, 25]));
  assertClose(leaf.grad!.data(), mask, 'dropout gradient = mask');
  const xv = x.data();
  assertClose(
    f(x).data(),
    Array.from(xv, (v, i) => v * mask[i]),
    'dropout values',
  );
});

test('dropout in evaluation or with p = 0 is the identity; p outside [0, 1) is refused', () => {
  const x = uniformTensor([2, 3], 4);
  assert.equal(dropout(x, 0.5, { training: false }), x);
  assert.equal(dropout(x, 0), x);
  assert.throws(() => dropout(x, 1), ValueError);
  assert.throws(() => dropout(x, -0.1), ValueError);
});
