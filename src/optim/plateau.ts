import { ValueError } from '../errors.js';
import { Tensor } from '../tensor/index.js';
import type { AnyOptimizer } from './schedules.js';
import { checkChoice, checkNumber } from './validate.js';
import { checkOptions } from '../options.js';

/** Options of reduceLROnPlateau, as torch's ReduceLROnPlateau. */
export interface ReduceLROnPlateauOptions {
  /** 'min': the metric should fall (a loss); 'max': rise (an accuracy). */
  mode?: 'min' | 'max';
  factor?: number;
  /** Epochs without improvement tolerated before the lr is cut. */
  patience?: number;
  threshold?: number;
  thresholdMode?: 'rel' | 'abs';
  /** Epochs to wait after a cut before counting bad epochs again. */
  cooldown?: number;
  /** One floor for every param group, or one per group. */
  minLr?: number | readonly number[];
  /** Cuts smaller than this are skipped. */
  eps?: number;
}

/** What reduceLROnPlateau saves in a checkpoint. */
export interface ReduceLROnPlateauState {
  lastEpoch: number;
  /** null until a first metric, whose initial value (±∞) JSON cannot hold. */
  best: number | null;
  numBadEpochs: number;
  cooldownCounter: number;
  lastLr: number[];
}

/** Cuts every group's lr by `factor` when the metric stops improving, as torch.optim.lr_scheduler.ReduceLROnPlateau. */
export class ReduceLROnPlateau {
  readonly mode: 'min' | 'max';
  readonly factor: number;
  readonly patience: number;
  readonly threshold: number;
  readonly thresholdMode: 'rel' | 'abs';
  readonly cooldown: number;
  readonly minLrs: readonly number[];
  readonly eps: number;
  private epoch = 0;
  private best: number;
  private numBadEpochs = 0;
  private cooldownCounter = 0;
  private lrs: number[];

  constructor(
    readonly optimizer: AnyOptimizer,
    options: ReduceLROnPlateauOptions = {},
  ) {
    const name = 'reduceLROnPlateau';
    checkOptions(`optim.${name}`, options, {
      mode: true,
      factor: true,
      patience: true,
      threshold: true,
      thresholdMode: true,
      cooldown: true,
      eps: true,
      minLr: true,
    });
    this.mode = checkChoice(name, 'mode', options.mode ?? 'min', ['min', 'max']);
    this.factor = checkNumber(name, 'factor', options.factor ?? 0.1, { min: 0, below: 1 });
    this.patience = checkNumber(name, 'patience', options.patience ?? 10, { min: 0, integer: true });
    this.threshold = checkNumber(name, 'threshold', options.threshold ?? 1e-4, { min: 0 });
    this.thresholdMode = checkChoice(name, 'thresholdMode', options.thresholdMode ?? 'rel', ['rel', 'abs']);
    this.cooldown = checkNumber(name, 'cooldown', options.cooldown ?? 0, { min: 0, integer: true });
    this.eps = checkNumber(name, 'eps', options.eps ?? 1e-8, { min: 0 });
    const groups = optimizer.paramGroups.length;
    const minLr = options.minLr ?? 0;
    if (Array.isArray(minLr) && minLr.length !== groups) {
      throw new ValueError(
        `${name}: minLr lists ${minLr.length} values, the optimizer has ${groups} param groups`,
      );
    }
    const minLrs: readonly number[] = Array.isArray(minLr)
      ? minLr
      : new Array<number>(groups).fill(minLr as number);
    minLrs.forEach((lr, i) =>
      checkNumber(name, Array.isArray(minLr) ? `minLr[${i}]` : 'minLr', lr, { min: 0 }),
    );
    this.minLrs = [...minLrs];
    this.best = this.worst();
    this.lrs = optimizer.paramGroups.map((group) => group.lr);
  }

  get lastEpoch(): number {
    return this.epoch;
  }

  get lastLr(): readonly number[] {
    return this.lrs;
  }

  /** Call once per epoch with the monitored metric (a number or a one-element tensor). */
  step(metric: number | Tensor): void {
    const current = metric instanceof Tensor ? metric.item() : metric;
    if (typeof current !== 'number')
      throw new ValueError(`reduceLROnPlateau: step() needs the metric, got ${String(metric)}`);
    this.epoch += 1;
    if (this.isBetter(current)) {
      this.best = current;
      this.numBadEpochs = 0;
    } else {
      this.numBadEpochs += 1;
    }
    if (this.cooldownCounter > 0) {
      this.cooldownCounter -= 1;
      this.numBadEpochs = 0;
    }
    if (this.numBadEpochs > this.patience) {
      this.reduce();
      this.cooldownCounter = this.cooldown;
      this.numBadEpochs = 0;
    }
    this.lrs = this.optimizer.paramGroups.map((group) => group.lr);
  }

  private reduce(): void {
    this.optimizer.paramGroups.forEach((group, i) => {
      const lr = Math.max(group.lr * this.factor, this.minLrs[i]);
      if (group.lr - lr > this.eps) group.lr = lr;
    });
  }

  private worst(): number {
    return this.mode === 'min' ? Infinity : -Infinity;
  }

  private isBetter(value: number): boolean {
    const { mode, threshold, best } = this;
    if (this.thresholdMode === 'rel')
      return mode === 'min' ? value < best * (1 - threshold) : value > best * (1 + threshold);
    return mode === 'min' ? value < best - threshold : value > best + threshold;
  }

  /** The schedule's counters and best metric, JSON-able, for checkpoints. */
  stateDict(): ReduceLROnPlateauState {
    return {
      lastEpoch: this.epoch,
      best: Number.isFinite(this.best) ? this.best : null,
      numBadEpochs: this.numBadEpochs,
      cooldownCounter: this.cooldownCounter,
      lastLr: [...this.lrs],
    };
  }

  /** Restores what stateDict() saved. */
  loadStateDict(state: object): void {
    const name = 'reduceLROnPlateau';
    const { lastEpoch, best, numBadEpochs, cooldownCounter, lastLr } =
      state as Partial<ReduceLROnPlateauState>;
    checkNumber(name, 'lastEpoch', lastEpoch, { min: 0, integer: true });
    if (best !== null) checkNumber(name, 'best', best);
    checkNumber(name, 'numBadEpochs', numBadEpochs, { min: 0, integer: true });
    checkNumber(name, 'cooldownCounter', cooldownCounter, { min: 0, integer: true });
    if (!Array.isArray(lastLr) || lastLr.length !== this.lrs.length) {
      throw new ValueError(
        `${name}: loaded lastLr must list ${this.lrs.length} learning rates, got ${String(lastLr)}`,
      );
    }
    this.epoch = lastEpoch as number;
    this.best = best ?? this.worst();
    this.numBadEpochs = numBadEpochs as number;
    this.cooldownCounter = cooldownCounter as number;
    this.lrs = [...lastLr];
  }
}

/** Lowers the lr by `factor` when a metric has not improved for `patience` epochs, as torch's ReduceLROnPlateau. */
export function reduceLROnPlateau(
  optimizer: AnyOptimizer,
  options: ReduceLROnPlateauOptions = {},
): ReduceLROnPlateau {
  return new ReduceLROnPlateau(optimizer, options);
}
