import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConvnetsError, ValueError } from '../errors.js';
import { parseCommandArgs, refuseArguments } from './args.js';
import { numberOption } from './train-setup.js';
import { signalExitCode } from './signals.js';

/** The workloads and inference models bench/bench.mjs measures (bench/common.mjs: WORKLOADS, INFERENCE_MODELS). */
export const BENCH_WORKLOADS = ['conv', 'train', 'infer'] as const;
export const BENCH_MODELS = ['resnet18', 'resnet50', 'vgg16', 'googlenet'] as const;

/**
 * The repository's benchmark script. This file is dist/src/cli/bench.js, three levels below the package root;
 * the published package leaves bench/ out (package.json "files"), so only a checkout has it.
 */
export function benchScript(): string {
  return join(resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..'), 'bench', 'bench.mjs');
}

function listOption(name: string, value: string | boolean | undefined, known: readonly string[]): string[] {
  if (value === undefined) return [...known];
  const items = typeof value === 'string' ? value.split(',').map((item) => item.trim()) : [];
  const unknown = items.filter((item) => !known.includes(item));
  if (items.length === 0 || unknown.length > 0) {
    throw new ValueError(
      `--${name} takes a comma-separated list of ${known.join(', ')}, got '${String(value)}'`,
    );
  }
  return items;
}

/**
 * `convnets bench`: the project's benchmark (bench/bench.mjs, what `make bench` runs) with the same options,
 * checked here so that a wrong one is one line; its output and exit status are the benchmark's. It needs a
 * repository checkout: an installed package has no bench/, which is one line and exit status 1.
 */
export async function runBench(args: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs(args, {
    threads: { type: 'string' },
    seconds: { type: 'string' },
    only: { type: 'string' },
    models: { type: 'string' },
    json: { type: 'boolean' },
  });
  refuseArguments('bench', positionals);
  const forwarded: string[] = [];
  if (values.threads !== undefined) {
    const cores = availableParallelism();
    const threads = numberOption('threads', values.threads, cores, { integer: true, min: 1 });
    if (threads > cores)
      throw new ValueError(
        `--threads must be at most ${cores} (the cores this machine offers), got ${threads}`,
      );
    forwarded.push('--threads', String(threads));
  }
  if (values.seconds !== undefined) {
    const seconds = typeof values.seconds === 'string' ? Number(values.seconds) : NaN;
    if (values.seconds === '' || !(seconds > 0) || !Number.isFinite(seconds))
      throw new ValueError(`--seconds must be a number > 0, got '${String(values.seconds)}'`);
    forwarded.push('--seconds', String(seconds));
  }
  if (values.only !== undefined)
    forwarded.push('--only', listOption('only', values.only, BENCH_WORKLOADS).join());
  if (values.models !== undefined)
    forwarded.push('--models', listOption('models', values.models, BENCH_MODELS).join());
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
