import { Tensor, add, axpby, div, mul, sqrt, square, zerosLike } from '../tensor/index.js';
import { ValueError } from '../errors.js';
import { Optimizer, type OptimizerOptions, type Params } from './optimizer.js';
import { checkNumber } from './validate.js';
import { checkOptions } from '../options.js';

export interface AdamOptions extends OptimizerOptions {
  betas: readonly [number, number];
  eps: number;
  /** Adam: L2 penalty added to the gradient; AdamW: decoupled decay p *= 1 − lr·weightDecay. */
  weightDecay: number;
}

/** Adam's per-parameter state: step count and the two moment estimates. */
export type AdamState = { step: number; expAvg: Tensor; expAvgSq: Tensor };

type AdamInit = Partial<AdamOptions>;

/** Adam's moment estimates and bias correction; subclasses say how weight decay enters. */
export abstract class AdamBase extends Optimizer<AdamOptions, AdamState> {
  constructor(name: string, params: Params<AdamOptions>, options: AdamInit, defaultWeightDecay: number) {
    checkOptions(`optim.${name}`, options, { lr: true, betas: true, eps: true, weightDecay: true });
    const defaults = {
      lr: 1e-3,
      betas: [0.9, 0.999] as const,
      eps: 1e-8,
      weightDecay: defaultWeightDecay,
      ...options,
    };
    super({ name, stateKeys: ['step', 'expAvg', 'expAvgSq'] }, params, defaults);
  }

  protected checkOptions(options: AdamOptions, owner: string): void {
    checkNumber(owner, 'lr', options.lr, { min: 0 });
    const betas: unknown = options.betas;
    if (!Array.isArray(betas) || betas.length !== 2) {
      throw new ValueError(`${owner}: betas must be a pair [beta1, beta2], got ${String(betas)}`);
    }
    checkNumber(owner, 'betas[0]', betas[0], { min: 0, below: 1 });
    checkNumber(owner, 'betas[1]', betas[1], { min: 0, below: 1 });
    checkNumber(owner, 'eps', options.eps, { min: 0 });
    checkNumber(owner, 'weightDecay', options.weightDecay, { min: 0 });
  }

  /** Applies weight decay; returns the gradient the moments are taken of. */
  protected abstract decay(param: Tensor, grad: Tensor, options: AdamOptions): Tensor;

  protected update(
    param: Tensor,
    grad: Tensor,
    options: AdamOptions,
    state: AdamState | undefined,
  ): AdamState {
    const { lr, betas, eps } = options;
    const [beta1, beta2] = betas;
    const step = (state?.step ?? 0) + 1;
    const expAvg = state?.expAvg ?? zerosLike(param);
    const expAvgSq = state?.expAvgSq ?? zerosLike(param);
    const g = this.decay(param, grad, options);
    expAvg.assign(axpby(beta1, expAvg, 1 - beta1, g));
    expAvgSq.assign(axpby(beta2, expAvgSq, 1 - beta2, square(g)));
    // Bias corrections in double precision, as torch computes them in Python.
    const stepSize = lr / (1 - beta1 ** step);
    const denominator = add(div(sqrt(expAvgSq), Math.sqrt(1 - beta2 ** step)), eps);
    param.assign(axpby(1, param, -stepSize, div(expAvg, denominator)));
    return { step, expAvg, expAvgSq };
  }
}

/** Adam (Kingma & Ba, 2015) as torch.optim.Adam, without amsgrad: weight decay is an L2 term in the gradient. */
export class Adam extends AdamBase {
  constructor(params: Params<AdamOptions>, options: AdamInit = {}) {
    super('adam', params, options, 0);
  }

  protected decay(param: Tensor, grad: Tensor, options: AdamOptions): Tensor {
    return options.weightDecay !== 0 ? axpby(1, grad, options.weightDecay, param) : grad;
  }
}

/** AdamW (Loshchilov & Hutter, 2019) as torch.optim.AdamW: weight decay shrinks p directly, apart from the moments. */
export class AdamW extends AdamBase {
  constructor(params: Params<AdamOptions>, options: AdamInit = {}) {
    super('adamW', params, options, 0.01);
  }

  protected decay(param: Tensor, grad: Tensor, options: AdamOptions): Tensor {
    if (options.weightDecay !== 0) param.assign(mul(param, 1 - options.lr * options.weightDecay));
    return grad;
  }
}

/** Adam; lr defaults to 1e-3, as in PyTorch. */
export function adam(params: Params<AdamOptions>, options: AdamInit = {}): Adam {
  return new Adam(params, options);
}

/** AdamW; weightDecay defaults to 0.01 as in PyTorch. */
export function adamW(params: Params<AdamOptions>, options: AdamInit = {}): AdamW {
  return new AdamW(params, options);
}
