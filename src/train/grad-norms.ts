/**
 * Gradient norms per layer during training: the evidence for vanishing gradients (He et al. 2016 and Glorot and
 * Bengio 2010 read them layer by layer). A fit callback reads each weight layer's gradient after backward, before
 * clipping and the update, at the steps asked for.
 */
import { ValueError } from '../errors.js';
import { checkOptions } from '../options.js';
import type { Module } from '../nn/module.js';
import { scope, sqrt, square, sum, type Tensor } from '../tensor/index.js';
import type { Callback, StepPosition } from './fit.js';

/** The gradient norms of one training step. */
export interface GradNormRecord {
  epoch: number;
  /** Step within the epoch, from 1. */
  step: number;
  /** Steps since training began (resumed runs count the epochs before), from 1. */
  globalStep: number;
  /** L2 norm of each weight layer's weight gradient, by layer path, in the model's order. */
  norms: Record<string, number>;
}

/** The steps GradNormLogger records at. */
export interface GradNormOptions {
  /** Records at global steps 1, 1 + every, 1 + 2·every, … (default 1: every step). */
  every?: number;
  /** Records at exactly these global steps instead. */
  steps?: readonly number[];
}

/**
 * The weight layers of a model: parameters named `weight` with two or more dimensions (convolutions and fully
 * connected layers; normalisation layers' per-channel scales are left out), as [layer path, parameter].
 */
export function weightLayers(model: Module): [string, Tensor][] {
  return model
    .namedParameters()
    .filter(([name, parameter]) => (name === 'weight' || name.endsWith('.weight')) && parameter.rank >= 2)
    .map(([name, parameter]): [string, Tensor] => [
      name === 'weight' ? '' : name.slice(0, -'.weight'.length),
      parameter,
    ]);
}

/** A fit callback recording the gradient norm of every weight layer at chosen steps. */
export class GradNormLogger implements Callback {
  readonly records: GradNormRecord[] = [];
  readonly #layers: [string, Tensor][];
  readonly #every: number;
  readonly #steps: ReadonlySet<number> | null;

  constructor(model: Module, options: GradNormOptions = {}) {
    checkOptions('train.GradNormLogger', options, { every: true, steps: true });
    const every = options.every ?? 1;
    if (!Number.isInteger(every) || every < 1)
      throw new ValueError(`grad norms: every must be an integer ≥ 1, got ${every}`);
    if (options.steps !== undefined && !options.steps.every((step) => Number.isInteger(step) && step >= 1))
      throw new ValueError(`grad norms: steps must be integers ≥ 1, got [${options.steps.join(', ')}]`);
    this.#layers = weightLayers(model);
    if (this.#layers.length === 0) throw new ValueError('grad norms: the model has no weight layers');
    this.#every = every;
    this.#steps = options.steps === undefined ? null : new Set(options.steps);
  }

  /** The layer paths recorded, first layer first. */
  get layers(): string[] {
    return this.#layers.map(([path]) => path);
  }

  onGradients({ epoch, step, steps }: StepPosition): void {
    const globalStep = (epoch - 1) * steps + step;
    const wanted = this.#steps === null ? (globalStep - 1) % this.#every === 0 : this.#steps.has(globalStep);
    if (!wanted) return;
    const norms: Record<string, number> = {};
    for (const [path, parameter] of this.#layers) {
      const grad = parameter.grad;
      // A frozen layer, or one the loss does not reach, has no gradient: its norm is 0.
      norms[path] = grad === null ? 0 : scope(() => sqrt(sum(square(grad))).item());
    }
    this.records.push({ epoch, step, globalStep, norms });
  }
}
