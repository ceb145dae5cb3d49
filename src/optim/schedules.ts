import { ValueError } from '../errors.js';
import type { Optimizer, OptimizerOptions, ParamState } from './optimizer.js';
import { checkNumber } from './validate.js';
import { checkOptions } from '../options.js';

/** Schedules only read and write param groups' lr, so any optimizer will do. */
export type AnyOptimizer = Optimizer<OptimizerOptions, ParamState>;

/**
 * Drives an optimizer's learning rate; call step() after each epoch (or each iteration for warm-up), after
 * optimizer.step(). reduceLROnPlateau has the same members but its step takes the metric.
 */
export interface LRScheduler {
  readonly optimizer: AnyOptimizer;
  /** Steps taken: 0 after construction. */
  readonly lastEpoch: number;
  /** The lr of each param group, as set by the last step. */
  readonly lastLr: readonly number[];
  /** Moves to the next epoch and sets each param group's lr. */
  step(): void;
  /** The schedule's position, JSON-able, for checkpoints. */
  stateDict(): object;
  /** Restores what stateDict() saved. */
  loadStateDict(state: object): void;
}

/** What an epoch schedule saves in a checkpoint. */
export interface EpochScheduleState {
  lastEpoch: number;
  baseLrs: number[];
  lastLr: number[];
}

/** A schedule whose lr at each epoch is a closed form of the group's initial lr and the epoch. */
export class EpochSchedule implements LRScheduler {
  readonly baseLrs: number[];
  private epoch = 0;
  private lrs: number[] = [];

  constructor(
    readonly optimizer: AnyOptimizer,
    readonly name: string,
    private readonly lrAt: (baseLr: number, epoch: number) => number,
  ) {
    // As torch's `initial_lr`: a second schedule on the same optimizer starts from the same lr as the first.
    for (const group of optimizer.paramGroups) group.initialLr ??= group.lr;
    this.baseLrs = optimizer.paramGroups.map((group) => group.initialLr as number);
    this.setEpoch(0);
  }

  get lastEpoch(): number {
    return this.epoch;
  }

  get lastLr(): readonly number[] {
    return this.lrs;
  }

  /** Moves to the next epoch and sets each param group's lr. */
  step(): void {
    this.setEpoch(this.epoch + 1);
  }

  /** Moves to `epoch` and writes its lr into every param group (sequentialLR restarts a schedule at 0). */
  setEpoch(epoch: number): void {
    const groups = this.optimizer.paramGroups;
    if (groups.length !== this.baseLrs.length) {
      throw new ValueError(
        `${this.name}: the optimizer has ${groups.length} param groups, the schedule was made for ${this.baseLrs.length}`,
      );
    }
    this.epoch = epoch;
    groups.forEach((group, i) => (group.lr = this.lrAt(this.baseLrs[i], epoch)));
    this.lrs = groups.map((group) => group.lr);
  }

  /** The schedule's position, JSON-able, for checkpoints. */
  stateDict(): EpochScheduleState {
    return { lastEpoch: this.epoch, baseLrs: [...this.baseLrs], lastLr: [...this.lrs] };
  }

  /** Restores the counters; the optimizer's own state dict restores its lr, as in PyTorch. */
  loadStateDict(state: object): void {
    const { lastEpoch, baseLrs, lastLr } = state as Partial<EpochScheduleState>;
    checkNumber(this.name, 'lastEpoch', lastEpoch, { min: 0, integer: true });
    for (const [option, lrs] of [
      ['baseLrs', baseLrs],
      ['lastLr', lastLr],
    ] as const) {
      if (!Array.isArray(lrs) || lrs.length !== this.baseLrs.length) {
        throw new ValueError(
          `${this.name}: loaded ${option} must list ${this.baseLrs.length} learning rates, got ${String(lrs)}`,
        );
      }
      lrs.forEach((lr, i) => checkNumber(this.name, `${option}[${i}]`, lr, { min: 0 }));
    }
    this.epoch = lastEpoch as number;
    this.baseLrs.splice(0, this.baseLrs.length, ...(baseLrs as number[]));
    this.lrs = [...(lastLr as number[])];
  }
}

/** Options of stepLR. */
export interface StepLROptions {
  stepSize: number;
  gamma?: number;
}

/** lr · gamma^⌊epoch / stepSize⌋, as torch.optim.lr_scheduler.StepLR. */
export function stepLR(optimizer: AnyOptimizer, options: StepLROptions): EpochSchedule {
  checkOptions('optim.stepLR', options, { stepSize: true, gamma: true });
  const { stepSize, gamma = 0.1 } = options;
  checkNumber('stepLR', 'stepSize', stepSize, { min: 1, integer: true });
  checkNumber('stepLR', 'gamma', gamma, { min: 0 });
  return new EpochSchedule(optimizer, 'stepLR', (lr, epoch) => lr * gamma ** Math.floor(epoch / stepSize));
}

/** Options of multiStepLR. */
export interface MultiStepLROptions {
  milestones: readonly number[];
  gamma?: number;
}

/** lr · gamma^(milestones passed), as torch.optim.lr_scheduler.MultiStepLR. */
export function multiStepLR(optimizer: AnyOptimizer, options: MultiStepLROptions): EpochSchedule {
  checkOptions('optim.multiStepLR', options, { milestones: true, gamma: true });
  const { milestones, gamma = 0.1 } = options;
  checkMilestones('multiStepLR', milestones, false);
  checkNumber('multiStepLR', 'gamma', gamma, { min: 0 });
  // A repeated milestone decays twice, as in torch.
  return new EpochSchedule(
    optimizer,
    'multiStepLR',
    (lr, epoch) => lr * gamma ** milestones.filter((m) => m <= epoch).length,
  );
}

/** Options of cosineAnnealingLR. */
export interface CosineAnnealingLROptions {
  tMax: number;
  etaMin?: number;
}

/**
 * etaMin + (lr − etaMin)·(1 + cos(π·epoch/tMax))/2 (SGDR without restarts, Loshchilov & Hutter 2017): the closed
 * form of torch.optim.lr_scheduler.CosineAnnealingLR; past tMax it rises again, as torch's does.
 */
export function cosineAnnealingLR(optimizer: AnyOptimizer, options: CosineAnnealingLROptions): EpochSchedule {
  checkOptions('optim.cosineAnnealingLR', options, { tMax: true, etaMin: true });
  const { tMax, etaMin = 0 } = options;
  checkNumber('cosineAnnealingLR', 'tMax', tMax, { min: 1, integer: true });
  checkNumber('cosineAnnealingLR', 'etaMin', etaMin, { min: 0 });
  return new EpochSchedule(
    optimizer,
    'cosineAnnealingLR',
    (lr, epoch) => etaMin + ((lr - etaMin) * (1 + Math.cos((Math.PI * epoch) / tMax))) / 2,
  );
}

/** Options of linearWarmup. */
export interface LinearWarmupOptions {
  warmupSteps: number;
  /** Fraction of the lr at step 0; default 1/3 as torch's LinearLR. */
  startFactor?: number;
}

/**
 * Linear from startFactor·lr at step 0 to lr at warmupSteps, then constant (Goyal et al. 2017's gradual warm-up):
 * torch.optim.lr_scheduler.LinearLR with end_factor 1, whose start_factor must exceed 0; here 0 is allowed.
 */
export function linearWarmup(optimizer: AnyOptimizer, options: LinearWarmupOptions): EpochSchedule {
  checkOptions('optim.linearWarmup', options, { warmupSteps: true, startFactor: true });
  const { warmupSteps, startFactor = 1 / 3 } = options;
  checkNumber('linearWarmup', 'warmupSteps', warmupSteps, { min: 1, integer: true });
  checkNumber('linearWarmup', 'startFactor', startFactor, { min: 0, max: 1 });
  return new EpochSchedule(
    optimizer,
    'linearWarmup',
    (lr, epoch) => lr * (startFactor + ((1 - startFactor) * Math.min(epoch, warmupSteps)) / warmupSteps),
  );
}

export function checkMilestones(owner: string, milestones: unknown, strictlyIncreasing: boolean): void {
  if (!Array.isArray(milestones))
    throw new ValueError(`${owner}: milestones must be an array of epochs, got ${String(milestones)}`);
  milestones.forEach((m, i) => {
    const previous = i > 0 ? (milestones[i - 1] as number) : 0;
    checkNumber(
      owner,
      `milestones[${i}]`,
      m,
      strictlyIncreasing ? { above: previous, integer: true } : { min: previous, integer: true },
    );
  });
}
