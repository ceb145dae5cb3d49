/**
 * `convnets launch -n N -- train ...`: data-parallel training in N processes on this machine, as torchrun's
 * --standalone: each gets RANK, WORLD_SIZE, MASTER_ADDR=127.0.0.1 and MASTER_PORT, and an equal share of the cores
 * (CONVNETS_THREADS); their output comes back prefixed with their rank. A rank that fails ends the others.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { UsageError, defineCommand } from './command.js';
import { numberOption } from './train-setup.js';

const options = {
  nproc: { value: 'N', short: 'n', help: 'processes to start, each training on its share of every batch' },
  'master-port': { value: 'PORT', help: 'the port rank 0 serves the rendezvous on', default: 'a free one' },
  grace: {
    value: 'S',
    help: 'seconds the other ranks have to stop after one fails, before they are killed',
    default: '10',
  },
};

/** A port nobody listens on now, for rank 0's rendezvous. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** Copies a child's stream to ours line by line, each line prefixed with its rank. */
function forward(stream: NodeJS.ReadableStream, prefix: string, to: NodeJS.WritableStream): () => void {
  let pending = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    // A progress line rewritten in place (\r) comes through as a line of its own.
    const lines = (pending + chunk).split(/\r?\n|\r/);
    pending = lines.pop()!;
    for (const line of lines) if (line !== '') to.write(`${prefix}${line}\n`);
  });
  return () => {
    if (pending !== '') to.write(`${prefix}${pending}\n`);
    pending = '';
  };
}

const main = fileURLToPath(new URL('./main.js', import.meta.url));

export const launchCommand = defineCommand({
  name: 'launch',
  summary: 'train in N processes on this machine (data parallelism over Gloo)',
  synopsis: ['-n N [--master-port PORT] -- train <model> [train options]'],
  description:
    "Starts N processes of `convnets train ...` on 127.0.0.1 with torchrun's variables (RANK, WORLD_SIZE,\n" +
    'MASTER_ADDR, MASTER_PORT) and CONVNETS_THREADS set to an equal share of the cores (unless it is set). Each\n' +
    'process trains on every N-th sample of each epoch with --batch-size images per step, so N processes see the\n' +
    'batches of one process with N times the batch size; rank 0 writes the checkpoints and the report. Output is\n' +
    'prefixed with [rank R]. When a rank fails, the others are stopped (SIGTERM, then SIGKILL after --grace).',
  options,
  examples: [
    'convnets launch -n 2 -- train lenet5 --data fashion-mnist --batch-size 64 --out runs/lenet5-ddp',
    'convnets launch -n 2 --master-port 29500 -- train resnet20 --data cifar-10-batches-bin',
  ],
  async run({ values, positionals }) {
    if (values.nproc === undefined) throw new UsageError('-n N is required: how many processes to start');
    const nproc = numberOption('nproc', values.nproc, 1, { integer: true, min: 1 });
    if (positionals[0] !== 'train')
      throw new UsageError(`launch starts convnets train: put '-- train <model> ...' after its own options`);
    const given = positionals.find((arg) => /^--(world-size|rank|master)(=|$)/.test(arg));
    if (given !== undefined) throw new UsageError(`${given.split('=')[0]} is set by launch for each process`);
    const port =
      values['master-port'] === undefined
        ? await freePort()
        : numberOption('master-port', values['master-port'], 29500, { integer: true, min: 1 });
    if (port > 65535) throw new UsageError(`--master-port must be in 1 … 65535, got ${port}`);
    const grace = numberOption('grace', values.grace, 10, { min: 0 });
    const threads =
      process.env.CONVNETS_THREADS || String(Math.max(1, Math.floor(availableParallelism() / nproc)));
    return runRanks(nproc, port, threads, grace, positionals);
  },
});

/** Starts the ranks and waits for them; the exit status is the first failure's, else 0. */
function runRanks(
  nproc: number,
  port: number,
  threads: string,
  grace: number,
  args: string[],
): Promise<number> {
  const children: ChildProcess[] = [];
  let failure: { rank: number; status: number } | null = null;
  let killTimer: NodeJS.Timeout | undefined;
  const stopOthers = () => {
    for (const child of children)
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    killTimer ??= setTimeout(() => {
      for (const child of children)
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }, grace * 1000);
  };
  const onSignal = (signal: NodeJS.Signals) => {
    for (const child of children) if (child.exitCode === null) child.kill(signal);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const ends = Array.from({ length: nproc }, (_, rank) => {
    const child = spawn(process.execPath, [main, ...args], {
      env: {
        ...process.env,
        RANK: String(rank),
        WORLD_SIZE: String(nproc),
        MASTER_ADDR: '127.0.0.1',
        MASTER_PORT: String(port),
        CONVNETS_THREADS: threads,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(child);
    const prefix = `[rank ${rank}] `;
    const flushOut = forward(child.stdout!, prefix, process.stdout);
    const flushErr = forward(child.stderr!, prefix, process.stderr);
    return new Promise<void>((resolve) => {
      child.on('close', (code, signal) => {
        flushOut();
        flushErr();
        if (failure === null && code !== 0) {
          failure = { rank, status: code ?? 1 };
          if (children.some((c) => c !== child && c.exitCode === null && c.signalCode === null))
            process.stderr.write(
              `convnets launch: rank ${rank} ended with ${code === null ? signal : `status ${code}`}; stopping the other ranks\n`,
            );
          stopOthers();
        }
        resolve();
      });
    });
  });
  return Promise.all(ends).then(() => {
    clearTimeout(killTimer);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    return failure === null ? 0 : failure.status;
  });
}
