import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ValueError } from '../../src/errors.js';
import { Conv2d, Linear, init } from '../../src/nn/index.js';
import { Generator, manualSeed, tensor, zeros, type Tensor } from '../../src/tensor/index.js';

function moments(t: Tensor): { mean: number; std: number; maxAbs: number } {
  const v = t.data();
  let total = 0;
  for (const x of v) total += x;
  const mean = total / v.length;
  let squares = 0;
  let maxAbs = 0;
  for (const x of v) {
    squares += (x - mean) ** 2;
    maxAbs = Math.max(maxAbs, Math.abs(x));
  }
  return { mean, std: Math.sqrt(squares / v.length), maxAbs };
}

function assertNear(actual: number, expected: number, relative: number, what: string): void {
  assert.ok(
    Math.abs(actual - expected) <= relative * Math.abs(expected),
    `${what}: ${actual} is not within ${relative * 100}% of ${expected}`,
  );
}

const generator = (): Generator => new Generator(123);

test('fanInAndFanOut counts the kernel into both fans', () => {
  assert.deepEqual(init.fanInAndFanOut([64, 3, 7, 7]), { fanIn: 147, fanOut: 3136 });
  assert.deepEqual(init.fanInAndFanOut([10, 512]), { fanIn: 512, fanOut: 10 });
  assert.throws(() => init.fanInAndFanOut([5]), ValueError);
});

test('calculateGain follows PyTorch', () => {
  assert.equal(init.calculateGain('linear'), 1);
  assert.equal(init.calculateGain('sigmoid'), 1);
  assert.equal(init.calculateGain('tanh'), 5 / 3);
  assert.equal(init.calculateGain('relu'), Math.SQRT2);
  assert.equal(init.calculateGain('leakyRelu'), Math.sqrt(2 / (1 + 0.01 ** 2)));
  assert.equal(init.calculateGain('leakyRelu', 0.2), Math.sqrt(2 / 1.04));
});

test('kaimingNormal has std √(2/fanIn) for ReLU, or √(2/fanOut) in fanOut mode', () => {
  const weight = zeros([128, 64, 3, 3]);
  init.kaimingNormal(weight, { nonlinearity: 'relu', generator: generator() });
  const m = moments(weight);
  assertNear(m.std, Math.sqrt(2 / (64 * 9)), 0.01, 'std');
  assert.ok(Math.abs(m.mean) < 0.001);
  init.kaimingNormal(weight, { mode: 'fanOut', nonlinearity: 'relu', generator: generator() });
  assertNear(moments(weight).std, Math.sqrt(2 / (128 * 9)), 0.01, 'fanOut std');
});

test('kaimingUniform stays inside √3·gain/√fan and has its variance', () => {
  const weight = zeros([256, 300]);
  init.kaimingUniform(weight, { a: 0.1, generator: generator() });
  const bound = (Math.sqrt(3) * Math.sqrt(2 / (1 + 0.01))) / Math.sqrt(300);
  const m = moments(weight);
  assert.ok(m.maxAbs <= bound && m.maxAbs > 0.99 * bound, `max |w| ${m.maxAbs}, bound ${bound}`);
  assertNear(m.std, bound / Math.sqrt(3), 0.01, 'std');
});

test('xavier and lecun initialisers have their published spreads', () => {
  const weight = zeros([200, 300]);
  init.xavierUniform(weight, { gain: 2, generator: generator() });
  const xavierBound = 2 * Math.sqrt(6 / 500);
  assert.ok(moments(weight).maxAbs <= xavierBound && moments(weight).maxAbs > 0.99 * xavierBound);
  init.xavierNormal(weight, { generator: generator() });
  assertNear(moments(weight).std, Math.sqrt(2 / 500), 0.01, 'xavierNormal std');
  init.lecunNormal(weight, { generator: generator() });
  assertNear(moments(weight).std, Math.sqrt(1 / 300), 0.01, 'lecunNormal std');
  init.lecunUniform(weight, { generator: generator() });
  assert.ok(moments(weight).maxAbs <= Math.sqrt(3 / 300));
  assertNear(moments(weight).std, Math.sqrt(1 / 300), 0.01, 'lecunUniform std');
});

test('normal, uniform and constants write in place and keep requiresGrad', () => {
  const t = zeros([100, 100]).requireGrad();
  assert.equal(init.normal(t, 3, 0.5, { generator: generator() }), t);
  const m = moments(t);
  assertNear(m.mean, 3, 0.01, 'mean');
  assertNear(m.std, 0.5, 0.02, 'std');
  assert.ok(t.requiresGrad);
  init.uniform(t, 2, 4, { generator: generator() });
  assert.ok(Array.from(t.data()).every((v) => v >= 2 && v < 4));
  init.constant(t, 0.25);
  assert.ok(Array.from(t.data()).every((v) => v === 0.25));
  init.ones(t);
  assert.equal(moments(t).mean, 1);
  init.zeros(t);
  assert.equal(moments(t).maxAbs, 0);
  const counter = tensor(Int32Array.of(5), []);
  init.zeros(counter);
  assert.deepEqual([counter.dtype, counter.item()], ['int32', 0]);
  assert.throws(() => init.normal(counter), /float32/);
});

test('Conv2d and Linear default to PyTorch’s U(±1/√fanIn) for weight and bias', () => {
  const conv = new Conv2d(16, 64, [3, 5], { groups: 2, generator: generator() });
  const fanIn = 8 * 15;
  const bound = 1 / Math.sqrt(fanIn);
  const w = moments(conv.weight);
  assert.ok(w.maxAbs <= bound && w.maxAbs > 0.99 * bound, `max |w| ${w.maxAbs}, bound ${bound}`);
  assertNear(w.std, bound / Math.sqrt(3), 0.03, 'conv weight std');
  assert.ok(moments(conv.bias!).maxAbs <= bound);
  assert.ok(moments(conv.bias!).maxAbs > 0.8 * bound);

  const linear = new Linear(400, 300, { generator: generator() });
  const linearBound = 1 / Math.sqrt(400);
  const lw = moments(linear.weight);
  assert.ok(lw.maxAbs <= linearBound && lw.maxAbs > 0.99 * linearBound);
  assertNear(lw.std, linearBound / Math.sqrt(3), 0.02, 'linear weight std');
  assert.ok(moments(linear.bias!).maxAbs <= linearBound);
});

test('the same seed gives the same weights, another seed other weights', () => {
  const a = new Conv2d(3, 8, 3, { generator: new Generator(42) });
  const b = new Conv2d(3, 8, 3, { generator: new Generator(42) });
  const c = new Conv2d(3, 8, 3, { generator: new Generator(43) });
  assert.deepEqual(Array.from(a.weight.data()), Array.from(b.weight.data()));
  assert.deepEqual(Array.from(a.bias!.data()), Array.from(b.bias!.data()));
  assert.notDeepEqual(Array.from(a.weight.data()), Array.from(c.weight.data()));

  manualSeed(7);
  const d = new Linear(5, 5);
  manualSeed(7);
  const e = new Linear(5, 5);
  assert.deepEqual(Array.from(d.weight.data()), Array.from(e.weight.data()));
});
