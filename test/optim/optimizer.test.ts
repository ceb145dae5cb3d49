import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { getBackend } from '../../src/backend/registry.js';
import {
  adam,
  adamW,
  sgd,
  type Optimizer,
  type OptimizerOptions,
  type ParamState,
} from '../../src/optim/index.js';
import { scope, tensor, type Tensor } from '../../src/tensor/index.js';
import { fixtures, flatValues, makeParams, setGrads } from './fixtures.js';
import { unreleased } from '../memory.js';

type AnyOptimizer = Optimizer<OptimizerOptions, ParamState>;

const makers: Record<string, (params: Tensor[]) => AnyOptimizer> = {
  sgd: (p) => sgd(p, { lr: 0.1 }),
  sgdNesterovDecay: (p) => sgd(p, { lr: 0.1, momentum: 0.9, nesterov: true, weightDecay: 1e-4 }),
  adam: (p) => adam(p, { weightDecay: 0.1 }),
  adamW: (p) => adamW(p),
};

describe('Optimizer', () => {
  for (const [name, make] of Object.entries(makers)) {
    test(`${name}: step() leaves no storage behind after the first`, () => {
      const backend = getBackend();
      const params = makeParams();
      setGrads(params, 0);
      const optimizer = make(params);
      optimizer.step();
      const after = unreleased(backend);
      for (let i = 0; i < 3; i++) optimizer.step();
      assert.equal(unreleased(backend), after);
    });

    test(`${name}: state made inside a caller's scope outlives it`, () => {
      const params = makeParams();
      setGrads(params, 0);
      const optimizer = make(params);
      scope(() => optimizer.step());
      optimizer.step();
      for (const value of Object.values(optimizer.stateDict().state).flatMap((s) => Object.values(s))) {
        if (typeof value !== 'number') assert.equal(value.disposed, false);
      }
    });
  }

  test('zeroGrad releases and nulls every gradient', () => {
    const backend = getBackend();
    const params = makeParams();
    const optimizer = sgd(params, { lr: 0.1 });
    const before = unreleased(backend);
    setGrads(params, 0);
    const grads = params.map((p) => p.grad!);
    assert.equal(unreleased(backend), before + params.length);
    optimizer.zeroGrad();
    assert.deepEqual(
      params.map((p) => p.grad),
      [null, null],
    );
    assert.ok(grads.every((g) => g.disposed));
    assert.equal(unreleased(backend), before);
    const values = flatValues(params);
    optimizer.step();
    assert.deepEqual(flatValues(params), values, 'no gradient, no update');
  });

  test('backward() fills gradients that step() uses, updating the same tensors in place', () => {
    const w = tensor([1, 2], undefined, { requiresGrad: true });
    const optimizer = sgd([w], { lr: 0.5 });
    scope(() => w.backward(tensor([1, -2])));
    optimizer.step();
    assert.deepEqual(w.toArray(), [0.5, 3]);
    assert.equal(w.requiresGrad, true);
  });

  test('param groups keep their own lr; lr get/set', () => {
    const [a, b] = makeParams();
    const optimizer = sgd([{ params: [a] }, { params: [b], lr: 0.01, momentum: 0.5 }], {
      lr: 0.1,
      momentum: 0.9,
    });
    assert.deepEqual(
      optimizer.paramGroups.map((g) => [g.lr, g.momentum, g.dampening]),
      [
        [0.1, 0.9, 0],
        [0.01, 0.5, 0],
      ],
    );
    assert.equal(optimizer.lr, 0.1);
    optimizer.paramGroups[1].lr = 0.02;
    assert.equal(optimizer.paramGroups[1].lr, 0.02);
    optimizer.lr = 0.3;
    assert.deepEqual(
      optimizer.paramGroups.map((g) => g.lr),
      [0.3, 0.3],
    );
    a.grad = tensor([
      [1, 1],
      [1, 1],
    ]);
    optimizer.step();
    assert.ok(Math.abs(a.toArray()[0] - (0.5 - 0.3)) < 1e-7);
  });

  test('addParamGroup adds tensors with their own options', () => {
    const [a, b] = makeParams();
    const optimizer = adam([a], { lr: 0.01 });
    optimizer.addParamGroup({ params: [b], lr: 0.001 });
    assert.deepEqual(
      optimizer.paramGroups.map((g) => [g.params.length, g.lr, g.betas]),
      [
        [1, 0.01, [0.9, 0.999]],
        [1, 0.001, [0.9, 0.999]],
      ],
    );
    assert.throws(
      () => optimizer.addParamGroup({ params: [a] }),
      /adam \(param group 2\): a parameter appears more than once/,
    );
  });

  for (const kind of ['sgd', 'adam', 'adamW'] as const) {
    test(`${kind}: stateDict round trip (through JSON for the plain part) continues identically`, () => {
      const make = (params: Tensor[]): AnyOptimizer =>
        kind === 'sgd'
          ? sgd(params, { lr: 0.1, momentum: 0.9, nesterov: true })
          : kind === 'adam'
            ? adam(params)
            : adamW(params);
      const params = makeParams();
      const original = make(params);
      for (const step of [0, 1]) {
        setGrads(params, step);
        original.step();
      }
      const saved = original.stateDict();
      const plain = JSON.parse(JSON.stringify(saved.paramGroups));
      const resumedParams = params.map((p) => tensor(p.data(), p.shape, { requiresGrad: true }));
      const resumed = make(resumedParams);
      resumed.lr = 0.5;
      resumed.loadStateDict({ state: saved.state, paramGroups: plain });
      assert.deepEqual(resumed.stateDict().paramGroups, saved.paramGroups);
      for (const step of [2, 3]) {
        setGrads(params, step);
        setGrads(resumedParams, step);
        original.step();
        resumed.step();
        assert.deepEqual(flatValues(resumedParams), flatValues(params));
      }
      if (kind === 'adam')
        assert.equal((saved.state[1] as { step: number }).step, 1, 'parameter 1 had no gradient on step 1');
    });
  }

  test('loadStateDict copies tensors, releases the old state and rejects a mismatched dict', () => {
    const backend = getBackend();
    const params = makeParams();
    setGrads(params, 0);
    const optimizer = sgd(params, { lr: 0.1, momentum: 0.9 });
    optimizer.step();
    const saved = optimizer.stateDict();
    const storages = unreleased(backend);
    optimizer.loadStateDict(saved);
    assert.equal(unreleased(backend), storages);
    assert.notEqual(optimizer.stateDict().state[0].momentumBuffer, saved.state[0].momentumBuffer);
    assert.ok((saved.state[0].momentumBuffer as Tensor).disposed);

    const fresh = optimizer.stateDict();
    const cases: [unknown, RegExp][] = [
      [{ ...fresh, paramGroups: [] }, /sgd: loaded state has 0 param groups, the optimizer has 1/],
      [
        { ...fresh, paramGroups: [{ ...fresh.paramGroups[0], params: [0] }] },
        /loaded param group 0 has 1 parameters, the optimizer's has 2/,
      ],
      [
        { ...fresh, paramGroups: [{ ...fresh.paramGroups[0], lr: -1 }] },
        /sgd \(loaded param group 0\): lr must be a finite number >= 0, got -1/,
      ],
      [{ ...fresh, state: { 7: fresh.state[0] } }, /parameter 7, which does not exist/],
      [
        { ...fresh, state: { 0: { momentumBuffer: tensor([1, 2, 3]) } } },
        /momentumBuffer of parameter 0 must be a number or a tensor \[2, 2\], got tensor \[3\]/,
      ],
      [
        { ...fresh, state: { 0: { expAvg: fresh.state[0].momentumBuffer } } },
        /has keys \[expAvg\], expected \[momentumBuffer\]/,
      ],
    ];
    for (const [dict, message] of cases) {
      assert.throws(() => optimizer.loadStateDict(dict as typeof fresh), { name: 'ValueError', message });
    }
    assert.equal(optimizer.lr, 0.1, 'a rejected dict changes nothing');
    assert.equal((optimizer.stateDict().state[0].momentumBuffer as Tensor).disposed, false);
  });

  test('reject invalid options, naming the option and value', () => {
    const params = makeParams();
    const cases: [() => unknown, RegExp][] = [
      [() => sgd(params, { lr: -0.1 }), /sgd \(param group 0\): lr must be a finite number >= 0, got -0\.1/],
      [() => sgd(params, {} as { lr: number }), /lr must be a finite number >= 0, got undefined/],
      [() => sgd(params, { lr: 0.1, momentum: -1 }), /momentum must be a finite number >= 0, got -1/],
      [() => sgd(params, { lr: 0.1, weightDecay: -1 }), /weightDecay .* got -1/],
      [
        () => sgd(params, { lr: 0.1, nesterov: true }),
        /nesterov needs momentum > 0 and dampening 0, got momentum 0, dampening 0/,
      ],
      [
        () => sgd(params, { lr: 0.1, nesterov: true, momentum: 0.9, dampening: 0.1 }),
        /nesterov .* dampening 0\.1/,
      ],
      [
        () =>
          sgd([{ params: [params[0]] }, { params: [params[1]], momentum: 0 }], {
            lr: 0.1,
            momentum: 0.9,
            nesterov: true,
          }),
        /sgd \(param group 1\): nesterov needs momentum > 0/,
      ],
      [() => adam(params, { lr: -1 }), /adam \(param group 0\): lr .* got -1/],
      [() => adam(params, { betas: [0.9, 1] }), /betas\[1\] must be a finite number >= 0 and < 1, got 1/],
      [() => adam(params, { betas: [0.9] as unknown as [number, number] }), /betas must be a pair/],
      [() => adam(params, { eps: -1e-8 }), /eps .* got -1e-8/],
      [() => adamW(params, { weightDecay: -0.01 }), /adamW \(param group 0\): weightDecay .* got -0\.01/],
      [() => sgd([], { lr: 0.1 }), /sgd: got an empty parameter list/],
      [
        () => sgd(params[0] as unknown as Tensor[], { lr: 0.1 }),
        /params must be an iterable of tensors or of param groups/,
      ],
      [() => sgd([params[0], params[0]], { lr: 0.1 }), /a parameter appears more than once/],
      [
        () => sgd([tensor([1], undefined, { dtype: 'int32' })], { lr: 0.1 }),
        /cannot optimize a tensor of dtype int32/,
      ],
    ];
    for (const [make, message] of cases) assert.throws(make, { name: 'ValueError', message });
    const optimizer = sgd(params, { lr: 0.1 });
    assert.throws(() => (optimizer.lr = NaN), { name: 'ValueError', message: /sgd: lr .* got NaN/ });
  });

  test('defaults follow PyTorch', () => {
    const params = makeParams();
    assert.deepEqual(sgd(params, { lr: 0.1 }).defaults, {
      lr: 0.1,
      momentum: 0,
      dampening: 0,
      nesterov: false,
      weightDecay: 0,
    });
    assert.deepEqual(adam(params).defaults, { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0 });
    assert.deepEqual(adamW(params).defaults, { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0.01 });
    assert.equal(
      fixtures.optimizers.adamW.options.weightDecay,
      undefined,
      'the adamW fixture relies on the 0.01 default',
    );
  });
});
