import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ValueError } from '../../src/errors.js';
import {
  add,
  exp,
  isGradEnabled,
  matmul,
  maximum,
  minimum,
  mul,
  noGrad,
  ones,
  relu,
  sub,
  sum,
  tensor,
} from '../../src/tensor/index.js';
import { assertClose, assertTensor } from './gradcheck.js';

const leaf = (values: number[], shape?: number[]) => tensor(values, shape, { requiresGrad: true });

test('gradients accumulate across backward() calls, as PyTorch', () => {
  const x = leaf([1, 2, 3]);
  sum(mul(x, x)).backward();
  assertTensor(x.grad!, [3], [2, 4, 6], 'first backward');
  sum(mul(x, 3)).backward();
  assertTensor(x.grad!, [3], [5, 7, 9], 'second backward adds');
  x.grad = null;
  sum(x).backward();
  assertTensor(x.grad!, [3], [1, 1, 1], 'after clearing');
});

test('a tensor used twice gets the summed gradient', () => {
  const x = leaf([1, -2, 3]);
  sum(mul(x, x)).backward();
  assertTensor(x.grad!, [3], [2, -4, 6], 'x·x');
  x.grad = null;
  sum(add(x, x)).backward();
  assertTensor(x.grad!, [3], [2, 2, 2], 'x + x');
  x.grad = null;
  sum(sub(x, x)).backward();
  assertTensor(x.grad!, [3], [0, 0, 0], 'x − x');
  // A diamond: y = exp(x) feeds two branches that meet again.
  x.grad = null;
  const y = exp(x);
  sum(add(mul(y, y), y)).backward();
  const expected = [1, -2, 3].map((v) => 2 * Math.exp(2 * v) + Math.exp(v));
  assertClose(x.grad!.data(), expected, 'diamond', 1e-6);
  // A matrix product of a tensor with itself.
  const m = leaf([1, 2, 3, 4], [2, 2]);
  sum(matmul(m, m)).backward();
  // d/dM Σ(M·M) = 1·Mᵀ + Mᵀ·1 (1 the all-ones matrix).
  assertTensor(m.grad!, [2, 2], [7, 11, 9, 13], 'M·M');
});

test('a user-given output gradient is used, kept intact, and must match the output shape', () => {
  const x = leaf([1, 2]);
  const y = mul(x, 3);
  const dy = tensor([10, 100]);
  y.backward(dy);
  assertTensor(x.grad!, [2], [30, 300], 'chain rule with dy');
  assertTensor(dy, [2], [10, 100], 'dy untouched');
  // dy passed straight through an addition must not become the leaf's gradient object.
  const z = leaf([5, 6]);
  const w = add(z, 1);
  w.backward(dy);
  assert.notEqual(z.grad, dy);
  z.grad!.dispose();
  assertTensor(dy, [2], [10, 100], 'dy survives the gradient being disposed');
  assert.throws(
    () => mul(x, 2).backward(tensor([1, 2, 3])),
    (e: unknown) => e instanceof ValueError && /\[3\]/.test(e.message) && /\[2\]/.test(e.message),
  );
});

test('backward on a non-scalar without a gradient is a clear error', () => {
  const x = leaf([1, 2, 3]);
  assert.throws(
    () => mul(x, 2).backward(),
    (e: unknown) => e instanceof ValueError && /non-scalar/.test(e.message) && /\[3\]/.test(e.message),
  );
  // A one-element tensor of any rank is a scalar loss.
  mul(leaf([2], [1, 1]), 2).backward();
  assert.throws(
    () => tensor([1, 2]).backward(),
    (e: unknown) => e instanceof ValueError && /does not require a gradient/.test(e.message),
  );
});

test('noGrad records nothing and restores recording, even after a throw', () => {
  const x = leaf([1, 2]);
  const y = noGrad(() => {
    assert.equal(isGradEnabled(), false);
    return mul(x, 2);
  });
  assert.equal(y.requiresGrad, false);
  assert.equal(y.node, null);
  assert.equal(isGradEnabled(), true);
  assert.throws(
    () =>
      noGrad(() => {
        throw new Error('inside');
      }),
    /inside/,
  );
  assert.equal(isGradEnabled(), true);
  // Nested noGrad keeps it off until the outermost returns.
  noGrad(() => {
    noGrad(() => undefined);
    assert.equal(isGradEnabled(), false);
  });
  assert.ok(mul(x, 2).requiresGrad);
});

test('detach cuts the graph and copies the values', () => {
  const x = leaf([1, 2, 3]);
  const y = mul(x, 2);
  const d = y.detach();
  assert.equal(d.requiresGrad, false);
  assert.equal(d.node, null);
  assert.deepEqual(d.toArray(), [2, 4, 6]);
  // z = d·x: with d cut, dz/dx = d, not 4x.
  sum(mul(d, x)).backward();
  assertTensor(x.grad!, [3], [2, 4, 6], 'gradient stops at detach');
});

test('retainGraph lets a graph be back-propagated twice; without it the second pass is an error', () => {
  const x = leaf([1, 2]);
  const loss = sum(mul(exp(x), 2));
  loss.backward(undefined, { retainGraph: true });
  loss.backward();
  assertClose(x.grad!.data(), [4 * Math.E, 4 * Math.exp(2)], 'two passes accumulate', 1e-6);
  assert.throws(
    () => loss.backward(),
    (e: unknown) => e instanceof ValueError && /retainGraph/.test(e.message),
  );
  // The same through a shared subgraph: a second loss built on a freed intermediate.
  const x2 = leaf([1, 2]);
  const hidden = exp(x2);
  sum(mul(hidden, 2)).backward();
  const second = sum(mul(hidden, 3));
  assert.throws(
    () => second.backward(),
    (e: unknown) => e instanceof ValueError && /retainGraph/.test(e.message),
  );
  assertClose(x2.grad!.data(), [2 * Math.E, 2 * Math.exp(2)], 'first pass only', 1e-6);
  assert.equal(hidden.grad, null, 'an intermediate never gets .grad');
});

test('frozen inputs get no gradient; a graph with none needing one records nothing', () => {
  const x = leaf([1, 2]);
  const frozen = tensor([3, 4]);
  sum(mul(x, frozen)).backward();
  assertTensor(x.grad!, [2], [3, 4], 'trainable input');
  assert.equal(frozen.grad, null);
  const y = mul(frozen, frozen);
  assert.equal(y.requiresGrad, false);
  assert.equal(y.node, null);
  // requireGrad(false) freezes a leaf.
  const w = leaf([1, 1]).requireGrad(false);
  sum(mul(x, w)).backward();
  assert.equal(w.grad, null);
  assert.throws(() => tensor(new Int32Array([1])).requireGrad(), ValueError);
});

test('gradients flow through relu only where the input was positive', () => {
  const x = leaf([-1, 2, -3, 4]);
  relu(x).backward(ones([4]));
  assertTensor(x.grad!, [4], [0, 1, 0, 1], 'relu mask');
});

test('.grad stays the same tensor as gradients accumulate into it', () => {
  const x = leaf([1, 2]);
  sum(x).backward();
  const g = x.grad!;
  sum(mul(x, 2)).backward();
  assert.equal(x.grad, g);
  assertTensor(g, [2], [3, 3], 'accumulated in place');
  // A disposed gradient counts as cleared.
  g.dispose();
  sum(mul(x, 4)).backward();
  assertTensor(x.grad!, [2], [4, 4], 'fresh gradient after dispose');
});

test('maximum and minimum split the gradient of a tie equally, as PyTorch', () => {
  const a = leaf([1, 2, 3]);
  const b = leaf([1, 5, 0]);
  sum(maximum(a, b)).backward();
  assertTensor(a.grad!, [3], [0.5, 0, 1], 'maximum, first argument');
  assertTensor(b.grad!, [3], [0.5, 1, 0], 'maximum, second argument');
  a.grad = null;
  b.grad = null;
  sum(minimum(a, b)).backward();
  assertTensor(a.grad!, [3], [0.5, 1, 0], 'minimum, first argument');
  assertTensor(b.grad!, [3], [0.5, 0, 1], 'minimum, second argument');
});
