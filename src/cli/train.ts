import { join } from 'node:path';
import { ConvnetsError, ValueError } from '../errors.js';
import { loader, type Dataset } from '../data/index.js';
import * as models from '../models/index.js';
import * as optim from '../optim/index.js';
import { getBackend } from '../backend/registry.js';
import { crossEntropy, manualSeed, setRecompute, type Tensor } from '../tensor/index.js';
import {
  GradNormLogger,
  ProgressDisplay,
  TrainingStopped,
  evaluate,
  fit,
  formatDuration,
  historyChart,
  AUGMENT_HELP,
  describeData,
  describePreprocessing,
  formatAugment,
  parseAugment,
  readCheckpointState,
  saveCheckpoint,
  saveHistory,
  writeText,
  type EpochRecord,
  type EvaluationResult,
  type TrainedMeta,
} from '../train/index.js';
import { UsageError, defineCommand, type Parsed } from './command.js';
import { distributedDataParallel, distributedSampler } from '../distributed/index.js';
import { allreduceLine, distributedOptions, joinGroup, wantsDistributed } from './distributed.js';
import { ensureDirectory, writeSvgAsPng } from './files.js';
import { writeRunReport } from './report.js';
import { abortOnSignals, commandLine, signalExitCode } from './signals.js';
import {
  choiceOption,
  defaultsFor,
  numberOption,
  planTraining,
  trainedMeta,
  workersOption,
  type TrainingPlan,
} from './train-setup.js';
import {
  applyPlan,
  modelWithWeights,
  resolveWeights,
  trainTransfer,
  transferOptions,
  transferPlan,
  wantsTransfer,
  type TransferValues,
} from './transfer.js';

/** The validation split `convnets train` holds out by default: a tenth of the training set, seeded. */
export const DEFAULT_VAL_SPLIT = 0.1;

const options = {
  data: {
    value: 'NAME|DIR|x.npy',
    help:
      'fashion-mnist (built in); a directory of IDX files (MNIST, KMNIST), CIFAR-10/100 binaries, or images in one ' +
      'sub-folder per class (train/ and val/ when present); or x.npy with y.npy beside it (required)',
  },
  epochs: { value: 'N', help: 'passes over the training set', default: "the model's" },
  'batch-size': { value: 'N', help: 'images per step', default: "the model's" },
  lr: { value: 'X', help: 'the initial learning rate', default: "the model's" },
  optimizer: { value: 'sgd|adam|adamw', help: 'the optimizer', default: "the model's" },
  momentum: { value: 'X', help: "SGD's momentum", default: "the model's" },
  'weight-decay': { value: 'X', help: 'L2 penalty (adamw: decoupled weight decay)', default: "the model's" },
  'label-smoothing': { value: 'X', help: 'cross-entropy label smoothing in [0, 1)', default: '0' },
  schedule: { value: 'cosine|step|none', help: 'the learning-rate schedule', default: "the model's" },
  augment: {
    value: 'LIST',
    help: `training augmentation, comma-separated: ${AUGMENT_HELP}; none; crop-flip (= crop:4,flip)`,
    default: "the model's",
  },
  'val-split': {
    value: 'X',
    help: 'fraction (or count) of the training images held out for validation, seeded; 0: none',
    default: String(DEFAULT_VAL_SPLIT),
  },
  'input-size': {
    value: 'N',
    help: "the model's input side (data padded or resized to it)",
    default: "the model's (28×28 data: its tuned one)",
  },
  cache: { value: 'DIR', help: "an image folder's cache of decoded, resized images", default: 'none' },
  workers: { value: 'N', help: 'loader worker threads, at most one per core', default: '1' },
  limit: { value: 'N', help: 'train on the first N images only (validation split off them)', default: 'all' },
  'test-limit': { value: 'N', help: 'test on the first N images only', default: 'all' },
  seed: { value: 'N', help: 'the seed of weights, split, shuffling and augmentation', default: '1' },
  out: { value: 'DIR', help: 'where checkpoints, history, chart and report go', default: 'runs/<model>' },
  resume: { help: 'continue the checkpoint in --out' },
  seeds: {
    value: 'N,N,...',
    help: 'one run per seed (ensemble members), each writing to --out suffixed -s<seed>',
  },
  'log-grad-norms': {
    value: 'N',
    help: 'record the gradient norm of every weight layer at step 1 and every N steps, in grad-norms.json',
  },
  recompute: {
    help: "less memory for a little time: backward computes a ReLU's output after a BatchNorm again instead of keeping it",
  },
  quiet: { help: 'no progress lines, only epoch summaries' },
  ...transferOptions,
  ...distributedOptions,
};

export const trainCommand = defineCommand({
  name: 'train',
  summary: 'train any zoo model on your data with its defaults, checkpointing every epoch',
  synopsis: ['<model> --data NAME|DIR|x.npy [--epochs N] [--out DIR] [options]'],
  description:
    "Trains with the model's defaults (its ModelInfo's, else generic ones from its input size; `convnets models`\n" +
    'lists models), holding out a seeded validation split reported every epoch; the test set, where the data has\n' +
    'one, is measured once at the end. Grey images feed RGB models copied into R, G and B; RGB images feed grey\n' +
    'models as their luma (0.299 R + 0.587 G + 0.114 B); images are padded up to 8 pixels to the model input, else\n' +
    'resized. Image folders are decoded as batches need them; an unreadable image is skipped with a warning.\n' +
    'Writes into --out a checkpoint after every epoch (model, options, class names and preprocessing),\n' +
    'history.json, history.csv, chart.svg and .png, report.md and report.html (convnets report). Ctrl-C (SIGINT) or\n' +
    'SIGTERM stops at the next step, keeping the last complete checkpoint, and prints the command that resumes.',
  options,
  examples: [
    'convnets train lenet5 --data fashion-mnist --epochs 3',
    'convnets train resnet20 --data ~/cifar-10-batches-bin --augment crop:4,flip,color:0.1',
    'convnets train resnet18 --data ~/photos --input-size 112 --augment resized-crop:0.08,flip --cache /tmp/photos',
    'convnets train resnet20 --data fashion-mnist --out runs/try --resume',
  ],
  run: runTrain,
});

interface RunSummary {
  plan: TrainingPlan;
  meta: TrainedMeta;
  parameters: number;
  history: readonly EpochRecord[];
  seconds: number;
  /** Null where the data has no test set. */
  test: EvaluationResult | null;
  settings: Record<string, unknown>;
  skipped: ReadonlyMap<string, string>;
}

function percent(value: number): string {
  return `${(100 * value).toFixed(2)}%`;
}

function reportMarkdown({
  plan,
  meta,
  parameters,
  history,
  seconds,
  test,
  settings,
  skipped,
}: RunSummary): string {
  const last = history[history.length - 1];
  const classNames = plan.source.classNames;
  const validation =
    plan.validation === null
      ? 'none (--val-split 0)'
      : `${plan.validation.length} images, ${plan.validationOrigin === 'data' ? 'the data’s own' : 'a seeded split of the training set'}`;
  const testLine =
    test === null
      ? '- **test set: none in this data** (the validation figures are the only held-out ones)'
      : `- **final test accuracy: ${percent(test.top1)}** (top-5 ${percent(test.top5)}, loss ${test.loss.toFixed(4)}, ${test.samples} images, measured once after training)`;
  const lines = [
    `# ${meta.model} on ${describeData(plan.source)}`,
    '',
    `- model: \`${meta.model}\` ${JSON.stringify(meta.modelOptions)}, ${parameters.toLocaleString('en-US')} parameters`,
    `- data: ${plan.train.length} training images, validation ${validation}; ${describePreprocessing(plan.preprocessing)}`,
    `- settings: ${Object.entries(settings)
      .map(([k, v]) => `${k} ${String(v)}`)
      .join(', ')}`,
    `- epochs: ${last.epoch}; training time ${formatDuration(seconds)} (${seconds.toFixed(1)} s), last epoch ${Math.round(last.imagesPerSecond)} images/s`,
    `- backend: ${getBackend().name}`,
    ...(last.valTop1 === null ? [] : [`- last validation accuracy: ${percent(last.valTop1)}`]),
    testLine,
    ...(skipped.size === 0
      ? []
      : [
          `- unreadable images skipped: ${skipped.size} (${[...skipped.keys()].slice(0, 5).join(', ')}${skipped.size > 5 ? ', …' : ''})`,
        ]),
    '',
    '![loss and accuracy per epoch (validation, not test)](chart.svg)',
    '',
  ];
  if (test !== null) {
    lines.push(
      '## Per-class test accuracy',
      '',
      '| class | name | accuracy |',
      '|---:|---|---:|',
      ...test.perClass.map((accuracy, c) => `| ${c} | ${classNames[c] ?? c} | ${percent(accuracy)} |`),
      '',
    );
  }
  return lines.join('\n');
}

/**
 * report.html beside report.md (convnets report's page). The run is complete without it: a model the report cannot
 * picture (no convolution, say) leaves one line instead.
 */
async function writeHtmlReport(
  out: string,
  limit: number | undefined,
  progress: ProgressDisplay,
): Promise<void> {
  try {
    await writeRunReport(out, { limit });
  } catch (error) {
    if (!(error instanceof ConvnetsError)) throw error;
    progress.message(`report.html not written: ${error.message}`);
  }
}

type OptimizerName = 'sgd' | 'adam' | 'adamw';

/**
 * The normalisation pretrained weights expect: the registry entry's, else the model's published one (its
 * ModelInfo's, what torchvision's weights expect); a model without one keeps the data's statistics.
 */
function publishedNormalisation(
  name: string,
  published: models.PublishedWeights | null,
): { mean: readonly number[]; std: readonly number[] } | undefined {
  return published?.preprocessing ?? models.info(name).preprocessing;
}

/** What runTrain reads from its options. */
interface TrainOptions {
  name: string;
  data: string;
  out: string;
  resume: boolean;
  quiet: boolean;
  /** Compute again in backward what is cheap to compute rather than keep it (setRecompute). */
  recompute: boolean;
  epochs?: number;
  batchSize?: number;
  lr?: number;
  optimizer?: OptimizerName;
  momentum?: number;
  weightDecay?: number;
  labelSmoothing?: number;
  schedule?: 'cosine' | 'step' | 'none';
  augment?: string;
  workers: number;
  limit?: number;
  testLimit?: number;
  seed?: number;
  valSplit: number;
  inputSize?: number;
  cacheDir?: string;
  /** Record every weight layer's gradient norm at step 1 and every this many steps (grad-norms.json). */
  logGradNorms?: number;
  /** The transfer-learning options as given (cli/transfer.ts reads them). */
  transfer: TransferValues;
  /** --world-size, --rank, --master, --dist-timeout as given (cli/distributed.ts reads them). */
  distributed: Parsed<typeof options>['values'];
}

/**
 * `convnets train <model> --data X [...]`: trains with the model's defaults (its ModelInfo's `training`, or generic
 * ones from its input size), showing progress, holding out a seeded validation split, and writes into --out a
 * checkpoint after every epoch (checkpoint.json naming epoch-N/ with weights.safetensors, optimizer.safetensors,
 * state.json), history.json, history.csv, chart.svg and .png, report.md and report.html; the test set, where the data has one, is
 * measured once at the end. --resume continues the checkpoint in --out. SIGINT or SIGTERM stops it at the next
 * step, keeping the last complete checkpoint; the exit status is then 130 or 143.
 */
async function runTrain(parsed: Parsed<typeof options>): Promise<number> {
  const { values, positionals } = parsed;
  if (values.seeds === undefined) return trainOnce(parsed);
  if (values.seed !== undefined) throw new UsageError('give --seed or --seeds, not both');
  if (wantsDistributed(values))
    throw new UsageError('--seeds trains one process; give --seed with --world-size');
  const seeds = values.seeds
    .split(',')
    .map((part) => numberOption('seeds', part.trim(), 0, { integer: true }));
  if (new Set(seeds).size !== seeds.length) throw new UsageError(`--seeds '${values.seeds}' repeats a seed`);
  const out = values.out ?? join('runs', positionals[0] ?? '');
  for (const seed of seeds) {
    const status = await trainOnce({
      ...parsed,
      values: { ...values, seed: String(seed), out: `${out}-s${seed}` },
    });
    if (status !== 0) return status;
  }
  return 0;
}

async function trainOnce({ values, positionals, args }: Parsed<typeof options>): Promise<number> {
  if (positionals.length !== 1) throw new UsageError('name one model');
  const [name] = positionals;
  if (typeof values.data !== 'string')
    throw new UsageError('--data is required (fashion-mnist, a directory or x.npy)');
  const optional = (option: string, value: string | undefined, integer: boolean, min: number) =>
    value === undefined ? undefined : numberOption(option, value, 0, { integer, min });
  if (values.augment !== undefined) {
    try {
      parseAugment(values.augment); // a spec to change is a usage error, before any data is read
    } catch (error) {
      throw error instanceof ValueError ? new UsageError(error.message) : error;
    }
  }
  const labelSmoothing = optional('label-smoothing', values['label-smoothing'], false, 0);
  if (labelSmoothing !== undefined && labelSmoothing >= 1)
    throw new UsageError(`--label-smoothing must be in [0, 1), got '${values['label-smoothing']}'`);
  return train(args, {
    name,
    data: values.data,
    out: values.out ?? join('runs', name),
    resume: values.resume === true,
    quiet: values.quiet === true,
    recompute: values.recompute === true,
    epochs: optional('epochs', values.epochs, true, 1),
    batchSize: optional('batch-size', values['batch-size'], true, 1),
    lr: optional('lr', values.lr, false, 0),
    optimizer:
      values.optimizer === undefined
        ? undefined
        : choiceOption<OptimizerName>('optimizer', values.optimizer, 'sgd', ['sgd', 'adam', 'adamw']),
    momentum: optional('momentum', values.momentum, false, 0),
    weightDecay: optional('weight-decay', values['weight-decay'], false, 0),
    labelSmoothing,
    schedule:
      values.schedule === undefined
        ? undefined
        : choiceOption<'cosine' | 'step' | 'none'>('schedule', values.schedule, 'cosine', [
            'cosine',
            'step',
            'none',
          ]),
    augment: values.augment,
    workers: workersOption(values.workers, 1),
    limit: optional('limit', values.limit, true, 1),
    testLimit: optional('test-limit', values['test-limit'], true, 1),
    seed: optional('seed', values.seed, true, 0),
    valSplit: numberOption('val-split', values['val-split'], DEFAULT_VAL_SPLIT, { min: 0 }),
    inputSize: optional('input-size', values['input-size'], true, 1),
    cacheDir: values.cache,
    logGradNorms: optional('log-grad-norms', values['log-grad-norms'], true, 1),
    transfer: values,
    distributed: values,
  });
}

async function train(args: readonly string[], options: TrainOptions): Promise<number> {
  const { name, out, resume } = options;
  const defaults = defaultsFor(name);
  const previous = resume ? await readCheckpointState(out) : null;
  const seed = options.seed ?? (previous?.meta.seed as number | undefined) ?? 1;
  const epochs = options.epochs ?? defaults.epochs;
  const batchSize = options.batchSize ?? defaults.batchSize;
  const lr = options.lr ?? defaults.lr;
  const optimizerName = options.optimizer ?? defaults.optimizer;
  const scheduleName = options.schedule ?? defaults.schedule;
  const { workers } = options;
  const group = await joinGroup(options.distributed);
  // Rank 0 validates, tests, writes the checkpoints and reports; every rank trains on its shard of each batch.
  const leader = group.rank === 0;

  const weights =
    options.transfer.weights === undefined ? null : await resolveWeights(options.transfer.weights);
  const plan = await planTraining(name, {
    data: options.data,
    seed,
    valSplit: options.valSplit,
    inputSize: options.inputSize,
    augment: options.augment,
    limit: options.limit,
    testLimit: options.testLimit,
    cacheDir: options.cacheDir,
    normalisation: weights === null ? undefined : publishedNormalisation(name, weights.published),
  });
  await ensureDirectory(out, '--out');

  manualSeed(seed);
  const meta = trainedMeta(plan, seed);
  const model =
    weights === null
      ? models.get(name, plan.modelOptions)
      : await modelWithWeights(name, plan.modelOptions, weights);
  const transfer = wantsTransfer(options.transfer)
    ? transferPlan(model, name, options.transfer, epochs, plan.source.classNames.length)
    : null;
  const gradNorms =
    options.logGradNorms === undefined
      ? undefined
      : new GradNormLogger(model, { every: options.logGradNorms });
  const progress = new ProgressDisplay({
    logEvery: options.quiet ? 0 : 100,
    ...(leader ? {} : { write: () => undefined }),
  });
  // The head and the frozen layers are settled before the optimizer takes the parameters that train.
  const transferLine = transfer === null ? null : applyPlan(model, transfer, seed);
  const skipped = new Map<string, string>();
  const onSkip = (file: string, reason: string) => {
    if (skipped.has(file)) return;
    skipped.set(file, reason);
    progress.message(`skipped ${file}: ${reason}`);
  };
  const trainLoader = loader(plan.train, {
    batchSize,
    shuffle: true,
    seed,
    workers,
    transform: plan.trainTransform,
    onSkip,
    sampler:
      group.worldSize > 1 ? distributedSampler({ rank: group.rank, worldSize: group.worldSize }) : undefined,
  });
  const evaluationLoader = (dataset: Dataset) =>
    loader(dataset, { batchSize: Math.max(batchSize, 100), workers, transform: plan.testTransform, onSkip });
  const validationLoader = plan.validation === null ? undefined : evaluationLoader(plan.validation);
  const testLoader = plan.test === null ? null : evaluationLoader(plan.test);
  if (
    group.worldSize > 1 &&
    transfer !== null &&
    (transfer.cacheFeatures || transfer.unfreezeAfter !== undefined)
  )
    throw new UsageError(
      '--cache-features and --unfreeze-after train in one process; leave out --world-size',
    );
  const dataParallel = group.worldSize > 1 ? await distributedDataParallel(model, group) : null;
  const momentum = options.momentum ?? defaults.momentum;
  const weightDecay = options.weightDecay ?? defaults.weightDecay;
  const labelSmoothing = options.labelSmoothing ?? 0;
  const optimizer =
    optimizerName === 'sgd'
      ? optim.sgd(model.parameters(), { lr, momentum, weightDecay })
      : optimizerName === 'adamw'
        ? optim.adamW(model.parameters(), { lr, weightDecay })
        : optim.adam(model.parameters(), { lr, weightDecay });
  if (labelSmoothing > 0 && defaults.loss !== undefined)
    throw new UsageError(`--label-smoothing goes with cross-entropy; ${name} trains with its own loss`);
  const lossFn =
    labelSmoothing > 0
      ? (logits: Tensor, labels: Tensor) => crossEntropy(logits, labels, { labelSmoothing })
      : defaults.loss;
  const schedule =
    scheduleName === 'cosine'
      ? optim.cosineAnnealingLR(optimizer, { tMax: epochs })
      : scheduleName === 'step'
        ? optim.stepLR(optimizer, { stepSize: Math.max(1, Math.round(epochs / 3)) })
        : undefined;
  const settings = {
    ...(weights === null ? {} : { weights: options.transfer.weights }),
    optimizer: optimizerName,
    lr,
    ...(optimizerName === 'sgd' ? { momentum } : {}),
    weightDecay,
    ...(labelSmoothing > 0 ? { labelSmoothing } : {}),
    batchSize,
    ...(group.worldSize > 1 ? { worldSize: group.worldSize } : {}),
    schedule: scheduleName,
    augment: formatAugment(plan.augment),
    valSplit: plan.validationOrigin === 'split' ? options.valSplit : plan.validationOrigin,
    seed,
    limit: options.limit ?? 'all',
    ...(options.recompute ? { recompute: true } : {}),
  };
  // For every training step of the run, the transfer phases' included.
  if (options.recompute) setRecompute(true);

  const title = `${name} on ${describeData(plan.source)}`;
  progress.message(
    `training ${name} (${model.numParameters().toLocaleString('en-US')} parameters) on ${describeData(plan.source)}: ` +
      `${plan.train.length} images, validation ${plan.validation?.length ?? 'none'}, test ${plan.test?.length ?? 'none'}; ` +
      `${describePreprocessing(plan.preprocessing)}; ${epochs} epochs, ` +
      `${Object.entries(settings)
        .map(([k, v]) => `${k} ${String(v)}`)
        .join(', ')}; backend ${getBackend().name}; writing ${out}`,
  );
  if (transferLine !== null) progress.message(transferLine);
  const started = performance.now();
  const previousSeconds = previous?.history.reduce((s, r) => s + r.seconds, 0) ?? 0;
  const stop = abortOnSignals((signal) => {
    if (progress.tty) progress.message(`${signal}: stopping at the next step; a second one stops at once`);
  });
  let history: EpochRecord[] = [];
  try {
    const onEpochEnd = async (record: EpochRecord, all: readonly EpochRecord[]) => {
      progress.epoch(record, epochs);
      await saveHistory(all, { json: join(out, 'history.json'), csv: join(out, 'history.csv') });
      if (gradNorms !== undefined)
        await writeText(
          join(out, 'grad-norms.json'),
          `${JSON.stringify({ layers: gradNorms.layers, records: gradNorms.records })}\n`,
        );
      const chart = historyChart(all, { title });
      await writeText(join(out, 'chart.svg'), chart);
      await writeSvgAsPng(chart, join(out, 'chart.png'));
    };
    if (transfer !== null && (transfer.cacheFeatures || transfer.unfreezeAfter !== undefined)) {
      if (optimizerName === 'adamw')
        throw new UsageError(
          '--optimizer adamw does not go with --cache-features or --unfreeze-after (sgd or adam)',
        );
      // The transfer path trains in phases (head, then more), with its own loaders; one checkpoint at the end.
      const all: EpochRecord[] = [];
      history = await trainTransfer(model, transfer, {
        trainSet: plan.train,
        validation: plan.validation ?? undefined,
        transform: plan.trainTransform,
        evalTransform: plan.testTransform,
        out,
        epochs,
        lr,
        batchSize,
        optimizer: optimizerName,
        momentum,
        weightDecay,
        seed,
        workers,
        callbacks: [
          {
            onEpochEnd: async (record) => {
              all.push({ ...record, epoch: all.length + 1 });
              await onEpochEnd(all[all.length - 1], all);
            },
          },
        ],
        message: (line) => progress.message(line),
      });
      await saveCheckpoint(out, { model, epoch: history.length, history, loaderSeed: seed, meta });
    } else
      history = await fit(model, trainLoader, {
        epochs,
        optimizer,
        schedule,
        validation: leader ? validationLoader : undefined,
        lossFn,
        checkpointDir: leader ? out : undefined,
        resumeFrom: resume ? out : undefined,
        meta,
        signal: stop.signal,
        onStep: options.quiet ? undefined : (info) => progress.step(info),
        callbacks: [
          ...(dataParallel === null ? [] : [dataParallel]),
          ...(gradNorms === undefined ? [] : [gradNorms]),
          ...(leader ? [{ onEpochEnd }] : []),
        ],
      });
    if (!leader) return 0;
    if (dataParallel !== null) progress.message(allreduceLine(dataParallel.stats(), group.worldSize));
    const seconds = previousSeconds + (performance.now() - started) / 1000;
    const test =
      testLoader === null ? null : await evaluate(model, testLoader, { lossFn, signal: stop.signal });
    const parameters = model.numParameters();
    await writeText(
      join(out, 'report.md'),
      reportMarkdown({ plan, meta, parameters, history, seconds, test, settings, skipped }),
    );
    if (test !== null) await writeHtmlReport(out, options.testLimit, progress);
    const last = history[history.length - 1];
    const validation = last?.valTop1 == null ? '' : `validation accuracy ${percent(last.valTop1)}; `;
    const testResult =
      test === null
        ? 'no test set in this data'
        : `test accuracy ${percent(test.top1)} (top-5 ${percent(test.top5)})`;
    progress.message(
      `${validation}${testResult} after ${history.length} epochs, ${seconds.toFixed(1)} s` +
        `${skipped.size > 0 ? `; ${skipped.size} unreadable image(s) skipped` : ''}; wrote ${out}`,
    );
    return 0;
  } catch (error) {
    if (!(error instanceof TrainingStopped)) throw error;
    // fit's message names the last complete checkpoint; after fit, in the test evaluation, every epoch has one.
    const resumeCommand = commandLine(['train', ...args.filter((a) => a !== '--resume'), '--resume']);
    const next =
      error.checkpointEpoch !== null
        ? `resume with: ${resumeCommand}`
        : history.length > 0
          ? `the last complete checkpoint (epoch ${history.length}) is in ${out}; resume with: ${resumeCommand}`
          : `start again with: ${commandLine(['train', ...args])}`;
    progress.message(`convnets train: ${error.message}; ${next}`);
    return signalExitCode(error.reason);
  } finally {
    stop.dispose();
    await trainLoader.close();
    await validationLoader?.close();
    await testLoader?.close();
  }
}
