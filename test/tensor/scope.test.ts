import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BackendError } from '../../src/errors.js';
import {
  Generator,
  Tensor,
  add,
  adaptiveAvgPool2d,
  batchNorm,
  conv2d,
  crossEntropy,
  dropout,
  exp,
  flatten,
  keep,
  linear,
  localResponseNorm,
  max,
  maxPool2d,
  mul,
  noGrad,
  ones,
  randn,
  relu,
  scope,
  softmax,
  sum,
  tensor,
  zeros,
} from '../../src/tensor/index.js';
import { assertClose, assertTensor } from './gradcheck.js';
import { unreleased } from '../memory.js';

const live = () => unreleased();

test('scope disposes temporaries and keeps what it returns', () => {
  const before = live();
  const x = tensor([1, 2, 3]);
  let temporary: Tensor | undefined;
  const result = scope(() => {
    temporary = mul(x, 2);
    return add(temporary, 1);
  });
  assert.ok(temporary!.disposed, 'the temporary is released');
  assert.ok(!result.disposed, 'the result survives');
  assert.ok(!x.disposed, 'tensors made outside are untouched');
  assert.deepEqual(result.toArray(), [3, 5, 7]);
  assert.equal(live(), before + 2, 'x and the result');
  result.dispose();
  x.dispose();
  assert.equal(live(), before);
});

test('scope keeps tensors inside returned arrays and plain objects, and keep() exempts others', () => {
  const before = live();
  let kept: Tensor | undefined;
  let dropped: Tensor | undefined;
  const { pair, record } = scope(() => {
    kept = keep(tensor([1]));
    dropped = tensor([2]);
    return { pair: [tensor([3]), tensor([4])], record: { nested: tensor([5]), count: 1 } };
  });
  assert.ok(dropped!.disposed);
  assert.ok(!kept!.disposed && !pair[0].disposed && !pair[1].disposed && !record.nested.disposed);
  [kept!, ...pair, record.nested].forEach((t) => t.dispose());
  assert.equal(live(), before);
});

test('nested scopes hand survivors to the enclosing scope', () => {
  const before = live();
  let inner: Tensor | undefined;
  const outer = scope(() => {
    inner = scope(() => mul(tensor([1, 2]), 3));
    assert.ok(!inner.disposed);
    return sum(inner);
  });
  assert.ok(inner!.disposed, 'the inner survivor is a temporary of the outer scope');
  assert.equal(outer.item(), 9);
  outer.dispose();
  assert.equal(live(), before);
});

test('scope refuses an async function and still disposes nothing it should keep', () => {
  assert.throws(() => scope(() => Promise.resolve(1) as unknown as number), /synchronous/);
});

test('using a disposed tensor is a BackendError; dispose twice is harmless', () => {
  const x = tensor([1, 2]);
  x.dispose();
  x.dispose();
  assert.ok(x.disposed);
  assert.throws(() => x.data(), BackendError);
  assert.throws(() => scalarDisposed().item(), BackendError);
  assert.throws(
    () => mul(x, 2),
    (e: unknown) => e instanceof BackendError && /\[2\]/.test(e.message) && /dispose/.test(e.message),
  );
  assert.throws(() => add(tensor([1, 2]), x), BackendError);
  assert.match(x.toString(), /disposed/);
});

test('an intermediate disposed while its graph is still needed makes backward a BackendError', () => {
  const w = tensor([1, 2], undefined, { requiresGrad: true });
  const hidden = add(w, 1);
  const loss = sum(add(hidden, 1));
  hidden.dispose();
  assert.throws(() => loss.backward(), BackendError);
  assert.equal(w.grad, null);
});

test('a loss returned from a scope can be back-propagated after the scope', () => {
  const w = tensor([0.5, -1, 2], undefined, { requiresGrad: true });
  const before = live();
  let kept = 0;
  scope(() => {
    const loss = scope(() => {
      const x = tensor([1, 2, 3]);
      // Ops whose gradients read their inputs, their outputs, and values saved by the forward (max's winners).
      return sum(add(mul(exp(mul(w, x)), 2), max(softmax(mul(w, x)), 0)));
    });
    kept = live() - before;
    loss.backward();
  });
  assert.ok(kept > 1, 'the graph behind the loss outlives the inner scope');
  const expected = [0.5, -1, 2].map((v, i) => 2 * (i + 1) * Math.exp(v * (i + 1)));
  const s = [0.5, -2, 6].map(Math.exp);
  const total = s.reduce((a, b) => a + b);
  const p = s.map((v) => v / total);
  // d max(softmax(z))/dz_j = p_k(δ_kj − p_j) for the winner k = 2, times dz_j/dw_j = x_j; the scalar max is
  // broadcast over the 3 elements of the sum, so it counts three times.
  const softmaxPart = p.map((pj, j) => 3 * p[2] * ((j === 2 ? 1 : 0) - pj) * (j + 1));
  assertClose(
    w.grad!.data(),
    expected.map((e, j) => e + softmaxPart[j]),
    'gradient after the scope',
    1e-5,
  );
  w.grad!.dispose();
  w.grad = null;
  assert.equal(live(), before, 'the enclosing scope releases the graph');
});

/** A small conv net touching every layer kind: conv, batch norm, relu, LRN, max and adaptive pooling, dropout, linear. */
function smallNet(params: Record<string, Tensor>, x: Tensor, labels: Tensor): Tensor {
  let h = conv2d(x, params.conv1, params.bias1, { padding: 1 });
  h = relu(
    batchNorm(h, params.gamma, params.beta, params.runningMean, params.runningVar, { training: true }),
  );
  h = localResponseNorm(h, 3);
  h = maxPool2d(h, 2);
  h = conv2d(h, params.conv2, null, { padding: 'same' });
  h = dropout(relu(h), 0.25, { generator: new Generator(3) });
  h = flatten(adaptiveAvgPool2d(h, 2), 1);
  return crossEntropy(linear(h, params.fc, params.fcBias), labels, { labelSmoothing: 0.1 });
}

test('forward and backward of a small conv net inside scope leave the live storages where they were', () => {
  const g = new Generator(1);
  const params = {
    conv1: randn([4, 3, 3, 3], { generator: g, requiresGrad: true }),
    bias1: zeros([4], { requiresGrad: true }),
    gamma: ones([4], { requiresGrad: true }),
    beta: zeros([4], { requiresGrad: true }),
    runningMean: zeros([4]),
    runningVar: ones([4]),
    conv2: randn([6, 4, 2, 2], { generator: g, requiresGrad: true }),
    fc: randn([5, 24], { generator: g, requiresGrad: true }),
    fcBias: zeros([5], { requiresGrad: true }),
  };
  const x = randn([2, 3, 8, 8], { generator: g });
  const labels = tensor(new Int32Array([1, 4]));
  const before = live();
  const lossValue = scope(() => {
    const loss = smallNet(params, x, labels);
    loss.backward();
    return loss.item();
  });
  assert.ok(Number.isFinite(lossValue) && lossValue > 0);
  const trainable = Object.values(params).filter((p) => p.requiresGrad);
  for (const p of trainable) assert.ok(p.grad !== null && !p.grad.disposed, 'every parameter has a gradient');
  assert.equal(live(), before + trainable.length, 'only the parameter gradients remain');
  for (const p of trainable) {
    p.grad!.dispose();
    p.grad = null;
  }
  assert.equal(live(), before);
  // Running statistics were updated in place without leaking.
  assert.ok(params.runningMean.toArray().some((v) => v !== 0));
  // A second step accumulates into fresh gradients and leaks nothing either.
  scope(() => smallNet(params, x, labels).backward());
  assert.equal(live(), before + trainable.length);
  trainable.forEach((p) => p.grad!.dispose());
  // Evaluation under noGrad keeps nothing either.
  scope(() => noGrad(() => smallNet(params, x, labels).item()));
  assert.equal(live(), before);
});

test('leaf gradients made inside a scope survive it', () => {
  const w = tensor([1, 2], undefined, { requiresGrad: true });
  scope(() => sum(mul(w, w)).backward());
  assertTensor(w.grad!, [2], [2, 4], 'gradient after the scope');
});

function scalarDisposed(): Tensor {
  const t = tensor([1]);
  t.dispose();
  return t;
}

test('a scope that throws releases what it made', () => {
  const before = live();
  const x = tensor([1, 2, 3]);
  assert.throws(() =>
    scope(() => {
      mul(x, 2);
      return add(x, tensor([1, 2]));
    }),
  );
  assert.equal(live(), before + 1, 'only x remains');
  x.dispose();
});

test('a conv net loss returned from a scope back-propagates like one made outside it', () => {
  const g = new Generator(5);
  const params = {
    conv1: randn([4, 3, 3, 3], { generator: g, requiresGrad: true }),
    bias1: zeros([4], { requiresGrad: true }),
    gamma: ones([4], { requiresGrad: true }),
    beta: zeros([4], { requiresGrad: true }),
    runningMean: zeros([4]),
    runningVar: ones([4]),
    conv2: randn([6, 4, 2, 2], { generator: g, requiresGrad: true }),
    fc: randn([5, 24], { generator: g, requiresGrad: true }),
    fcBias: zeros([5], { requiresGrad: true }),
  };
  const x = randn([2, 3, 8, 8], { generator: g });
  const labels = tensor(new Int32Array([0, 2]));
  const trainable = Object.values(params).filter((p) => p.requiresGrad);
  smallNet(params, x, labels).backward();
  const reference = trainable.map((p) => p.grad!.data());
  trainable.forEach((p) => (p.grad = null));
  const before = live();
  scope(() => {
    // Max pooling's argmax and batch norm's statistics must outlive the inner scope.
    const loss = scope(() => smallNet(params, x, labels));
    loss.backward();
  });
  trainable.forEach((p, i) => assertClose(p.grad!.data(), reference[i], `gradient ${i}`, 1e-6));
  assert.equal(live(), before + trainable.length);
});
