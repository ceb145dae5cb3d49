/**
 * The distributed sampler, as PyTorch's DistributedSampler: rank r of N takes every N-th index of the epoch's order
 * from the r-th, so that N processes with batch B see the global batches of one process with batch N·B.
 */
import { ValueError } from '../errors.js';
import { checkOptions } from '../options.js';

/** Which shard a sampler keeps. */
export interface DistributedSamplerOptions {
  rank: number;
  worldSize: number;
  /**
   * Leave out the tail that does not divide evenly among the ranks (default false: the order is padded with its own
   * first indices, so every rank has as many samples and as many steps, as in PyTorch).
   */
  dropLast?: boolean;
}

/** What a data.loader's `sampler` option takes: the indices of each epoch it visits, from the epoch's order. */
export interface ShardSampler {
  /** How many indices `select` keeps of an order of `datasetLength`. */
  count(datasetLength: number): number;
  /** This rank's indices, in the order they come in `order`. */
  select(order: Int32Array): Int32Array;
}

/** Every worldSize-th index of each epoch's order, from the rank-th: this rank's disjoint shard. */
export function distributedSampler(options: DistributedSamplerOptions): ShardSampler {
  checkOptions('distributed.distributedSampler', options, { rank: true, worldSize: true, dropLast: true });
  const { rank, worldSize } = options;
  const dropLast = options.dropLast ?? false;
  if (!Number.isInteger(worldSize) || worldSize < 1)
    throw new ValueError(`distributedSampler: worldSize must be an integer ≥ 1, got ${worldSize}`);
  if (!Number.isInteger(rank) || rank < 0 || rank >= worldSize)
    throw new ValueError(`distributedSampler: rank ${rank} is outside 0 … ${worldSize - 1}`);
  const count = (length: number) =>
    dropLast ? Math.floor(length / worldSize) : Math.ceil(length / worldSize);
  return {
    count,
    select(order) {
      const shard = new Int32Array(count(order.length));
      // Past the end, the order wraps to its start: PyTorch's padding.
      for (let i = 0; i < shard.length; i++) shard[i] = order[(rank + i * worldSize) % order.length];
      return shard;
    },
  };
}
