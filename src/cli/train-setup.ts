/**
 * What `convnets train` and its sibling verbs share: each model's training defaults (kept in its ModelInfo), the
 * data sets with an optional limit, and strict parsing of option values.
 */
import { availableParallelism } from 'node:os';
import { ValueError } from '../errors.js';
import { UsageError } from './command.js';
import { Subset, type Dataset } from '../data/index.js';
import * as models from '../models/index.js';
import { trainingData } from '../train/index.js';

export function defaultsFor(model: string): models.TrainingDefaults {
  const known = models.list().filter((info) => info.training !== undefined);
  const found = known.find((info) => info.name === model);
  if (found?.training === undefined) {
    throw new ValueError(
      `no training defaults for '${model}' on 28×28 grey images; models with defaults: ${known.map((info) => info.name).join(', ')}`,
    );
  }
  return found.training;
}

export function loadDataset(name: string, split: 'train' | 'test', limit?: number): Dataset {
  const dataset = trainingData(name).load(split);
  if (limit === undefined || limit >= dataset.length) return dataset;
  return new Subset(
    dataset,
    Array.from({ length: limit }, (_, i) => i),
  );
}

/** Strict number parsing for options: `--epochs 3x` is an error, not 3. */
export function numberOption(
  name: string,
  value: string | boolean | undefined,
  fallback: number,
  { integer = false, min = 0 } = {},
): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (
    typeof value !== 'string' ||
    value.trim() === '' ||
    !Number.isFinite(n) ||
    (integer && !Number.isInteger(n)) ||
    n < min
  ) {
    throw new UsageError(
      `--${name} must be ${integer ? 'an integer' : 'a number'} ≥ ${min}, got '${String(value)}'`,
    );
  }
  return n;
}

/** --workers: loader threads, at most one per core (os.availableParallelism()), never oversubscribing. */
export function workersOption(value: string | boolean | undefined, fallback: number): number {
  const cores = availableParallelism();
  const workers = numberOption('workers', value, fallback, { integer: true });
  if (workers > cores)
    throw new UsageError(
      `--workers must be at most ${cores} (the cores this machine offers), got ${workers}`,
    );
  return workers;
}

export function choiceOption<T extends string>(
  name: string,
  value: string | boolean | undefined,
  fallback: T,
  choices: readonly T[],
): T {
  if (value === undefined) return fallback;
  if (typeof value !== 'string' || !choices.includes(value as T)) {
    throw new UsageError(`--${name} must be one of ${choices.join(', ')}, got '${String(value)}'`);
  }
  return value as T;
}
