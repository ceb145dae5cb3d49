import { describe, test } from 'node:test';
import {
  adam,
  adamW,
  sgd,
  type Optimizer,
  type OptimizerOptions,
  type ParamState,
} from '../../src/optim/index.js';
import type { Tensor } from '../../src/tensor/index.js';
import { assertClose, fixtures, flatValues, makeParams, setGrads } from './fixtures.js';

type Factory = (
  params: Tensor[],
  options: Record<string, unknown>,
) => Optimizer<OptimizerOptions, ParamState>;

const factories: Record<string, Factory> = {
  sgd: (p, o) => sgd(p, o as { lr: number }),
  adam: (p, o) => adam(p, o),
  adamW: (p, o) => adamW(p, o),
};

describe('optimizers match PyTorch trajectories', () => {
  for (const [name, fixture] of Object.entries(fixtures.optimizers)) {
    test(name, () => {
      const params = makeParams();
      const groups = fixture.groups?.map((overrides, i) => ({ params: [params[i]], ...overrides }));
      const optimizer = factories[fixture.optimizer]((groups ?? params) as Tensor[], fixture.options);
      const rtol = fixture.optimizer === 'sgd' ? 1e-6 : 1e-5;
      fixture.steps.forEach((expected, step) => {
        setGrads(params, step);
        optimizer.step();
        assertClose(flatValues(params), expected, rtol, 0, `${name} step ${step}`);
      });
    });
  }
});
