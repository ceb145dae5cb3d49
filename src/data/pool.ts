/**
 * The loader's worker threads. Each job is one batch; replies carry an id, so a batch is matched to its
 * request whatever order workers finish in. A worker is ref'd only while it has work, so an idle pool never
 * keeps the process alive, even if nobody calls close().
 */
import { Worker } from 'node:worker_threads';
import { BackendError, ConvnetsError, FormatError, ShapeError, ValueError } from '../errors.js';
import type { RawBatch } from './batch.js';
import type { BatchRequest, BatchResponse, SerialisedError, WorkerInit } from './protocol.js';

const ERROR_CLASSES: Record<string, new (message: string) => Error> = {
  ConvnetsError,
  ShapeError,
  FormatError,
  BackendError,
  ValueError,
  TypeError,
  RangeError,
};

/** Rebuilds a worker's error with its class and message, keeping the worker's stack. */
function revive(error: SerialisedError): Error {
  const revived = new (ERROR_CLASSES[error.name] ?? Error)(error.message);
  if (error.stack) revived.stack = error.stack;
  return revived;
}

/**
 * The parent's Node flags, less those that only make sense for the main script (workers refuse --input-type,
 * which `node -e` scripts often carry).
 */
function workerExecArgv(): string[] {
  const flags: string[] = [];
  const argv = process.execArgv;
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    if (['-e', '--eval', '-p', '--print'].includes(flag)) i++;
    else if (!/^--(input-type|eval|print)=/.test(flag)) flags.push(flag);
  }
  return flags;
}

interface Slot {
  worker: Worker;
  busy: number;
}

interface Job {
  slot: Slot;
  resolve: (batch: RawBatch) => void;
  reject: (error: Error) => void;
}

export class WorkerPool {
  private readonly slots: Slot[];
  private readonly jobs = new Map<number, Job>();
  private nextId = 0;
  private failure: Error | undefined;
  private closed = false;

  constructor(count: number, init: WorkerInit) {
    const url = new URL('./worker.js', import.meta.url);
    this.slots = Array.from({ length: count }, (_, n) => {
      const slot: Slot = {
        worker: new Worker(url, { workerData: init, execArgv: workerExecArgv() }),
        busy: 0,
      };
      slot.worker.unref();
      slot.worker.on('message', (response: BatchResponse) => this.settle(response));
      slot.worker.on('error', (error: Error) =>
        this.fail(new ConvnetsError(`data loader worker ${n} failed: ${error.message}`)),
      );
      slot.worker.on('exit', (code) => {
        if (!this.closed) this.fail(new ConvnetsError(`data loader worker ${n} exited with code ${code}`));
      });
      return slot;
    });
  }

  get size(): number {
    return this.slots.length;
  }

  /** Loads one batch on the least busy worker. */
  run(indices: Int32Array, seed: number, epoch: number): Promise<RawBatch> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.closed) return Promise.reject(new ConvnetsError('data loader: the worker pool is closed'));
    const slot = this.slots.reduce((best, s) => (s.busy < best.busy ? s : best));
    const id = this.nextId++;
    if (slot.busy++ === 0) slot.worker.ref();
    const promise = new Promise<RawBatch>((resolve, reject) => this.jobs.set(id, { slot, resolve, reject }));
    slot.worker.postMessage({ id, indices, seed, epoch } satisfies BatchRequest);
    return promise;
  }

  private release(job: Job): void {
    if (--job.slot.busy === 0) job.slot.worker.unref();
  }

  private settle(response: BatchResponse): void {
    const job = this.jobs.get(response.id);
    if (!job) return;
    this.jobs.delete(response.id);
    this.release(job);
    if ('error' in response) job.reject(revive(response.error));
    else job.resolve(response);
  }

  private fail(error: Error): void {
    this.failure ??= error;
    for (const [id, job] of this.jobs) {
      this.jobs.delete(id);
      this.release(job);
      job.reject(error);
    }
  }

  /** Terminates every worker; jobs still running are rejected. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.fail(new ConvnetsError('data loader: closed while a batch was loading'));
    await Promise.all(this.slots.map((slot) => slot.worker.terminate()));
  }
}
