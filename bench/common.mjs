/* global process, console, performance */
// What every part of the benchmark shares: the command line, the log and the timing (docs: bench/README.md).
import { availableParallelism } from 'node:os';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** Workload 2's and workload 4's models, by their names in convnets' registry and in torchvision. */
export const INFERENCE_MODELS = ['resnet18', 'resnet50', 'vgg16', 'googlenet'];
export const WORKLOADS = ['conv', 'train', 'infer', 'train224'];

function option(name, fallback) {
  const at = process.argv.indexOf(`--${name}`);
  return at === -1 ? fallback : process.argv[at + 1];
}
function list(name, fallback, known) {
  const values = option(name, fallback.join(',')).split(',');
  const unknown = values.filter((v) => !known.includes(v));
  if (unknown.length > 0)
    throw new Error(`--${name}: unknown ${unknown.join(', ')} (known: ${known.join(', ')})`);
  return values;
}

function positiveInteger(name, fallback) {
  const value = option(name, null);
  if (value === null) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${name}: expected an integer ≥ 1, got '${value}'`);
  return n;
}

export const asJson = process.argv.includes('--json');
/** A saved `--json` run whose table to print instead of measuring. */
export const tableOf = option('table', null);
export const threads = Number(option('threads', process.env.CONVNETS_THREADS ?? availableParallelism()));
const secondsGiven = option('seconds', null);
/** At least this long per measurement of workloads 2 and 4, in turns with the peers. */
export const seconds = Number(secondsGiven ?? '3');
/**
 * The same for workloads 1 and 3, whose steps take milliseconds: at 3 s two runs gave PyTorch's ResNet-20 536 and 465
 * images/s, at 12 s 500 and 498, the ratios within 1.1 % (2026-12-06, bench/RESULTS.md); later runs of one build
 * gave ratios 6 % apart, as the machine's speed drifted.
 */
export const stepSeconds = Number(secondsGiven ?? '12');
export const only = list('only', WORKLOADS, WORKLOADS);
export const inferenceModels = list('models', INFERENCE_MODELS, INFERENCE_MODELS);
/** Workload 4's image side and, when given, one batch for all its models: smaller for a quick trial of the code. */
export const trainSize = positiveInteger('train-size', 224);
export const trainBatch = positiveInteger('train-batch', null);
// Read by the native backend when it loads: set before anything imports it.
process.env.CONVNETS_THREADS = String(threads);

export const log = (line) => {
  if (!asJson) console.error(line);
};

function summary(times) {
  times.sort((a, b) => a - b);
  return { seconds: times[0], median: times[Math.floor(times.length / 2)], reps: times.length };
}

/** `interleaved` for one function: one round of at least `minReps` calls and `blockSeconds`. */
export async function timed(fn, minReps = 5, warmup = 2, blockSeconds = seconds) {
  return (await interleaved({ fn }, 1, minReps, warmup, blockSeconds)).fn;
}

/**
 * Best and median seconds of one call of each function (sync, or async as onnxruntime-node's session.run) after
 * `warmup` untimed calls each, timed in alternating rounds: each runs a block of at least `seconds / rounds` in
 * turn, `rounds` times over, at least `minReps` calls in all, so that a disturbance of the shared machine falls on
 * all of them alike and the ratios of their figures hold up. Figures use the best: on a shared machine it is the
 * call least disturbed by other work. Returns each one's summary by name.
 */
export async function interleaved(fns, rounds = 3, minReps = 6, warmup = 2, totalSeconds = seconds) {
  const entries = Object.entries(fns);
  for (const [, fn] of entries) for (let i = 0; i < warmup; i++) await fn();
  const times = Object.fromEntries(entries.map(([name]) => [name, []]));
  for (let round = 1; round <= rounds; round++) {
    for (const [name, fn] of entries) {
      const start = performance.now();
      const mine = times[name];
      while (
        mine.length < (minReps * round) / rounds ||
        performance.now() - start < (totalSeconds * 1000) / rounds
      ) {
        const t = performance.now();
        await fn();
        mine.push((performance.now() - t) / 1000);
      }
    }
  }
  return Object.fromEntries(entries.map(([name]) => [name, summary(times[name])]));
}

/**
 * One figure from several rounds' (each a summary): the best time of all, the median of the rounds' medians, and
 * every repetition counted.
 */
export function bestOfRounds(figures) {
  const medians = figures.map((f) => f.median).sort((a, b) => a - b);
  const best = figures.reduce((a, b) => (b.seconds < a.seconds ? b : a));
  return {
    ...best,
    median: medians[Math.floor(medians.length / 2)],
    reps: figures.reduce((n, f) => n + f.reps, 0),
  };
}

/**
 * One inference figure: the timing plus batch-1 latency in ms, images/s and GFLOP/s (FLOPs = 2 × MACs per image,
 * the registry's MACs at 224×224).
 */
export function inferenceFigure({ seconds: best, median, reps }, batch, macs) {
  return {
    batch,
    seconds: best,
    median,
    reps,
    ms: best * 1000,
    imagesPerSecond: batch / best,
    gflops: (2 * macs * batch) / best / 1e9,
  };
}
