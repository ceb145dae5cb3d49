/**
 * Data-parallel training over Gloo: process groups from torchrun's conventions, gradient averaging in buckets during
 * backward, and the distributed sampler. Node only (TCP and a native binding).
 */
export {
  initProcessGroup,
  processGroupSettings,
  type ProcessGroup,
  type ProcessGroupOptions,
  type ProcessGroupSettings,
  type PendingCollective,
} from './process-group.js';
export {
  DistributedDataParallel,
  distributedDataParallel,
  type DataParallelOptions,
  type AllreduceStats,
} from './data-parallel.js';
export { distributedSampler, type DistributedSamplerOptions, type ShardSampler } from './sampler.js';
export { glooAvailable } from './gloo.js';
