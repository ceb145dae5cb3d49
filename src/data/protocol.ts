/** Messages between the loader (main thread) and its workers. Everything here is structured-clone-able. */
import type { DatasetSpec } from './datasets/dataset.js';
import type { RawBatch } from './batch.js';
import type { TransformSpec } from './transforms/spec.js';

export interface WorkerInit {
  dataset: DatasetSpec;
  transform: TransformSpec | null;
}

export interface BatchRequest {
  id: number;
  indices: Int32Array;
  seed: number;
  epoch: number;
}

export interface SerialisedError {
  name: string;
  message: string;
  stack: string | undefined;
}

export type BatchResponse = ({ id: number } & RawBatch) | { id: number; error: SerialisedError };
