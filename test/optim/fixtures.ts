import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Tensor, tensor } from '../../src/tensor/index.js';

type Nested = number | Nested[];

export interface OptimizerFixture {
  optimizer: 'sgd' | 'adam' | 'adamW';
  options: Record<string, unknown>;
  groups?: Record<string, unknown>[];
  /** Every parameter's values, flattened and concatenated, after each step. */
  steps: number[][];
}

export interface ScheduleFixture {
  options: Record<string, unknown>;
  metrics?: number[];
  /** lr after construction, then after each step. */
  lrs: number[];
}

export interface OptimFixtures {
  params: Nested[];
  /** Per step, per parameter; null: no gradient that step. */
  grads: (Nested | null)[][];
  optimizers: Record<string, OptimizerFixture>;
  schedules: Record<string, ScheduleFixture> & { baseLr: number };
}

// Tests run from dist/test/optim/; the fixture is committed under test/fixtures/ at the repo root.
export const fixtures: OptimFixtures = JSON.parse(
  readFileSync(new URL('../../../test/fixtures/optim.json', import.meta.url), 'utf8'),
);

export function makeParams(): Tensor[] {
  return fixtures.params.map((values) => tensor(values, undefined, { requiresGrad: true }));
}

/** Sets each parameter's gradient for fixture step `step`, releasing the previous ones. */
export function setGrads(params: Tensor[], step: number): void {
  params.forEach((param, i) => {
    param.grad?.dispose();
    const values = fixtures.grads[step][i];
    param.grad = values === null ? null : tensor(values);
  });
}

export function flatValues(params: Tensor[]): number[] {
  return params.flatMap((param) => param.toArray());
}

/** |actual − expected| ≤ rtol·|expected| + atol, elementwise. */
export function assertClose(
  actual: readonly number[],
  expected: readonly number[],
  rtol: number,
  atol = 0,
  what = '',
): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  actual.forEach((a, i) => {
    const e = expected[i];
    assert.ok(
      Math.abs(a - e) <= rtol * Math.abs(e) + atol,
      `${what}[${i}]: got ${a}, expected ${e} (rtol ${rtol})`,
    );
  });
}
