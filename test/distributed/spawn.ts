/** Starting ranks of the distributed tests (worker.ts) as child processes on 127.0.0.1. */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { WORKER_FLAG, type WorkerJob } from './worker.js';

const workerScript = fileURLToPath(new URL('./worker.js', import.meta.url));

/** A port nobody listens on now (the kernel's choice). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** A rank under way: its process, what it printed so far, and how it ended. */
export interface Rank {
  child: ChildProcess;
  output: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>;
}

/** Starts `rank` of `worldSize` on the job, with torchrun's variables; one thread each, as the launcher gives them. */
export function startRank(rank: number, worldSize: number, port: number, job: WorkerJob): Rank {
  const child = spawn(process.execPath, [workerScript], {
    env: {
      ...process.env,
      [WORKER_FLAG]: '1',
      CONVNETS_DISTRIBUTED_JOB: JSON.stringify(job),
      CONVNETS_THREADS: '1',
      RANK: String(rank),
      WORLD_SIZE: String(worldSize),
      MASTER_ADDR: '127.0.0.1',
      MASTER_PORT: String(port),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>(
    (resolve) => child.on('close', (code, signal) => resolve({ code, signal, stderr })),
  );
  return { child, output: () => stdout, exited };
}

/** Runs every rank of the job to its end; rejects naming the rank that failed. */
export async function runRanks(worldSize: number, job: WorkerJob): Promise<void> {
  const port = await freePort();
  const ranks = Array.from({ length: worldSize }, (_, rank) => startRank(rank, worldSize, port, job));
  const ends = await Promise.all(ranks.map((r) => r.exited));
  ends.forEach(({ code, signal, stderr }, rank) => {
    if (code !== 0) throw new Error(`rank ${rank} of ${worldSize} ended with ${code ?? signal}: ${stderr}`);
  });
}
