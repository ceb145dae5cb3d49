import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  cosineAnnealingLR,
  linearWarmup,
  multiStepLR,
  reduceLROnPlateau,
  sequentialLR,
  sgd,
  stepLR,
  type CosineAnnealingLROptions,
  type LinearWarmupOptions,
  type MultiStepLROptions,
  type ReduceLROnPlateauOptions,
  type StepLROptions,
} from '../../src/optim/index.js';
import { tensor } from '../../src/tensor/index.js';
import { assertClose, fixtures } from './fixtures.js';

const { baseLr } = fixtures.schedules;
const epochs = fixtures.schedules.stepLR.lrs.length - 1;
// Absolute slack for lrs that reach 0 (cosine annealing to etaMin 0).
const rtol = 1e-6;
const atol = 1e-12;

function optimizer(lr = baseLr) {
  return sgd([tensor([0], undefined, { requiresGrad: true })], { lr });
}

function run(schedule: { step(): void }, opt: { lr: number }, steps = epochs): number[] {
  const lrs = [opt.lr];
  for (let i = 0; i < steps; i++) {
    schedule.step();
    lrs.push(opt.lr);
  }
  return lrs;
}

describe('schedules match PyTorch lr sequences', () => {
  const s = fixtures.schedules;
  const cases = {
    stepLR: (o: ReturnType<typeof optimizer>) => stepLR(o, s.stepLR.options as unknown as StepLROptions),
    multiStepLR: (o: ReturnType<typeof optimizer>) =>
      multiStepLR(o, s.multiStepLR.options as unknown as MultiStepLROptions),
    cosineAnnealingLR: (o: ReturnType<typeof optimizer>) =>
      cosineAnnealingLR(o, s.cosineAnnealingLR.options as unknown as CosineAnnealingLROptions),
    cosineToZero: (o: ReturnType<typeof optimizer>) =>
      cosineAnnealingLR(o, s.cosineToZero.options as unknown as CosineAnnealingLROptions),
    linearWarmup: (o: ReturnType<typeof optimizer>) =>
      linearWarmup(o, s.linearWarmup.options as unknown as LinearWarmupOptions),
  };
  for (const [name, make] of Object.entries(cases)) {
    test(name, () => {
      const opt = optimizer();
      const schedule = make(opt);
      assert.deepEqual(schedule.lastLr, [opt.lr]);
      assertClose(run(schedule, opt), s[name].lrs, rtol, atol, name);
      assert.equal(schedule.lastEpoch, epochs);
      assert.deepEqual(schedule.lastLr, [opt.lr]);
    });
  }

  test('warm-up then cosine (SequentialLR of LinearLR and CosineAnnealingLR)', () => {
    const { warmup, cosine, milestones } = s.warmupThenCosine.options as {
      warmup: LinearWarmupOptions;
      cosine: CosineAnnealingLROptions;
      milestones: number[];
    };
    const opt = optimizer();
    const schedule = sequentialLR(opt, {
      schedules: [linearWarmup(opt, warmup), cosineAnnealingLR(opt, cosine)],
      milestones,
    });
    assertClose(run(schedule, opt), s.warmupThenCosine.lrs, rtol, atol, 'warmupThenCosine');
  });

  for (const name of ['plateauMin', 'plateauMaxAbs']) {
    test(`reduceLROnPlateau ${name}`, () => {
      const opt = optimizer();
      const schedule = reduceLROnPlateau(opt, s[name].options as ReduceLROnPlateauOptions);
      const lrs = [opt.lr];
      for (const metric of s[name].metrics!) {
        schedule.step(metric);
        lrs.push(opt.lr);
      }
      assertClose(lrs, s[name].lrs, rtol, atol, name);
    });
  }
});

describe('schedules', () => {
  test('scale each param group from its own initial lr', () => {
    const opt = sgd(
      [
        { params: [tensor([0], undefined, { requiresGrad: true })] },
        { params: [tensor([0], undefined, { requiresGrad: true })], lr: 0.01 },
      ],
      { lr: 1 },
    );
    const schedule = stepLR(opt, { stepSize: 1, gamma: 0.5 });
    schedule.step();
    schedule.step();
    assert.deepEqual(schedule.lastLr, [0.25, 0.0025]);
    assert.deepEqual(
      opt.paramGroups.map((g) => [g.lr, g.initialLr]),
      [
        [0.25, 1],
        [0.0025, 0.01],
      ],
    );
  });

  test('stateDict round trip continues identically', () => {
    const makeSchedule = (o: ReturnType<typeof optimizer>) =>
      sequentialLR(o, {
        schedules: [linearWarmup(o, { warmupSteps: 3, startFactor: 0.1 }), cosineAnnealingLR(o, { tMax: 6 })],
        milestones: [3],
      });
    const first = optimizer();
    const original = makeSchedule(first);
    for (let i = 0; i < 5; i++) original.step();
    const saved = JSON.parse(
      JSON.stringify({ optimizer: first.stateDict(), schedule: original.stateDict() }),
    );
    const second = optimizer(0.5);
    const resumed = makeSchedule(second);
    second.loadStateDict(saved.optimizer);
    resumed.loadStateDict(saved.schedule);
    assert.equal(second.lr, first.lr);
    assert.equal(resumed.lastEpoch, 5);
    assert.deepEqual(run(resumed, second, 6), run(original, first, 6));
  });

  test('reduceLROnPlateau stateDict survives JSON, including an infinite best', () => {
    const fresh = reduceLROnPlateau(optimizer());
    assert.equal(JSON.parse(JSON.stringify(fresh.stateDict())).best, null);
    const opt = optimizer();
    const schedule = reduceLROnPlateau(opt, { patience: 1 });
    [1, 0.5, 0.6].forEach((m) => schedule.step(m));
    const copyOpt = optimizer();
    const copy = reduceLROnPlateau(copyOpt, { patience: 1 });
    copy.loadStateDict(JSON.parse(JSON.stringify(schedule.stateDict())));
    schedule.step(0.7);
    copy.step(tensor([0.7]));
    assert.equal(opt.lr, 0.010000000000000002);
    assert.equal(copyOpt.lr, opt.lr);
    assert.deepEqual(copy.stateDict(), schedule.stateDict());
  });

  test('reject invalid options, naming the option and value', () => {
    const opt = optimizer();
    const cases: [() => unknown, RegExp][] = [
      [() => stepLR(opt, { stepSize: 0 }), /stepLR: stepSize must be an integer >= 1, got 0/],
      [() => stepLR(opt, { stepSize: 2.5 }), /stepSize .* got 2\.5/],
      [() => stepLR(opt, { stepSize: 2, gamma: -1 }), /stepLR: gamma .* got -1/],
      [
        () => multiStepLR(opt, { milestones: [5, 2] }),
        /multiStepLR: milestones\[1\] must be an integer >= 5, got 2/,
      ],
      [() => cosineAnnealingLR(opt, { tMax: 0 }), /cosineAnnealingLR: tMax .* got 0/],
      [() => cosineAnnealingLR(opt, { tMax: 5, etaMin: NaN }), /etaMin .* got NaN/],
      [
        () => linearWarmup(opt, { warmupSteps: 3, startFactor: 1.5 }),
        /linearWarmup: startFactor must be a finite number >= 0 and <= 1, got 1\.5/,
      ],
      [
        () => reduceLROnPlateau(opt, { mode: 'up' as 'min' }),
        /reduceLROnPlateau: mode must be one of 'min', 'max', got 'up'/,
      ],
      [() => reduceLROnPlateau(opt, { factor: 1 }), /factor must be a finite number >= 0 and < 1, got 1/],
      [() => reduceLROnPlateau(opt, { thresholdMode: 'pct' as 'rel' }), /thresholdMode .* got 'pct'/],
      [
        () => reduceLROnPlateau(opt, { minLr: [0, 0] }),
        /minLr lists 2 values, the optimizer has 1 param groups/,
      ],
      [
        () => sequentialLR(opt, { schedules: [stepLR(opt, { stepSize: 1 })], milestones: [2] }),
        /1 schedules need 0 milestones, got 1/,
      ],
      [
        () => sequentialLR(opt, { schedules: [stepLR(optimizer(), { stepSize: 1 })], milestones: [] }),
        /schedules\[0\] drives a different optimizer/,
      ],
    ];
    for (const [make, message] of cases) assert.throws(make, { name: 'ValueError', message });
    assert.throws(() => reduceLROnPlateau(opt).step(undefined as unknown as number), /needs the metric/);
  });
});
