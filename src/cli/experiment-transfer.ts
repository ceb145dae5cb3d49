/**
 * `convnets experiment transfer`: the course's advice on transfer learning, measured offline. A CIFAR ResNet-20 is
 * pretrained on Fashion-MNIST's classes 0–4, then classes 5–9 are learnt from k labelled images per class by four
 * strategies: from scratch; frozen backbone with the head trained on cached features; the last stage fine-tuned;
 * everything fine-tuned. Test accuracy (on all test images of classes 5–9) and training time go to a table and a
 * chart.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { arrayDataset, loader, type ArrayDataset, type Dataset } from '../data/index.js';
import * as models from '../models/index.js';
import type { Module } from '../nn/index.js';
import { getBackend } from '../backend/registry.js';
import { Generator, manualSeed } from '../tensor/index.js';
import {
  FASHION_MNIST_STATISTICS,
  augmentTransforms,
  evaluate,
  lineChart,
  parseAugment,
  planPreprocessing,
  resolveData,
  testTransform,
  trainTransform,
  transfer,
  type ChartSeries,
  type FreezeSpec,
  type TransferOptions,
} from '../train/index.js';
import { UsageError, type OptionValues } from './command.js';
import { ensureDirectory } from './files.js';
import { commandLine } from './signals.js';
import { numberOption } from './train-setup.js';

export const transferExperimentOptions = {
  'per-class': {
    value: 'K,K,...',
    help: 'labelled images per class of the new task',
    default: '10,100,1000',
  },
  'pretrain-epochs': { value: 'N', help: 'epochs of pretraining on classes 0–4', default: '8' },
  'pretrain-limit': {
    value: 'N',
    help: 'pretrain on the first N images of classes 0–4 only',
    default: 'all',
  },
  steps: { value: 'N', help: 'training steps of each strategy at each size', default: '300' },
  'test-limit': { value: 'N', help: 'test on the first N test images of classes 5–9 only', default: 'all' },
  seed: { value: 'N', help: 'the seed of weights, samples and shuffling', default: '1' },
  out: {
    value: 'DIR',
    help: 'where results.md, results.json and chart.svg go',
    default: 'docs/results/transfer',
  },
} as const;

type Values = OptionValues<typeof transferExperimentOptions>;

const DATA = 'fashion-mnist';
/** One colour per strategy; the two frozen ones share a colour, the recomputed one dashed. */
const COLORS = ['#888888', '#1f77b4', '#1f77b4', '#ff7f0e', '#2ca02c'];
const MODEL = 'resnet20';
const BATCH = 128;

interface Strategy {
  name: string;
  /** The model it starts from: the pretrained one (a copy), or fresh weights. */
  pretrained: boolean;
  freeze: FreezeSpec;
  lr: number;
  cacheFeatures: boolean;
}

const CACHED = 'frozen + cached features';
const RECOMPUTED = 'frozen, features recomputed';

const strategies: readonly Strategy[] = [
  { name: 'from scratch', pretrained: false, freeze: 'none', lr: 0.05, cacheFeatures: false },
  {
    name: CACHED,
    pretrained: true,
    freeze: 'all-but-head',
    lr: 0.05,
    cacheFeatures: true,
  },
  // The same frozen network and head as above, the frozen layers run again every epoch: what caching saves.
  {
    name: RECOMPUTED,
    pretrained: true,
    freeze: 'all-but-head',
    lr: 0.05,
    cacheFeatures: false,
  },
  { name: 'fine-tune last stage', pretrained: true, freeze: 'layer2', lr: 0.01, cacheFeatures: false },
  { name: 'fine-tune all', pretrained: true, freeze: 'none', lr: 0.01, cacheFeatures: false },
];

interface Result {
  strategy: string;
  perClass: number;
  top1: number;
  /** The whole strategy's training time, computing the feature cache included. */
  seconds: number;
  /** The median epoch's time (training the head only, for cached features). */
  epochSeconds: number;
  epochs: number;
}

const median = (values: readonly number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
};

/** The images of `classes`, labels renumbered from 0, as one in-memory dataset (the first `limit` only). */
function classesOf(source: Dataset, classes: readonly number[], limit = Infinity): ArrayDataset {
  const size = source.shape[0] * source.shape[1] * source.shape[2];
  const images: Float32Array[] = [];
  const labels: number[] = [];
  for (let i = 0; i < source.length && labels.length < limit; i++) {
    const { image, label } = source.get(i);
    const at = classes.indexOf(label);
    if (at < 0) continue;
    images.push(image);
    labels.push(at);
  }
  const values = new Float32Array(labels.length * size);
  images.forEach((image, i) => values.set(image, i * size));
  return arrayDataset(values, labels, source.shape as [number, number, number], {
    classNames: classes.map((c) => source.classNames[c]),
  });
}

/** k images of each class, drawn without replacement from a seeded shuffle. */
function perClassSample(dataset: ArrayDataset, k: number, seed: number): ArrayDataset {
  const generator = new Generator(seed);
  const order = Array.from({ length: dataset.length }, (_, i) => i);
  for (let i = order.length - 1; i > 0; i--) {
    const j = generator.int(i + 1);
    [order[i], order[j]] = [order[j], order[i]];
  }
  const taken = new Map<number, number[]>();
  for (const index of order) {
    const label = dataset.get(index).label;
    const list = taken.get(label) ?? [];
    if (list.length < k) list.push(index);
    taken.set(label, list);
  }
  const chosen = [...taken.values()].flat().sort((a, b) => a - b);
  const short = [...taken.entries()].find(([, list]) => list.length < k);
  if (short !== undefined)
    throw new UsageError(`--per-class ${k}: class ${short[0]} has only ${short[1].length} training images`);
  const size = dataset.shape[0] * dataset.shape[1] * dataset.shape[2];
  const values = new Float32Array(chosen.length * size);
  chosen.forEach((index, i) => values.set(dataset.get(index).image, i * size));
  return arrayDataset(
    values,
    chosen.map((index) => dataset.get(index).label),
    dataset.shape as [number, number, number],
    {
      classNames: dataset.classNames,
    },
  );
}

function copyOf(model: Module, seed: number): Module {
  const copy = models.get(MODEL, { ...models.info(MODEL).training!.modelOptions, numClasses: 5, seed });
  copy.loadStateDict(model.stateDict());
  return copy;
}

function parsePerClass(value: string | undefined): number[] {
  const text = value ?? '10,100,1000';
  const sizes = text.split(',').map(Number);
  if (sizes.some((k) => !Number.isInteger(k) || k < 1))
    throw new UsageError(`--per-class must be positive integers separated by commas, got '${text}'`);
  return sizes;
}

/** Runs the experiment; writes results.md, results.json and chart.svg into --out. */
export async function runTransferExperiment(values: Values, args: readonly string[]): Promise<void> {
  const perClass = parsePerClass(values['per-class']);
  const pretrainEpochs = numberOption('pretrain-epochs', values['pretrain-epochs'], 8, {
    integer: true,
    min: 1,
  });
  const pretrainLimit =
    values['pretrain-limit'] === undefined
      ? Infinity
      : numberOption('pretrain-limit', values['pretrain-limit'], 0, { integer: true, min: 1 });
  const steps = numberOption('steps', values.steps, 300, { integer: true, min: 1 });
  const testLimit =
    values['test-limit'] === undefined
      ? Infinity
      : numberOption('test-limit', values['test-limit'], 0, { integer: true, min: 1 });
  const seed = numberOption('seed', values.seed, 1, { integer: true });
  const out = values.out ?? join('docs', 'results', 'transfer');
  await ensureDirectory(out, '--out');
  const log = (line: string) => console.log(line);

  const defaults = models.info(MODEL).training!;
  const side = defaults.inputSize;
  const preprocessing = planPreprocessing([1, 28, 28], [1, side, side], FASHION_MNIST_STATISTICS);
  const plain = testTransform(preprocessing);
  const augmented = trainTransform(
    preprocessing,
    augmentTransforms(parseAugment('crop-flip'), { inputShape: preprocessing.inputShape }),
  );
  const { train, test: testSet } = resolveData(DATA);
  const test = testSet!; // Fashion-MNIST has its test set
  const oldClasses = [0, 1, 2, 3, 4];
  const newClasses = [5, 6, 7, 8, 9];
  const pretrainSet = classesOf(train, oldClasses, pretrainLimit);
  const pretrainTest = classesOf(test, oldClasses, testLimit);
  const newTrain = classesOf(train, newClasses);
  const newTest = classesOf(test, newClasses, testLimit);
  const testAccuracy = async (model: Module, dataset: Dataset) => {
    const batches = loader(dataset, { batchSize: 500, transform: plain });
    return (await evaluate(model, batches)).top1;
  };

  manualSeed(seed);
  const base = models.get(MODEL, { ...defaults.modelOptions, numClasses: 5, seed });
  log(
    `pretraining ${MODEL} on ${DATA} classes 0–4: ${pretrainSet.length} images, ${pretrainEpochs} epochs (backend ${getBackend().name})`,
  );
  let started = performance.now();
  await transfer(base, pretrainSet, {
    epochs: pretrainEpochs,
    numClasses: false,
    freeze: 'none',
    lr: 0.05,
    weightDecay: 5e-4,
    batchSize: BATCH,
    transform: augmented,
    seed,
  });
  const pretrainSeconds = (performance.now() - started) / 1000;
  const pretrainTop1 = await testAccuracy(base, pretrainTest);
  log(
    `pretrained: test accuracy on classes 0–4 ${(100 * pretrainTop1).toFixed(2)}% in ${pretrainSeconds.toFixed(0)} s`,
  );

  const results: Result[] = [];
  // Cached features are a means, not a result: they live in a temporary directory removed at the end.
  const featureDir = await mkdtemp(join(tmpdir(), 'convnets-transfer-features-'));
  try {
    for (const k of perClass) {
      const sample = perClassSample(newTrain, k, seed + k);
      const stepsPerEpoch = Math.ceil(sample.length / Math.min(BATCH, sample.length));
      const epochs = Math.max(1, Math.round(steps / stepsPerEpoch));
      for (const strategy of strategies) {
        const model = strategy.pretrained
          ? copyOf(base, seed)
          : models.get(MODEL, { ...defaults.modelOptions, numClasses: 5, seed: seed + 1 });
        const options: TransferOptions = {
          epochs,
          numClasses: strategy.pretrained ? 5 : false,
          freeze: strategy.freeze,
          lr: strategy.lr,
          weightDecay: 5e-4,
          batchSize: Math.min(BATCH, sample.length),
          transform: plain,
          evalTransform: plain,
          cacheFeatures: strategy.cacheFeatures ? { dir: featureDir } : undefined,
          seed,
        };
        started = performance.now();
        const { history } = await transfer(model, sample, options);
        const seconds = (performance.now() - started) / 1000;
        const epochSeconds = median(history.map((epoch) => epoch.seconds));
        const top1 = await testAccuracy(model, newTest);
        results.push({ strategy: strategy.name, perClass: k, top1, seconds, epochSeconds, epochs });
        log(
          `${k} per class, ${strategy.name}: test accuracy ${(100 * top1).toFixed(2)}%, ${seconds.toFixed(1)} s (${epochs} epochs)`,
        );
      }
    }
  } finally {
    await rm(featureDir, { recursive: true, force: true });
  }
  const command = commandLine(['experiment', ...args]);
  const summary = {
    command,
    backend: getBackend().name,
    pretrain: {
      epochs: pretrainEpochs,
      images: pretrainSet.length,
      top1: pretrainTop1,
      seconds: pretrainSeconds,
    },
    testImages: newTest.length,
    steps,
    results,
  };
  await writeFile(join(out, 'results.json'), `${JSON.stringify(summary, null, 2)}\n`);
  await writeFile(join(out, 'results.md'), resultsMarkdown(summary, perClass));
  await writeFile(join(out, 'chart.svg'), accuracyChart(results, perClass));
  log(`wrote ${join(out, 'results.md')}, results.json and chart.svg`);
}

function resultsMarkdown(
  summary: {
    command: string;
    backend: string;
    pretrain: { epochs: number; images: number; top1: number; seconds: number };
    testImages: number;
    steps: number;
    results: Result[];
  },
  perClass: readonly number[],
): string {
  const cell = (strategy: string, k: number) => {
    const r = summary.results.find((x) => x.strategy === strategy && x.perClass === k)!;
    return `${(100 * r.top1).toFixed(2)}% (${r.seconds.toFixed(1)} s)`;
  };
  return [
    '# Transfer learning on Fashion-MNIST: classes 0–4 → classes 5–9',
    '',
    `Made by \`${summary.command}\` (backend ${summary.backend}).`,
    '',
    `CIFAR ResNet-20 pretrained on ${summary.pretrain.images} images of classes 0–4 for ${summary.pretrain.epochs} epochs ` +
      `(${(100 * summary.pretrain.top1).toFixed(2)}% test accuracy on them, ${summary.pretrain.seconds.toFixed(0)} s), then ` +
      `classes 5–9 learnt from k images per class, about ${summary.steps} steps each; test accuracy on ${summary.testImages} ` +
      'test images of classes 5–9, with the training time (feature caching included).',
    '',
    `| strategy | ${perClass.map((k) => `${k} per class`).join(' | ')} |`,
    `|---|${perClass.map(() => '---:').join('|')}|`,
    ...strategies.map((s) => `| ${s.name} | ${perClass.map((k) => cell(s.name, k)).join(' | ')} |`),
    '',
    ...cachingSpeedUp(summary.results, perClass),
    '',
    '![test accuracy by images per class](chart.svg)',
    '',
  ].join('\n');
}

/** Per epoch, the head on cached features against the same frozen network run again each epoch. */
function cachingSpeedUp(results: readonly Result[], perClass: readonly number[]): string[] {
  const epoch = (strategy: string, k: number) =>
    results.find((r) => r.strategy === strategy && r.perClass === k)!.epochSeconds;
  const rows = perClass.map((k) => {
    const [cached, recomputed] = [epoch(CACHED, k), epoch(RECOMPUTED, k)];
    return `| ${k} | ${recomputed.toFixed(3)} s | ${cached.toFixed(4)} s | ${(recomputed / cached).toFixed(0)}× |`;
  });
  return [
    "What caching the frozen layers' outputs saves per epoch (median epoch; the cached strategy's one pass over the " +
      'images to compute the features is in its total above):',
    '',
    '| images per class | features recomputed | cached features | speed-up |',
    '|---:|---:|---:|---:|',
    ...rows,
  ];
}

/**
 * Test accuracy against images per class (log scale), one line per strategy; the two frozen strategies, whose
 * accuracies are the same, share an entry. Exported to redraw a committed chart from its results.json.
 */
export function accuracyChart(results: readonly Result[], perClass: readonly number[]): string {
  const series = strategies.map((strategy, i): ChartSeries => ({
    label: strategy.name === CACHED ? 'frozen (features cached or not)' : strategy.name,
    legend: strategy.name !== RECOMPUTED,
    color: COLORS[i],
    dashed: strategy.name === RECOMPUTED,
    points: perClass.map((k): [number, number] => [
      Math.log10(k),
      results.find((r) => r.strategy === strategy.name && r.perClass === k)!.top1,
    ]),
  }));
  const decades = perClass.map(Math.log10);
  const [low, high] = [Math.floor(Math.min(...decades)), Math.ceil(Math.max(...decades))];
  return lineChart(
    [
      {
        title: 'classes 5–9 after pretraining on 0–4',
        yLabel: 'test accuracy',
        series,
        range: null,
        format: (y) => `${Math.round(100 * y)}%`,
        x: {
          label: 'labelled images per class',
          range: [low, Math.max(high, low + 1)],
          format: (x) => String(10 ** x),
        },
      },
    ],
    { title: 'transfer learning on Fashion-MNIST' },
  );
}
