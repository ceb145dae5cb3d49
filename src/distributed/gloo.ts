/**
 * The Gloo binding (native/gloo/, built into build/Release/convnets_gloo.node where libgloo-dev is installed): its
 * TypeScript face and its loading. Without it, only a world of one process runs.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

/** One process group of the binding: TCP pairs to every peer, collectives run in order on a thread of its own. */
export interface NativeGroup {
  /** Each peer's pair address on this rank (an empty buffer at this rank's own index). */
  addresses(): Buffer[];
  /** Connects each pair to the address the peer's pair for this rank has. */
  startConnect(peerAddresses: Buffer[]): number;
  /** Sums `values` over every rank, in place. */
  startAllreduce(values: Float32Array): number;
  /** Copies root's `values` into every rank's. */
  startBroadcast(values: Float32Array, root: number): number;
  startBarrier(): number;
  /** Blocks until the collective of this ticket has finished; throws its one-line error, else gives its seconds. */
  wait(ticket: number): number;
  /** Settles with the seconds the collective of this ticket ran, once it has finished. */
  done(ticket: number): Promise<number>;
}

interface Binding {
  ProcessGroup: new (rank: number, size: number, hostname: string, timeoutMs: number) => NativeGroup;
}

/** build/Release at the repository root, three levels above dist/src/distributed/; CONVNETS_GLOO_ADDON overrides. */
const bindingPath =
  process.env.CONVNETS_GLOO_ADDON ??
  fileURLToPath(new URL('../../../build/Release/convnets_gloo.node', import.meta.url));

let loaded: { binding: Binding } | { reason: string } | undefined;

/** The binding, or why it is not there (one line). */
export function glooBinding(): { binding: Binding } | { reason: string } {
  loaded ??= load();
  return loaded;
}

function load(): { binding: Binding } | { reason: string } {
  if (!existsSync(bindingPath))
    return {
      reason: 'Gloo is missing: apt-get install libgloo-dev, then make setup (or node native/build.mjs)',
    };
  try {
    return { binding: createRequire(import.meta.url)(bindingPath) as Binding };
  } catch (error) {
    return { reason: `the Gloo binding does not load: ${(error as Error).message.split('\n')[0]}` };
  }
}

/** Whether the Gloo binding loads here, so that a world of more than one process can form. */
export function glooAvailable(): boolean {
  return 'binding' in glooBinding();
}
