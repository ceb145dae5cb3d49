// Values a forward released though gradient rules read them, which backward() computes again (recordRecompute): a
// BatchNorm's output in training, and a ReLU's after it.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { isRecomputable, setRecompute, withValuesOf } from '../../src/tensor/autograd.js';
import {
  Generator,
  batchNorm,
  conv2d,
  mul,
  noGrad,
  randn,
  relu,
  sum,
  type Tensor,
} from '../../src/tensor/index.js';
import { unreleased } from '../memory.js';

before(() => setRecompute(true));
after(() => setRecompute(false));

/** conv → BatchNorm (training) → ReLU → conv, on fixed random values; what the first ReLU made is `hidden`. */
function convBnReluConv(seed: number) {
  const generator = new Generator(seed);
  const x = randn([2, 3, 6, 6], { generator });
  const w1 = randn([4, 3, 3, 3], { generator }).requireGrad();
  const gamma = randn([4], { generator }).requireGrad();
  const beta = randn([4], { generator }).requireGrad();
  const w2 = randn([2, 4, 3, 3], { generator }).requireGrad();
  const forward = () => {
    const normalised = batchNorm(conv2d(x, w1, null, { padding: 1 }), gamma, beta, null, null, {
      training: true,
    });
    const hidden = relu(normalised);
    const y = conv2d(hidden, w2, null, { padding: 1 });
    return { normalised, hidden, loss: sum(mul(y, y)) };
  };
  const gradients = () => [w1, gamma, beta, w2].map((p) => p.grad!.toArray());
  const zeroGrad = () => [w1, gamma, beta, w2].forEach((p) => (p.grad = null));
  return { forward, gradients, zeroGrad };
}

test('a BatchNorm output in training and the ReLU after it can be computed again, to the same values', () => {
  const { forward } = convBnReluConv(1);
  const { normalised, hidden } = forward();
  assert.ok(isRecomputable(normalised) && isRecomputable(hidden));
  const expected = hidden.toArray();
  normalised.releaseValues();
  hidden.releaseValues();
  let copy: Tensor | undefined;
  const again = withValuesOf(hidden, (values) => {
    copy = values;
    return values.toArray();
  });
  assert.notEqual(copy, hidden, 'a new tensor: the released one stays released');
  assert.ok(copy!.disposed && hidden.disposed, 'the copy is released once read');
  assert.deepEqual(again, expected);
  // Nothing to compute again where the values are held, or without a recorded graph.
  const held = forward().hidden;
  assert.equal(
    withValuesOf(held, (values) => values),
    held,
  );
  assert.ok(!isRecomputable(noGrad(() => forward().hidden)));
  // Nor where recomputing is off, the default.
  setRecompute(false);
  const off = forward();
  setRecompute(true);
  assert.ok(!isRecomputable(off.normalised) && !isRecomputable(off.hidden));
});

test('released values are computed again for backward(): the same gradients, bit for bit, and released again', () => {
  const net = convBnReluConv(2);
  net.forward().loss.backward();
  const kept = net.gradients();
  net.zeroGrad();

  const { normalised, hidden, loss } = net.forward();
  normalised.releaseValues();
  hidden.releaseValues();
  const before = unreleased();
  loss.backward(undefined, { retainGraph: true });
  assert.deepEqual(net.gradients(), kept);
  // New after backward: the four parameters' gradients; the values computed again went once read.
  assert.equal(unreleased(), before + 4);
  assert.ok(hidden.disposed);

  // A second pass through the retained graph computes them again.
  net.zeroGrad();
  loss.backward();
  assert.deepEqual(net.gradients(), kept);
});

test('a released tensor that was disposed is not computed again: backward() refuses it', () => {
  const { hidden, loss }: { hidden: Tensor; loss: Tensor } = convBnReluConv(3).forward();
  hidden.dispose();
  assert.ok(!isRecomputable(hidden));
  assert.throws(() => loss.backward(), /tensor \[2, 4, 6, 6\] in the graph was disposed before backward\(\)/);
});

test('values computed again from values that were released themselves: BatchNorm, ReLU, BatchNorm, ReLU', () => {
  const generator = new Generator(4);
  const x = randn([2, 3, 5, 5], { generator });
  const w = randn([3, 3, 3, 3], { generator }).requireGrad();
  const [g1, b1, g2, b2] = [0, 1, 2, 3].map(() => randn([3], { generator }).requireGrad());
  const parameters = [w, g1, b1, g2, b2];
  const forward = () => {
    const h = conv2d(x, w, null, { padding: 1 });
    const first = batchNorm(h, g1, b1, null, null, { training: true });
    const a = relu(first);
    const second = batchNorm(a, g2, b2, null, null, { training: true });
    const b = relu(second);
    return { released: [first, a, second, b], loss: sum(mul(conv2d(b, w, null, { padding: 1 }), x)) };
  };
  forward().loss.backward();
  const kept = parameters.map((p) => p.grad!.toArray());
  parameters.forEach((p) => (p.grad = null));
  const { released, loss } = forward();
  released.forEach((t) => t.releaseValues());
  loss.backward();
  assert.deepEqual(
    parameters.map((p) => p.grad!.toArray()),
    kept,
  );
});
