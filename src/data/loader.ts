/**
 * data.loader: batches of a dataset, shuffled per epoch from a seed, transformed per sample, optionally on a
 * pool of worker threads that load `prefetch` batches ahead while the main thread trains.
 *
 * Determinism: the epoch's order comes from (seed, epoch) and each sample's transform generator from
 * (seed, epoch, dataset index), so batches are bit-identical whatever the number of workers and whichever
 * worker loads which batch. Transforms reach workers as descriptors (transforms/spec.ts), never closures.
 */
import { ValueError } from '../errors.js';
import { tensor } from '../tensor/creation.js';
import { globalGenerator } from '../tensor/random.js';
import type { Tensor } from '../tensor/tensor.js';
import type { RawBatch, SampleTransform } from './batch.js';
import { fetchBatch } from './batch.js';
import type { Dataset } from './datasets/dataset.js';
import { permutation } from './datasets/dataset.js';
import { WorkerPool } from './pool.js';
import { checkSeed, shuffleGenerator } from './seed.js';
import { makeTransform } from './transforms/build.js';
import type { TransformSpec } from './transforms/spec.js';
import { checkOptions } from '../options.js';

/** How a loader batches, shuffles and transforms its dataset. */
export interface LoaderOptions {
  batchSize: number;
  /** Reorder the samples every epoch (default false). */
  shuffle?: boolean;
  /** Fixes the order and every augmentation; default: drawn from the global generator (see manualSeed). */
  seed?: number;
  /** A descriptor from `transforms` (runs in workers too) or a function (workers: 0 only). */
  transform?: TransformSpec | SampleTransform;
  /** Worker threads loading batches; 0 (the default) loads on the calling thread when a batch is asked for. */
  workers?: number;
  /** Batches requested ahead of the one being consumed, at least one per worker (default 2). */
  prefetch?: number;
  /** Leave out the last batch when it is smaller than batchSize (default false). */
  dropLast?: boolean;
  /**
   * Called once per file a streamed dataset could not read (the sample is left out of its batch); default: one
   * console.warn line naming the file. `loader.skipped` counts them.
   */
  onSkip?: (file: string, reason: string) => void;
  /**
   * Keeps a part of each epoch's order (after shuffling): one rank's shard in distributed training
   * (distributed.distributedSampler). Default: every index.
   */
  sampler?: Sampler;
}

/** Which of an epoch's indices a loader visits, chosen from the epoch's order (PyTorch's sampler). */
export interface Sampler {
  /** How many indices `select` keeps of an order of `datasetLength` indices. */
  count(datasetLength: number): number;
  /** The indices to visit, in order. */
  select(order: Int32Array): Int32Array;
}

/** One batch a loader yields. */
export interface Batch {
  /** [N, C, H, W] float32, or [N, K, C, H, W] when a transform makes K crops per sample (tenCrop). */
  images: Tensor;
  /** [N] int32. */
  labels: Tensor;
  /** The samples' indices in the dataset. */
  indices: Int32Array;
}

function checkCount(what: string, value: number, minimum: number): number {
  if (!Number.isInteger(value) || value < minimum) {
    throw new ValueError(`loader: ${what} must be an integer ≥ ${minimum}, got ${value}`);
  }
  return value;
}

/**
 * Batches of a dataset, shuffled and transformed (on worker threads when `workers` > 0), as an async iterable; make
 * one with `loader`.
 */
export class DataLoader implements AsyncIterable<Batch> {
  readonly batchSize: number;
  readonly shuffle: boolean;
  readonly seed: number;
  readonly workers: number;
  readonly prefetch: number;
  readonly dropLast: boolean;
  /** The part of each epoch's order this loader visits; undefined: all of it. */
  readonly sampler: Sampler | undefined;
  /** The transform as a descriptor; null for a function (or none). */
  readonly transformSpec: TransformSpec | null;
  private readonly transform: SampleTransform | undefined;
  private readonly onSkip: (file: string, reason: string) => void;
  /** Files a streamed dataset could not read, and why: each was warned about once, and is left out of every batch. */
  readonly skipped = new Map<string, string>();
  private nextEpoch = 0;
  private pool: WorkerPool | undefined;

  constructor(
    readonly dataset: Dataset,
    options: LoaderOptions,
  ) {
    checkOptions('data.loader', options, {
      batchSize: true,
      shuffle: true,
      seed: true,
      transform: true,
      workers: true,
      prefetch: true,
      dropLast: true,
      onSkip: true,
      sampler: true,
    });
    this.batchSize = checkCount('batchSize', options.batchSize, 1);
    this.shuffle = options.shuffle ?? false;
    this.seed = checkSeed(options.seed ?? Math.floor(globalGenerator().uniform() * 2 ** 32), 'loader');
    this.workers = checkCount('workers', options.workers ?? 0, 0);
    this.prefetch = checkCount('prefetch', options.prefetch ?? 2, 1);
    this.dropLast = options.dropLast ?? false;
    this.sampler = options.sampler;
    this.onSkip = options.onSkip ?? ((file, reason) => console.warn(`skipped ${file}: ${reason}`));
    const transform = options.transform;
    if (typeof transform === 'function') {
      if (this.workers > 0) {
        throw new ValueError(
          'loader: a transform function cannot be sent to worker threads; use a descriptor from ' +
            'data.transforms (e.g. transforms.compose([...])) or workers: 0',
        );
      }
      this.transformSpec = null;
      this.transform = transform;
    } else {
      this.transformSpec = transform ?? null;
      this.transform = transform ? makeTransform(transform) : undefined;
    }
    if (this.workers > 0 && !dataset.toSpec) {
      throw new ValueError(
        'loader: this dataset has no toSpec(), so worker threads cannot rebuild it; use workers: 0, or a ' +
          'built-in dataset (arrayDataset, idxDataset, readCifarBatches, imageFolder, Subset)',
      );
    }
  }

  /** Batches per epoch. */
  get length(): number {
    const samples = this.sampler?.count(this.dataset.length) ?? this.dataset.length;
    const n = samples / this.batchSize;
    return this.dropLast ? Math.floor(n) : Math.ceil(n);
  }

  /** The epoch the next iteration will run (each iteration then advances it by one). */
  get epoch(): number {
    return this.nextEpoch;
  }

  /** Sets the epoch of the next iteration, e.g. when resuming training: its order and augmentation follow. */
  setEpoch(epoch: number): void {
    this.nextEpoch = checkCount('epoch', epoch, 0);
  }

  /** The dataset indices in the order epoch `epoch` visits them. */
  order(epoch: number): Int32Array {
    return this.shuffle
      ? permutation(this.dataset.length, shuffleGenerator(this.seed, epoch))
      : Int32Array.from({ length: this.dataset.length }, (_, i) => i);
  }

  /** Iterates one epoch: the current one, then advances it (each call starts the next epoch). */
  [Symbol.asyncIterator](): AsyncIterator<Batch> {
    const epoch = this.nextEpoch++;
    return this.iterate(epoch);
  }

  /** Terminates the workers (a later iteration starts new ones). Idle workers never keep the process alive. */
  async close(): Promise<void> {
    const pool = this.pool;
    this.pool = undefined;
    await pool?.close();
  }

  private batchIndices(epoch: number): Int32Array[] {
    const order = this.sampler?.select(this.order(epoch)) ?? this.order(epoch);
    return Array.from({ length: this.length }, (_, b) =>
      order.slice(b * this.batchSize, Math.min((b + 1) * this.batchSize, order.length)),
    );
  }

  private async *iterate(epoch: number): AsyncGenerator<Batch> {
    const batches = this.batchIndices(epoch);
    if (this.workers === 0) {
      for (const indices of batches) {
        const raw = await fetchBatch(this.dataset, this.transform, indices, this.seed, epoch);
        if (this.noteSkipped(raw)) yield toTensors(raw, indices);
      }
      return;
    }
    this.pool ??= new WorkerPool(this.workers, {
      dataset: this.dataset.toSpec!(),
      transform: this.transformSpec,
    });
    const pool = this.pool;
    const ahead = Math.max(this.prefetch, this.workers);
    const pending: (Promise<RawBatch> | undefined)[] = [];
    let requested = 0;
    for (let b = 0; b < batches.length; b++) {
      while (requested < batches.length && requested <= b + ahead) {
        const promise = pool.run(batches[requested], this.seed, epoch);
        // A batch still loading when the consumer stops early must not become an unhandled rejection.
        promise.catch(() => undefined);
        pending[requested++] = promise;
      }
      const raw = await pending[b]!;
      pending[b] = undefined;
      if (this.noteSkipped(raw)) yield toTensors(raw, batches[b]);
    }
  }

  /** Warns once per unreadable file; whether the batch kept any sample. */
  private noteSkipped(raw: RawBatch): boolean {
    for (const { file, reason } of raw.skipped ?? []) {
      if (this.skipped.has(file)) continue;
      this.skipped.set(file, reason);
      this.onSkip(file, reason);
    }
    return raw.labels.length > 0;
  }
}

function toTensors(raw: RawBatch, indices: Int32Array): Batch {
  return {
    images: tensor(raw.images, raw.shape),
    labels: tensor(raw.labels, [raw.labels.length], { dtype: 'int32' }),
    indices: raw.kept ?? indices,
  };
}

/** A loader over `dataset`; iterate it with `for await (const batch of loader)`, one epoch per loop. */
export function loader(dataset: Dataset, options: LoaderOptions): DataLoader {
  return new DataLoader(dataset, options);
}
