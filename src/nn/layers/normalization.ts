import { ValueError } from '../../errors.js';
import {
  add,
  batchNorm,
  cast,
  keep,
  localResponseNorm,
  noGrad,
  ones,
  scope,
  tensor,
  zeros,
  type LocalResponseNormOptions,
  type Tensor,
} from '../../tensor/index.js';
import { Module } from '../module.js';
import { ReLU } from './activation.js';
import { checkInputShape } from './input-shape.js';
import { checkOptions } from '../../options.js';

/** Options of BatchNorm1d and BatchNorm2d, as PyTorch's. */
export interface BatchNormLayerOptions {
  eps?: number;
  /** Weight of each batch in the running averages; null: a cumulative average over all batches seen. */
  momentum?: number | null;
  /** Learn a per-channel scale (weight) and shift (bias). */
  affine?: boolean;
  /** Keep running mean and variance for evaluation; without them evaluation also uses batch statistics. */
  trackRunningStats?: boolean;
}

/**
 * Batch normalisation (Ioffe & Szegedy 2015) with PyTorch's parameters, buffers and their state_dict names:
 * weight, bias, running_mean, running_var, num_batches_tracked.
 */
export abstract class BatchNorm extends Module {
  static override readonly forwardKeepsNothing = true;
  readonly eps: number;
  readonly momentum: number | null;
  readonly affine: boolean;
  readonly trackRunningStats: boolean;
  /**
   * Stand-ins for weight and bias when affine is false (the kernel always takes both), made again when an input
   * comes from another backend (summary runs models on the meta backend).
   */
  #fixed: { scale: Tensor; shift: Tensor } | null = null;
  /** Whether the call under way applies a ReLU after the normalisation (callWithRelu). */
  #reluAfter = false;

  protected abstract readonly inputLayout: readonly (string | number)[];

  constructor(
    readonly numFeatures: number,
    options: BatchNormLayerOptions = {},
  ) {
    super();
    checkOptions(`nn.${new.target.name}`, options, {
      eps: true,
      momentum: true,
      affine: true,
      trackRunningStats: true,
    });
    if (!Number.isInteger(numFeatures) || numFeatures < 1) {
      throw new ValueError(`${new.target.name}: numFeatures must be a positive integer, got ${numFeatures}`);
    }
    this.eps = options.eps ?? 1e-5;
    this.momentum = options.momentum === undefined ? 0.1 : options.momentum;
    if (this.momentum !== null && !(this.momentum >= 0 && this.momentum <= 1)) {
      throw new ValueError(`${new.target.name}: momentum must be in [0, 1] or null, got ${this.momentum}`);
    }
    this.affine = options.affine ?? true;
    this.trackRunningStats = options.trackRunningStats ?? true;
    this.registerParameter('weight', this.affine ? ones([numFeatures]) : null);
    this.registerParameter('bias', this.affine ? zeros([numFeatures]) : null);
    const track = this.trackRunningStats;
    this.registerBuffer('running_mean', track ? zeros([numFeatures]) : null);
    this.registerBuffer('running_var', track ? ones([numFeatures]) : null);
    this.registerBuffer('num_batches_tracked', track ? tensor(Int32Array.of(0), []) : null);
  }

  get weight(): Tensor | null {
    return this.getParameter('weight');
  }

  get bias(): Tensor | null {
    return this.getParameter('bias');
  }

  get runningMean(): Tensor | null {
    return this.getBuffer('running_mean');
  }

  get runningVar(): Tensor | null {
    return this.getBuffer('running_var');
  }

  /** An int32 tensor of shape [], as PyTorch's (int64) num_batches_tracked. */
  get numBatchesTracked(): Tensor | null {
    return this.getBuffer('num_batches_tracked');
  }

  /** Running mean 0, variance 1, no batches seen. */
  resetRunningStats(): void {
    noGrad(() => {
      this.runningMean?.assign(zeros([this.numFeatures]));
      this.runningVar?.assign(ones([this.numFeatures]));
      this.numBatchesTracked?.assign(tensor(Int32Array.of(0), []));
    });
  }

  forward(x: Tensor): Tensor {
    checkInputShape(x, this.inputLayout);
    const runningMean = this.runningMean;
    const runningVar = this.runningVar;
    const tracked = this.numBatchesTracked;
    let momentum = this.momentum ?? 0;
    if (this.training && tracked !== null) {
      if (this.momentum === null) {
        const count = tracked.item() + 1;
        tracked.assign(tensor(Int32Array.of(count), []));
        momentum = 1 / count;
      } else {
        // Counted by kernels, not read back: a recorded training step (train/step-replay.ts) counts on replay too.
        tracked.assign(scope(() => cast(add(cast(tracked, 'float32'), 1), 'int32')));
      }
    }
    // As PyTorch: without running statistics, evaluation normalises by the batch's own.
    const useBatchStatistics = this.training || runningMean === null || runningVar === null;
    if (!this.affine && this.#fixed?.scale.backend !== x.backend) {
      this.#fixed = { scale: keep(ones([this.numFeatures])), shift: keep(zeros([this.numFeatures])) };
    }
    return batchNorm(
      x,
      this.weight ?? this.#fixed!.scale,
      this.bias ?? this.#fixed!.shift,
      runningMean,
      runningVar,
      { training: useBatchStatistics, momentum, eps: this.eps, relu: this.#reluAfter },
    );
  }

  /**
   * call(x), then a ReLU, in the same kernels where the backend fuses them in training: how callInTurn runs a
   * BatchNorm that a ReLU follows (fusesWithRelu), which then does not call the ReLU module.
   */
  callWithRelu(x: Tensor): Tensor {
    this.#reluAfter = true;
    try {
      return this.call(x);
    } finally {
      this.#reluAfter = false;
    }
  }

  /**
   * Whether `next` is a ReLU that callWithRelu may stand in for: a plain ReLU after one of convnets' own BatchNorm
   * layers in training, neither watched by a hook or an observer, which would see the calls one by one.
   */
  fusesWithRelu(next: Module | undefined): boolean {
    const type: unknown = this.constructor;
    const own = type === BatchNorm1d || type === BatchNorm2d;
    const nextType: unknown = next?.constructor;
    return own && this.training && nextType === ReLU && !this.isObserved() && !next!.isObserved();
  }

  override extraRepr(): string {
    return (
      `${this.numFeatures}, eps=${this.eps}, momentum=${this.momentum}, affine=${this.affine}, ` +
      `trackRunningStats=${this.trackRunningStats}`
    );
  }
}

/** Over [N, C, H, W]: statistics per channel across the batch and both spatial axes. */
export class BatchNorm2d extends BatchNorm {
  protected readonly inputLayout = ['N', this.numFeatures, 'H', 'W'];
}

/** Over [N, C] (a fully connected layer's output): statistics per feature across the batch. */
export class BatchNorm1d extends BatchNorm {
  protected readonly inputLayout = ['N', this.numFeatures];
}

/**
 * Normalises each value by the squares of its `size` neighbouring channels, as torch.nn.LocalResponseNorm:
 * b = a / (k + alpha/size · Σ a²)^beta. AlexNet used size 5, alpha 1e-4, beta 0.75, k 2.
 */
export class LocalResponseNorm extends Module {
  static override readonly forwardKeepsNothing = true;
  readonly alpha: number;
  readonly beta: number;
  readonly k: number;

  constructor(
    readonly size: number,
    options: LocalResponseNormOptions = {},
  ) {
    super();
    checkOptions('nn.LocalResponseNorm', options, { alpha: true, beta: true, k: true });
    if (!Number.isInteger(size) || size < 1)
      throw new ValueError(`LocalResponseNorm: size must be a positive integer, got ${size}`);
    this.alpha = options.alpha ?? 1e-4;
    this.beta = options.beta ?? 0.75;
    this.k = options.k ?? 1;
  }

  forward(x: Tensor): Tensor {
    if (x.rank < 3) checkInputShape(x, ['N', 'C', 'H', 'W']);
    return localResponseNorm(x, this.size, { alpha: this.alpha, beta: this.beta, k: this.k });
  }

  override extraRepr(): string {
    return `${this.size}, alpha=${this.alpha}, beta=${this.beta}, k=${this.k}`;
  }
}
