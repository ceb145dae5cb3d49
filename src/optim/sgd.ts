import { ValueError } from '../errors.js';
import { Tensor, axpby } from '../tensor/index.js';
import { Optimizer, type OptimizerOptions, type Params } from './optimizer.js';
import { checkBoolean, checkNumber } from './validate.js';
import { checkOptions } from '../options.js';

export interface SGDOptions extends OptimizerOptions {
  momentum: number;
  dampening: number;
  nesterov: boolean;
  /** L2 penalty added to the gradient. */
  weightDecay: number;
}

/** SGD's per-parameter state: the momentum buffer. */
export type SGDState = { momentumBuffer: Tensor };

/** Stochastic gradient descent with momentum, as torch.optim.SGD. */
export class SGD extends Optimizer<SGDOptions, SGDState> {
  constructor(params: Params<SGDOptions>, options: Pick<SGDOptions, 'lr'> & Partial<SGDOptions>) {
    checkOptions('optim.sgd', options, {
      lr: true,
      momentum: true,
      dampening: true,
      nesterov: true,
      weightDecay: true,
    });
    const defaults = { momentum: 0, dampening: 0, nesterov: false, weightDecay: 0, ...options };
    super({ name: 'sgd', stateKeys: ['momentumBuffer'] }, params, defaults);
  }

  protected checkOptions(options: SGDOptions, owner: string): void {
    checkNumber(owner, 'lr', options.lr, { min: 0 });
    checkNumber(owner, 'momentum', options.momentum, { min: 0 });
    checkNumber(owner, 'dampening', options.dampening);
    checkBoolean(owner, 'nesterov', options.nesterov);
    checkNumber(owner, 'weightDecay', options.weightDecay, { min: 0 });
    if (options.nesterov && (options.momentum <= 0 || options.dampening !== 0)) {
      throw new ValueError(
        `${owner}: nesterov needs momentum > 0 and dampening 0, got momentum ${options.momentum}, dampening ${options.dampening}`,
      );
    }
  }

  protected update(
    param: Tensor,
    grad: Tensor,
    options: SGDOptions,
    state: SGDState | undefined,
  ): SGDState | undefined {
    const { lr, momentum, dampening, nesterov, weightDecay } = options;
    let direction = weightDecay !== 0 ? axpby(1, grad, weightDecay, param) : grad;
    let buffer = state?.momentumBuffer;
    if (momentum !== 0) {
      if (buffer === undefined) buffer = direction.detach();
      else buffer.assign(axpby(momentum, buffer, 1 - dampening, direction));
      direction = nesterov ? axpby(1, direction, momentum, buffer) : buffer;
    }
    param.assign(axpby(1, param, -lr, direction));
    return buffer === undefined ? undefined : { momentumBuffer: buffer };
  }
}

/** SGD: `g += weightDecay·p; buf = momentum·buf + (1 − dampening)·g; p −= lr·(nesterov ? g + momentum·buf : buf)`. */
export function sgd(params: Params<SGDOptions>, options: Pick<SGDOptions, 'lr'> & Partial<SGDOptions>): SGD {
  return new SGD(params, options);
}
