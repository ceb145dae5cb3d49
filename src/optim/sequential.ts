import { ValueError } from '../errors.js';
import {
  type AnyOptimizer,
  type EpochScheduleState,
  type LRScheduler,
  EpochSchedule,
  checkMilestones,
} from './schedules.js';
import { checkNumber } from './validate.js';
import { checkOptions } from '../options.js';

/** Options of sequentialLR. */
export interface SequentialLROptions {
  /** Run in turn: schedules[i] from milestones[i − 1] on, restarted at its own epoch 0. */
  schedules: readonly EpochSchedule[];
  milestones: readonly number[];
}

/** What sequentialLR saves in a checkpoint. */
export interface SequentialLRState {
  lastEpoch: number;
  schedules: EpochScheduleState[];
}

/**
 * Runs schedules one after another, as torch.optim.lr_scheduler.SequentialLR: e.g. linearWarmup for 5 epochs, then
 * cosineAnnealingLR, `sequentialLR(opt, { schedules: [warmup, cosine], milestones: [5] })`.
 */
export class SequentialLR implements LRScheduler {
  readonly schedules: readonly EpochSchedule[];
  readonly milestones: readonly number[];
  private epoch = 0;

  constructor(
    readonly optimizer: AnyOptimizer,
    options: SequentialLROptions,
  ) {
    checkOptions('optim.sequentialLR', options, { schedules: true, milestones: true });
    const { schedules, milestones } = options;
    if (
      !Array.isArray(schedules) ||
      schedules.length === 0 ||
      !schedules.every((s) => s instanceof EpochSchedule)
    ) {
      throw new ValueError(
        'sequentialLR: schedules must be a non-empty array of epoch schedules (stepLR, linearWarmup, ...)',
      );
    }
    schedules.forEach((schedule, i) => {
      if (schedule.optimizer !== optimizer)
        throw new ValueError(`sequentialLR: schedules[${i}] drives a different optimizer`);
    });
    checkMilestones('sequentialLR', milestones, true);
    if (milestones.length !== schedules.length - 1) {
      throw new ValueError(
        `sequentialLR: ${schedules.length} schedules need ${schedules.length - 1} milestones, got ${milestones.length}`,
      );
    }
    this.schedules = [...schedules];
    this.milestones = [...milestones];
    // Each schedule already applied its epoch 0 when made; the first one's must be in force.
    this.schedules[0].setEpoch(0);
  }

  get lastEpoch(): number {
    return this.epoch;
  }

  get lastLr(): readonly number[] {
    return this.current().lastLr;
  }

  /** Moves to the next epoch, in the schedule whose turn it is. */
  step(): void {
    this.epoch += 1;
    const index = this.milestones.filter((m) => m <= this.epoch).length;
    this.schedules[index].setEpoch(this.epoch - (index > 0 ? this.milestones[index - 1] : 0));
  }

  private current(): EpochSchedule {
    return this.schedules[this.milestones.filter((m) => m <= this.epoch).length];
  }

  /** Each schedule's position, JSON-able, for checkpoints. */
  stateDict(): SequentialLRState {
    return { lastEpoch: this.epoch, schedules: this.schedules.map((s) => s.stateDict()) };
  }

  /** Restores what stateDict() saved. */
  loadStateDict(state: object): void {
    const { lastEpoch, schedules } = state as Partial<SequentialLRState>;
    checkNumber('sequentialLR', 'lastEpoch', lastEpoch, { min: 0, integer: true });
    if (!Array.isArray(schedules) || schedules.length !== this.schedules.length) {
      throw new ValueError(
        `sequentialLR: loaded state must hold ${this.schedules.length} schedules, got ${String(schedules)}`,
      );
    }
    this.schedules.forEach((schedule, i) => schedule.loadStateDict(schedules[i]));
    this.epoch = lastEpoch as number;
  }
}

/** Runs schedules one after another, switching at the milestones, as torch's SequentialLR. */
export function sequentialLR(optimizer: AnyOptimizer, options: SequentialLROptions): SequentialLR {
  return new SequentialLR(optimizer, options);
}
