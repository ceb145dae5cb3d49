// A whole training run against PyTorch: the same CNN, data, initial weights and SGD with momentum, compared loss
// by loss (test/fixtures/training.json, written by scripts/fixtures/training.py). Run twice: with convnets' nn
// modules and optim.sgd, and with the functional ops and a hand-written update, so a failure says which layer broke.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Conv2d, Flatten, Linear, MaxPool2d, ReLU, Sequential } from '../../src/nn/index.js';
import { sgd } from '../../src/optim/index.js';
import {
  Tensor,
  add,
  conv2d,
  crossEntropy,
  flatten,
  linear,
  maxPool2d,
  mul,
  noGrad,
  relu,
  scope,
  sub,
  tensor,
  zerosLike,
} from '../../src/tensor/index.js';
import { type FixtureArray, loadFixture } from './helpers.js';

interface TrainingFixture {
  torch: string;
  lr: number;
  momentum: number;
  steps: number;
  images: FixtureArray;
  labels: FixtureArray;
  /** The Sequential's state_dict before training. */
  initial: Record<string, FixtureArray>;
  /** Full-batch loss before each step, then after the last. */
  lossFloat32: number[];
  lossFloat64: number[];
}

const fixture = loadFixture<TrainingFixture>('training.json');
const images = (): Tensor => tensor(fixture.images.data, fixture.images.shape);
const labels = (): Tensor => tensor(Int32Array.from(fixture.labels.data), fixture.labels.shape);
const initialTensors = (): Record<string, Tensor> =>
  Object.fromEntries(
    Object.entries(fixture.initial).map(([key, value]) => [key, tensor(value.data, value.shape)]),
  );

/** Losses before each of fixture.steps steps and after the last; `step` runs one full-batch step, returning its loss. */
function curve(step: () => number, finalLoss: () => number): number[] {
  const losses: number[] = [];
  for (let i = 0; i < fixture.steps; i++) losses.push(scope(step));
  losses.push(scope(() => noGrad(finalLoss)));
  return losses;
}

function trainWithModules(): number[] {
  // PyTorch's nn.Sequential in scripts/fixtures/training.py, index for index (state_dict keys '0.weight', '6.bias').
  const net = new Sequential(
    new Conv2d(1, 4, 3, { padding: 1 }),
    new ReLU(),
    new MaxPool2d(2),
    new Conv2d(4, 8, 3),
    new ReLU(),
    new Flatten(),
    new Linear(32, 3),
  );
  net.loadStateDict(initialTensors());
  const optimizer = sgd(net.parameters(), { lr: fixture.lr, momentum: fixture.momentum });
  const [x, y] = [images(), labels()];
  return curve(
    () => {
      optimizer.zeroGrad();
      const loss = crossEntropy(net.call(x), y);
      loss.backward();
      optimizer.step();
      return loss.item();
    },
    () => crossEntropy(net.call(x), y).item(),
  );
}

function trainWithOps(): number[] {
  const p = initialTensors();
  for (const t of Object.values(p)) t.requireGrad();
  const velocity = new Map<Tensor, Tensor>(Object.values(p).map((t) => [t, zerosLike(t)]));
  const [x, y] = [images(), labels()];
  const loss = (): Tensor => {
    let h = maxPool2d(relu(conv2d(x, p['0.weight'], p['0.bias'], { padding: 1 })), 2);
    h = relu(conv2d(h, p['3.weight'], p['3.bias']));
    return crossEntropy(linear(flatten(h, 1), p['6.weight'], p['6.bias']), y);
  };
  return curve(
    () => {
      const value = loss();
      value.backward();
      noGrad(() => {
        for (const t of Object.values(p)) {
          // torch.optim.SGD with momentum μ (the first step's buffer is g itself, as 0·μ + g): v ← μ·v + g, θ ← θ − lr·v.
          const v = velocity.get(t)!;
          v.assign(add(mul(v, fixture.momentum), t.grad!));
          t.assign(sub(t, mul(v, fixture.lr)));
          t.grad = null;
        }
      });
      return value.item();
    },
    () => loss().item(),
  );
}

/*
 * Tolerances. Both runs are float32 and differ only in the order of round-off, which training amplifies as it goes.
 * Measured: PyTorch float32 against PyTorch float64 differs by at most 5e-5 relative over the whole curve, and convnets
 * (reference backend) against PyTorch float32 by about as much. So: 1e-3 relative while the loss is above 0.01 (the
 * first ~50 steps, where the dynamics are decided; 20× the measured gap, and a 1 % change of momentum already
 * breaks it), and 2e-2 on the tail, where the loss is a few 1e-4: log-probabilities near 0 carry float32 round-off
 * of a larger relative size there, and faster backends reorder their sums more.
 */
const EARLY_TOLERANCE = 1e-3;
const TAIL_TOLERANCE = 2e-2;
const TAIL_BELOW = 0.01;

function assertFollowsPyTorch(losses: number[]): void {
  const reference = fixture.lossFloat32;
  assert.equal(losses.length, fixture.steps + 1);
  assert.equal(reference.length, fixture.steps + 1);
  for (let i = 0; i < losses.length; i++) {
    const tolerance = reference[i] >= TAIL_BELOW ? EARLY_TOLERANCE : TAIL_TOLERANCE;
    const gap = Math.abs(losses[i] - reference[i]) / reference[i];
    assert.ok(
      gap <= tolerance,
      `loss before step ${i}: convnets ${losses[i]}, PyTorch ${reference[i]} (relative gap ${gap.toExponential(2)} > ${tolerance})`,
    );
  }
  // Both learned: the loss fell from chance level (ln 3 ≈ 1.1) by more than a thousandfold.
  const [first, last] = [losses[0], losses[losses.length - 1]];
  assert.ok(Math.abs(first - Math.log(3)) < 0.05, `initial loss ${first} is not near ln 3`);
  assert.ok(last < first / 1000, `convnets' loss fell only from ${first} to ${last}`);
  assert.ok(reference[reference.length - 1] < reference[0] / 1000, 'the fixture did not learn');
}

test(`nn modules + optim.sgd follow PyTorch ${fixture.torch}'s SGD loss curve`, () => {
  assertFollowsPyTorch(trainWithModules());
});

test(`functional ops + hand-written SGD follow PyTorch ${fixture.torch}'s SGD loss curve`, () => {
  assertFollowsPyTorch(trainWithOps());
});
