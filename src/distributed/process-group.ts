/**
 * Process groups: the processes of one training, each with its rank, joined by Gloo's TCP pairs. Configured by
 * torchrun's conventions (RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT) or by options; rank 0 serves the rendezvous.
 */
import { DistributedError, ValueError } from '../errors.js';
import { checkOptions } from '../options.js';
import { glooBinding, type NativeGroup } from './gloo.js';
import { serveStore, StoreClient } from './store.js';

/** Where a process stands in its group and how to find the others; each defaults to its environment variable. */
export interface ProcessGroupOptions {
  /** This process's rank, 0 … worldSize − 1; default RANK, else 0. */
  rank?: number;
  /** How many processes train together; default WORLD_SIZE, else 1. */
  worldSize?: number;
  /** The host rank 0 runs on; default MASTER_ADDR, else 127.0.0.1. */
  masterAddr?: string;
  /** The port rank 0 serves the rendezvous on; default MASTER_PORT, else 29500 (PyTorch's). */
  masterPort?: number;
  /** How long to wait for the others to join, and for each collective to finish; default 1800 s (PyTorch's). */
  timeoutSeconds?: number;
}

/** The group's settings, from the options or else the environment. */
export interface ProcessGroupSettings {
  rank: number;
  worldSize: number;
  masterAddr: string;
  masterPort: number;
  timeoutSeconds: number;
}

function integerSetting(name: string, given: number | undefined, variable: string, fallback: number): number {
  const raw = given ?? process.env[variable];
  const value = raw === undefined || raw === '' ? fallback : Number(raw);
  if (!Number.isInteger(value))
    throw new ValueError(
      `process group: ${name} must be an integer, got ${given === undefined ? `${variable}=${String(raw)}` : String(raw)}`,
    );
  return value;
}

const settingNames = {
  rank: true,
  worldSize: true,
  masterAddr: true,
  masterPort: true,
  timeoutSeconds: true,
} as const;

/** Reads the options, falling back on RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT; checks their ranges. */
export function processGroupSettings(options: ProcessGroupOptions = {}): ProcessGroupSettings {
  checkOptions('distributed.processGroupSettings', options, settingNames);
  const worldSize = integerSetting('worldSize', options.worldSize, 'WORLD_SIZE', 1);
  const rank = integerSetting('rank', options.rank, 'RANK', 0);
  const masterPort = integerSetting('masterPort', options.masterPort, 'MASTER_PORT', 29500);
  const masterAddr = options.masterAddr ?? (process.env.MASTER_ADDR || '127.0.0.1');
  const timeoutSeconds = options.timeoutSeconds ?? 1800;
  if (worldSize < 1) throw new ValueError(`process group: the world size must be ≥ 1, got ${worldSize}`);
  if (rank < 0 || rank >= worldSize)
    throw new ValueError(
      `process group: rank ${rank} is outside 0 … ${worldSize - 1} (world size ${worldSize})`,
    );
  if (masterPort < 1 || masterPort > 65535)
    throw new ValueError(`process group: the master port must be in 1 … 65535, got ${masterPort}`);
  if (!(timeoutSeconds > 0))
    throw new ValueError(`process group: timeoutSeconds must be > 0, got ${timeoutSeconds}`);
  return { rank, worldSize, masterAddr, masterPort, timeoutSeconds };
}

/** A collective under way. */
export interface PendingCollective {
  /** Blocks until it has finished and returns how long it ran, in seconds; throws why it failed. */
  wait(): number;
}

const finished: PendingCollective = { wait: () => 0 };

/**
 * One process of a group. Collectives run in the order they are started, on a thread of the group, so every rank
 * must start the same collectives in the same order, as with PyTorch's.
 */
export interface ProcessGroup {
  readonly rank: number;
  readonly worldSize: number;
  /** Starts summing `values` over every rank, in place; the array must stay untouched until wait() returns. */
  startAllreduce(values: Float32Array): PendingCollective;
  /** Sums `values` over every rank, in place. */
  allreduce(values: Float32Array): Promise<void>;
  /** Copies rank `root`'s `values` (default 0) into every other rank's array. */
  broadcast(values: Float32Array, root?: number): Promise<void>;
  /** Settles once every rank has reached it. */
  barrier(): Promise<void>;
}

/** Settles when the ticket's collective has; keeps the event loop alive meanwhile, as a pending socket would. */
async function settled(native: NativeGroup, ticket: number): Promise<void> {
  const keepAlive = setInterval(() => undefined, 1 << 30);
  try {
    await native.done(ticket);
  } finally {
    clearInterval(keepAlive);
  }
}

/** The group of a single process: every collective is the identity. */
class SingleProcess implements ProcessGroup {
  readonly rank = 0;
  readonly worldSize = 1;
  startAllreduce(): PendingCollective {
    return finished;
  }
  allreduce(): Promise<void> {
    return Promise.resolve();
  }
  broadcast(_values: Float32Array, root = 0): Promise<void> {
    checkRoot(root, 1);
    return Promise.resolve();
  }
  barrier(): Promise<void> {
    return Promise.resolve();
  }
}

function checkRoot(root: number, worldSize: number): void {
  if (!Number.isInteger(root) || root < 0 || root >= worldSize)
    throw new ValueError(`broadcast: root ${root} is outside 0 … ${worldSize - 1}`);
}

class GlooGroup implements ProcessGroup {
  constructor(
    readonly rank: number,
    readonly worldSize: number,
    private readonly native: NativeGroup,
  ) {}

  startAllreduce(values: Float32Array): PendingCollective {
    const ticket = this.native.startAllreduce(values);
    return {
      wait: () => {
        try {
          return this.native.wait(ticket);
        } catch (error) {
          throw this.explained(error);
        }
      },
    };
  }

  allreduce(values: Float32Array): Promise<void> {
    return this.settled(this.native.startAllreduce(values));
  }

  broadcast(values: Float32Array, root = 0): Promise<void> {
    checkRoot(root, this.worldSize);
    return this.settled(this.native.startBroadcast(values, root));
  }

  barrier(): Promise<void> {
    return this.settled(this.native.startBarrier());
  }

  /** Gloo's message with this rank, and what a closed connection means. */
  explained(error: unknown): DistributedError {
    const message = (error as Error).message;
    const ended = /closed by peer|Connection reset|Broken pipe|Read error|Write error/i.test(message);
    return new DistributedError(
      `rank ${this.rank} of ${this.worldSize}: ${message}${ended ? ' (another rank ended)' : ''}`,
    );
  }

  settled(ticket: number): Promise<void> {
    return settled(this.native, ticket).catch((error: unknown) => {
      throw this.explained(error);
    });
  }
}

/** What the store holds for each rank: its world size and the address of its pair for every other rank. */
interface Arrival {
  worldSize: number;
  addresses: string[];
}

/**
 * Joins the group: rank 0 serves the rendezvous at masterAddr:masterPort, every rank publishes its Gloo pairs'
 * addresses there and connects to the others; settles once all have. A world of one needs neither Gloo nor a
 * network. A peer that never comes, a wrong address or a port in use ends in a DistributedError of one line.
 */
export async function initProcessGroup(options: ProcessGroupOptions = {}): Promise<ProcessGroup> {
  checkOptions('distributed.initProcessGroup', options, settingNames);
  const settings = processGroupSettings(options);
  const { rank, worldSize, masterAddr, masterPort, timeoutSeconds } = settings;
  if (worldSize === 1) return new SingleProcess();
  const loaded = glooBinding();
  if ('reason' in loaded)
    throw new DistributedError(`a world size of ${worldSize} needs the Gloo binding: ${loaded.reason}`);
  const deadline = performance.now() + timeoutSeconds * 1000;
  const server = rank === 0 ? await serveStore(masterPort) : undefined;
  let client: StoreClient | undefined;
  try {
    client = await StoreClient.connect(masterAddr, masterPort, deadline);
    let native: NativeGroup;
    try {
      native = new loaded.binding.ProcessGroup(rank, worldSize, client.localAddress, timeoutSeconds * 1000);
    } catch (error) {
      throw new DistributedError(`rank ${rank}: ${(error as Error).message}`);
    }
    const arrival: Arrival = { worldSize, addresses: native.addresses().map((a) => a.toString('base64')) };
    await client.set(`rank/${rank}`, JSON.stringify(arrival));
    const peerAddresses = await gatherArrivals(client, settings, deadline);
    const group = new GlooGroup(rank, worldSize, native);
    await group.settled(native.startConnect(peerAddresses));
    await group.barrier();
    return group;
  } finally {
    client?.close();
    server?.close();
  }
}

/** Every other rank's pair address for this rank, once each has arrived; names the ranks that never did. */
async function gatherArrivals(
  client: StoreClient,
  { rank, worldSize, timeoutSeconds, masterAddr, masterPort }: ProcessGroupSettings,
  deadline: number,
): Promise<Buffer[]> {
  const missing = new Set(Array.from({ length: worldSize }, (_, i) => i).filter((i) => i !== rank));
  const addresses: Buffer[] = Array.from({ length: worldSize }, () => Buffer.alloc(0));
  const notJoined = () =>
    `rank ${rank}: rank${missing.size > 1 ? 's' : ''} ${[...missing].join(', ')} of ${worldSize} did not join within ${timeoutSeconds} s (master ${masterAddr}:${masterPort})`;
  await Promise.all(
    [...missing].map(async (peer) => {
      const arrival = JSON.parse(await client.get(`rank/${peer}`, deadline, notJoined)) as Arrival;
      if (arrival.worldSize !== worldSize)
        throw new DistributedError(
          `rank ${peer} was started with world size ${arrival.worldSize}, rank ${rank} with ${worldSize}`,
        );
      addresses[peer] = Buffer.from(arrival.addresses[rank], 'base64');
      missing.delete(peer);
    }),
  );
  return addresses;
}
