import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConvnetsError } from '../errors.js';
import { UsageError, defineCommand, refuseArguments, type Parsed } from './command.js';
import { numberOption } from './train-setup.js';
import { signalExitCode } from './signals.js';

/**
 * The workloads and the models of inference and of training at 224×224 that bench/bench.mjs measures
 * (bench/common.mjs: WORKLOADS, INFERENCE_MODELS).
 */
export const BENCH_WORKLOADS = ['conv', 'train', 'infer', 'train224'] as const;
export const BENCH_MODELS = ['resnet18', 'resnet50', 'vgg16', 'googlenet'] as const;

/**
 * The repository's benchmark script. This file is dist/src/cli/bench.js, three levels below the package root;
 * the published package leaves bench/ out (package.json "files"), so only a checkout has it.
 */
export function benchScript(): string {
  return join(resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..'), 'bench', 'bench.mjs');
}

function listOption(name: string, value: string | undefined, known: readonly string[]): string[] {
  if (value === undefined) return [...known];
  const items = value.split(',').map((item) => item.trim());
  const unknown = items.filter((item) => !known.includes(item));
  if (items.length === 0 || unknown.length > 0) {
    throw new UsageError(
      `--${name} takes a comma-separated list of ${known.join(', ')}, got '${String(value)}'`,
    );
  }
  return items;
}

const options = {
  threads: { value: 'N', help: 'threads for every library measured', default: 'every core' },
  seconds: { value: 'S', help: 'time spent measuring each workload', default: "the benchmark's" },
  only: { value: BENCH_WORKLOADS.join(','), help: 'the workloads to run', default: 'all' },
  models: {
    value: BENCH_MODELS.join(','),
    help: 'the models of inference and of training at 224×224',
    default: 'all',
  },
  'train-size': {
    value: 'SIDE',
    help: 'image side of the train224 workloads, smaller for a trial',
    default: '224',
  },
  'train-batch': { value: 'N', help: 'one batch for every train224 workload', default: '32, VGG-16 16' },
  json: { help: 'print the results as JSON' },
};

/**
 * `convnets bench`: the project's benchmark (bench/bench.mjs, what `make bench` runs) with the same options,
 * checked here so that a wrong one is one line; its output and exit status are the benchmark's. It needs a
 * repository checkout: an installed package has no bench/, which is one line and exit status 1.
 */
export const benchCommand = defineCommand({
  name: 'bench',
  summary: 'the benchmark against PyTorch and onnxruntime-node (make bench; needs a checkout)',
  synopsis: [
    '[--threads N] [--seconds S] [--only WORKLOADS] [--models ...] [--train-size SIDE] [--train-batch N] [--json]',
  ],
  description:
    'Runs bench/bench.mjs, which ships with the repository and not the npm package: run it from a checkout.\n' +
    'Peers (PyTorch, onnxruntime-node) are measured in the same run and the ratios printed.',
  options,
  examples: [
    'convnets bench --threads 2 --only infer --models resnet18',
    'convnets bench --only train224 --seconds 0.1 --train-size 64 --train-batch 2',
    'convnets bench --json',
  ],
  run: runBench,
});

async function runBench({ values, positionals }: Parsed<typeof options>): Promise<number> {
  refuseArguments('bench', positionals);
  const forwarded: string[] = [];
  if (values.threads !== undefined) {
    const cores = availableParallelism();
    const threads = numberOption('threads', values.threads, cores, { integer: true, min: 1 });
    if (threads > cores)
      throw new UsageError(
        `--threads must be at most ${cores} (the cores this machine offers), got ${threads}`,
      );
    forwarded.push('--threads', String(threads));
  }
  if (values.seconds !== undefined) {
    const seconds = Number(values.seconds);
    if (values.seconds.trim() === '' || !(seconds > 0) || !Number.isFinite(seconds))
      throw new UsageError(`--seconds must be a number > 0, got '${String(values.seconds)}'`);
    forwarded.push('--seconds', String(seconds));
  }
  if (values.only !== undefined)
    forwarded.push('--only', listOption('only', values.only, BENCH_WORKLOADS).join());
  if (values.models !== undefined)
    forwarded.push('--models', listOption('models', values.models, BENCH_MODELS).join());
  for (const name of ['train-size', 'train-batch'] as const) {
    if (values[name] !== undefined)
      forwarded.push(`--${name}`, String(numberOption(name, values[name], 0, { integer: true, min: 1 })));
  }
  if (values.json === true) forwarded.push('--json');

  const script = benchScript();
  if (!existsSync(script)) {
    throw new ConvnetsError(
      `no benchmark at ${script}: bench/ ships with the repository, not the npm package; run it from a checkout (make bench)`,
    );
  }
  return runChild(script, forwarded);
}

/** Runs a Node script with the terminal; SIGINT and SIGTERM reach it, and its exit status is returned. */
function runChild(script: string, args: readonly string[]): Promise<number> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [script, ...args], { stdio: 'inherit' });
    // The benchmark decides how a signal ends it; this process waits for it and reports its status.
    const forward = (signal: NodeJS.Signals) => child.kill(signal);
    process.on('SIGINT', forward);
    process.on('SIGTERM', forward);
    const dispose = () => {
      process.off('SIGINT', forward);
      process.off('SIGTERM', forward);
    };
    child.on('error', (error) => {
      dispose();
      fail(error);
    });
    child.on('close', (code, signal) => {
      dispose();
      done(signal !== null ? signalExitCode(signal) : (code ?? 1));
    });
  });
}
