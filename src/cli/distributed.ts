/**
 * `convnets train`'s distributed options (torchrun's conventions: --world-size, --rank, --master host:port, or
 * WORLD_SIZE, RANK, MASTER_ADDR and MASTER_PORT) and joining the group they describe.
 */
import { initProcessGroup, type AllreduceStats, type ProcessGroup } from '../distributed/index.js';
import { UsageError } from './command.js';
import { numberOption } from './train-setup.js';

export const distributedOptions = {
  'world-size': {
    value: 'N',
    help: 'processes training together, each on its share of every batch (data parallelism over Gloo)',
    default: 'WORLD_SIZE, else 1',
  },
  rank: {
    value: 'R',
    help: "this process's rank, 0 … N−1; rank 0 writes the checkpoints",
    default: 'RANK, else 0',
  },
  master: {
    value: 'HOST:PORT',
    help: "rank 0's address, where the ranks meet",
    default: 'MASTER_ADDR:MASTER_PORT, else 127.0.0.1:29500',
  },
  'dist-timeout': {
    value: 'S',
    help: 'seconds to wait for every rank to join, and for each gradient exchange',
    default: '1800',
  },
};

interface DistributedValues {
  'world-size'?: string;
  rank?: string;
  master?: string;
  'dist-timeout'?: string;
}

/** Host and port of --master; a malformed one is a usage error. */
export function parseMaster(text: string): { masterAddr: string; masterPort: number } {
  const match = /^(.+):(\d+)$/.exec(text);
  const port = match === null ? NaN : Number(match[2]);
  if (match === null || !(port >= 1 && port <= 65535))
    throw new UsageError(`--master must be HOST:PORT with a port in 1 … 65535, got '${text}'`);
  return { masterAddr: match[1].replace(/^\[(.*)\]$/, '$1'), masterPort: port };
}

/** Whether the options or the environment ask for more than one process. */
export function wantsDistributed(values: DistributedValues): boolean {
  const worldSize = values['world-size'] ?? process.env.WORLD_SIZE;
  return worldSize !== undefined && worldSize !== '' && worldSize !== '1';
}

/** Joins the group the options (else the environment) describe; a world of one needs no Gloo. */
export async function joinGroup(values: DistributedValues): Promise<ProcessGroup> {
  const optional = (name: string, value: string | undefined, min: number) =>
    value === undefined ? undefined : numberOption(name, value, 0, { integer: true, min });
  const master = values.master === undefined ? {} : parseMaster(values.master);
  return initProcessGroup({
    worldSize: optional('world-size', values['world-size'], 1),
    rank: optional('rank', values.rank, 0),
    ...master,
    timeoutSeconds:
      values['dist-timeout'] === undefined
        ? undefined
        : numberOption('dist-timeout', values['dist-timeout'], 1800, { min: 0.001 }),
  });
}

/**
 * Rank 0's last word on the gradient averaging: the allreduce time per step, and how much of it the training thread
 * still waited for after backward (what the overlap with backward did not hide).
 */
export function allreduceLine(stats: AllreduceStats, worldSize: number): string {
  const { steps, allreduceSeconds, waitSeconds, buckets } = stats;
  const perStep = (seconds: number) => `${((1000 * seconds) / Math.max(steps, 1)).toFixed(1)} ms`;
  const hidden = allreduceSeconds > 0 ? Math.max(0, 1 - waitSeconds / allreduceSeconds) : 1;
  return (
    `gradients averaged over ${worldSize} processes in ${buckets} bucket(s), ${steps} steps: allreduce ` +
    `${perStep(allreduceSeconds)} per step, waited for ${perStep(waitSeconds)} after backward ` +
    `(${(100 * hidden).toFixed(0)} % hidden by the overlap)`
  );
}
