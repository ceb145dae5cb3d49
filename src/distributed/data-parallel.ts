/**
 * Data parallelism as PyTorch's DistributedDataParallel does it: every rank starts from rank 0's parameters and
 * buffers, and the gradients are averaged over the ranks by allreduce in buckets of about 25 MB, each sent as soon
 * as backward has accumulated all of its gradients, so that communication overlaps the rest of the backward pass.
 * BatchNorm's running statistics stay per process (DDP's default): rank 0's are the ones its checkpoints keep.
 */
import { DistributedError, ValueError } from '../errors.js';
import type { Module } from '../nn/module.js';
import { checkOptions } from '../options.js';
import { noGrad, onGradientAccumulated, tensor, type Tensor } from '../tensor/index.js';
import type { PendingCollective, ProcessGroup } from './process-group.js';

/** How gradients are grouped for allreduce. */
export interface DataParallelOptions {
  /** The largest bucket, in MB of float32 gradients (default 25, PyTorch's bucket_cap_mb). */
  bucketMegabytes?: number;
}

/** Time spent averaging gradients, summed over the steps so far. */
export interface AllreduceStats {
  /** Training steps whose gradients were averaged. */
  steps: number;
  /** Seconds the allreduces ran on the group's thread. */
  allreduceSeconds: number;
  /** Seconds the training thread waited for them after backward: what the overlap did not hide. */
  waitSeconds: number;
  /** Buckets per step. */
  buckets: number;
}

interface Bucket {
  parameters: Tensor[];
  /** Where each parameter's gradient starts in `values`. */
  offsets: number[];
  values: Float32Array;
  /** The parameters whose gradient this step has been copied in. */
  ready: Set<Tensor>;
  pending: PendingCollective | null;
}

/**
 * Buckets of the trainable parameters in reverse order of registration, the order backward reaches them, each
 * closed once it holds `capacity` values (a parameter larger than that has one of its own).
 */
function makeBuckets(parameters: readonly Tensor[], capacity: number): Bucket[] {
  const buckets: Bucket[] = [];
  let current: Tensor[] = [];
  let size = 0;
  const close = () => {
    if (current.length === 0) return;
    const offsets: number[] = [];
    let offset = 0;
    for (const p of current) {
      offsets.push(offset);
      offset += p.size;
    }
    buckets.push({
      parameters: current,
      offsets,
      values: new Float32Array(offset),
      ready: new Set(),
      pending: null,
    });
    current = [];
    size = 0;
  };
  for (const p of [...parameters].reverse()) {
    if (size > 0 && size + p.size > capacity) close();
    current.push(p);
    size += p.size;
  }
  close();
  return buckets;
}

/**
 * Wraps a module for data-parallel training over a process group; make one with `distributedDataParallel`, which
 * first copies rank 0's state to every rank. Pass it to fit as a callback (its onGradients averages the
 * gradients before the optimizer's step), or call `synchronizeGradients()` after backward in a loop of your own.
 * One backward pass per step.
 */
export class DistributedDataParallel {
  private readonly buckets: Bucket[];
  private readonly bucketOf = new Map<Tensor, { bucket: Bucket; index: number }>();
  private readonly removeHooks: (() => void)[] = [];
  /** The next bucket to send: buckets go in order, the same on every rank. */
  private nextToSend = 0;
  private readonly totals: AllreduceStats;

  constructor(
    readonly module: Module,
    readonly group: ProcessGroup,
    options: DataParallelOptions = {},
  ) {
    checkOptions('distributed.DistributedDataParallel', options, { bucketMegabytes: true });
    const megabytes = options.bucketMegabytes ?? 25;
    if (!(megabytes > 0))
      throw new ValueError(`DistributedDataParallel: bucketMegabytes must be > 0, got ${megabytes}`);
    const trainable = module.parameters().filter((p) => p.requiresGrad);
    this.buckets = makeBuckets(trainable, Math.max(1, Math.floor((megabytes * 2 ** 20) / 4)));
    this.totals = { steps: 0, allreduceSeconds: 0, waitSeconds: 0, buckets: this.buckets.length };
    for (const bucket of this.buckets) {
      bucket.parameters.forEach((p, index) => {
        this.bucketOf.set(p, { bucket, index });
        this.removeHooks.push(onGradientAccumulated(p, (leaf) => this.gradientReady(leaf)));
      });
    }
  }

  /** Copies rank 0's parameters and buffers into every rank's module, in one broadcast. */
  async broadcastState(): Promise<void> {
    const tensors = [...this.module.parameters(), ...this.module.buffers()];
    const values = new Float32Array(tensors.reduce((total, t) => total + t.size, 0));
    let offset = 0;
    for (const t of tensors) {
      values.set(t.data(), offset);
      offset += t.size;
    }
    await this.group.broadcast(values, 0);
    offset = 0;
    noGrad(() => {
      for (const t of tensors) {
        const part = values.subarray(offset, offset + t.size);
        offset += t.size;
        // Integer buffers (a BatchNorm's batch count) travel as float32: exact below 2^24.
        t.assign(tensor(t.dtype === 'int32' ? Int32Array.from(part) : part, t.shape, { dtype: t.dtype }));
      }
    });
  }

  /** The averaging so far: allreduce time, and how much of it the training thread waited for. */
  stats(): AllreduceStats {
    return { ...this.totals };
  }

  /** fit's callback: after backward, before clipping and the optimizer's step. */
  onGradients(): void {
    this.synchronizeGradients();
  }

  /**
   * Sends what backward did not (the buckets of parameters that got no gradient this step, zeros for them), waits
   * for every bucket and replaces each gradient by its average over the ranks.
   */
  synchronizeGradients(): void {
    for (const bucket of this.buckets.slice(this.nextToSend)) {
      bucket.parameters.forEach((p, index) => {
        if (!bucket.ready.has(p))
          bucket.values.fill(0, bucket.offsets[index], bucket.offsets[index] + p.size);
      });
    }
    this.send(this.buckets.length);
    const started = performance.now();
    const scale = 1 / this.group.worldSize;
    try {
      for (const bucket of this.buckets) {
        this.totals.allreduceSeconds += bucket.pending!.wait();
        bucket.pending = null;
        const { values } = bucket;
        for (let i = 0; i < values.length; i++) values[i] *= scale;
        noGrad(() =>
          bucket.parameters.forEach((p, index) => {
            if (p.grad === null || p.grad.disposed) return;
            const start = bucket.offsets[index];
            p.grad.assign(tensor(values.subarray(start, start + p.size), p.shape));
          }),
        );
      }
    } finally {
      for (const bucket of this.buckets) bucket.ready.clear();
      this.nextToSend = 0;
    }
    this.totals.waitSeconds += (performance.now() - started) / 1000;
    this.totals.steps++;
  }

  /** Removes the gradient hooks: the module trains alone again. */
  remove(): void {
    for (const remove of this.removeHooks.splice(0)) remove();
  }

  private gradientReady(leaf: Tensor): void {
    const { bucket, index } = this.bucketOf.get(leaf)!;
    if (bucket.pending !== null)
      throw new DistributedError(
        'DistributedDataParallel: a gradient arrived after its bucket was sent (a second backward in one step?); call synchronizeGradients() after each backward',
      );
    bucket.values.set(leaf.grad!.data() as Float32Array, bucket.offsets[index]);
    bucket.ready.add(leaf);
    let ready = this.nextToSend;
    while (
      ready < this.buckets.length &&
      this.buckets[ready].ready.size === this.buckets[ready].parameters.length
    )
      ready++;
    this.send(ready);
  }

  /** Starts the allreduce of every bucket before `end` not yet sent, in order. */
  private send(end: number): void {
    for (; this.nextToSend < end; this.nextToSend++) {
      const bucket = this.buckets[this.nextToSend];
      bucket.pending = this.group.startAllreduce(bucket.values);
    }
  }
}

/**
 * Wraps `module` for data-parallel training over `group` (PyTorch's DistributedDataParallel): copies rank 0's
 * parameters and buffers to every rank, then averages the gradients in buckets while backward runs.
 */
export async function distributedDataParallel(
  module: Module,
  group: ProcessGroup,
  options: DataParallelOptions = {},
): Promise<DistributedDataParallel> {
  const wrapped = new DistributedDataParallel(module, group, options);
  await wrapped.broadcastState();
  return wrapped;
}
