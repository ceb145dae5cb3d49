import { join } from 'node:path';
import { loader } from '../data/index.js';
import * as models from '../models/index.js';
import * as optim from '../optim/index.js';
import { getBackend } from '../backend/registry.js';
import { manualSeed } from '../tensor/index.js';
import {
  ProgressDisplay,
  TrainingStopped,
  evaluate,
  fit,
  formatDuration,
  historyChart,
  readCheckpointState,
  saveCheckpoint,
  saveHistory,
  trainingData,
  trainingTransform,
  writeText,
  type EpochRecord,
  type EvaluationResult,
  type TrainedMeta,
} from '../train/index.js';
import { UsageError, defineCommand, type Parsed } from './command.js';
import { ensureDirectory } from './files.js';
import { abortOnSignals, commandLine, signalExitCode } from './signals.js';
import { choiceOption, defaultsFor, loadDataset, numberOption, workersOption } from './train-setup.js';
import {
  applyPlan,
  modelWithWeights,
  resolveWeights,
  trainTransfer,
  transferOptions,
  transferPlan,
  wantsTransfer,
} from './transfer.js';

const options = {
  data: { value: 'NAME', help: 'the data set to train on: fashion-mnist (required)' },
  epochs: { value: 'N', help: 'passes over the training set', default: "the model's" },
  'batch-size': { value: 'N', help: 'images per step', default: "the model's" },
  lr: { value: 'X', help: 'the initial learning rate', default: "the model's" },
  optimizer: { value: 'sgd|adam', help: 'the optimizer', default: "the model's" },
  schedule: { value: 'cosine|step|none', help: 'the learning-rate schedule', default: "the model's" },
  augment: { value: 'none|crop-flip', help: 'training augmentation', default: "the model's" },
  workers: { value: 'N', help: 'loader worker threads, at most one per core', default: '1' },
  limit: { value: 'N', help: 'train on the first N images only', default: 'all' },
  'test-limit': { value: 'N', help: 'test on the first N images only', default: 'all' },
  seed: { value: 'N', help: 'the seed of weights, shuffling and augmentation', default: '1' },
  out: { value: 'DIR', help: 'where checkpoints, history, chart and report go', default: 'runs/<model>' },
  resume: { help: 'continue the checkpoint in --out' },
  quiet: { help: 'no progress lines, only epoch summaries' },
  ...transferOptions,
};

export const trainCommand = defineCommand({
  name: 'train',
  summary: 'train a model with its defaults, checkpointing every epoch',
  synopsis: ['<model> --data fashion-mnist [--epochs N] [--out DIR] [options]'],
  description:
    "Trains with the model's defaults (its ModelInfo; `convnets models` lists models) and writes into --out a\n" +
    'checkpoint after every epoch, history.json, history.csv, chart.svg and report.md. Ctrl-C (SIGINT) or SIGTERM\n' +
    'stops at the next step, keeping the last complete checkpoint, and prints the command that resumes.',
  options,
  examples: [
    'convnets train lenet5 --data fashion-mnist --epochs 3',
    'convnets train resnet20 --data fashion-mnist --epochs 1 --limit 2000 --out runs/try',
    'convnets train resnet20 --data fashion-mnist --out runs/try --resume',
  ],
  run: runTrain,
});

function reportMarkdown(
  meta: TrainedMeta,
  parameters: number,
  history: readonly EpochRecord[],
  seconds: number,
  test: EvaluationResult,
  classNames: readonly string[],
  settings: Record<string, unknown>,
): string {
  const last = history[history.length - 1];
  const rows = test.perClass.map(
    (accuracy, c) => `| ${c} | ${classNames[c] ?? c} | ${(100 * accuracy).toFixed(2)}% |`,
  );
  return [
    `# ${meta.model} on ${meta.data}`,
    '',
    `- model: \`${meta.model}\` ${JSON.stringify(meta.modelOptions)}, ${parameters.toLocaleString('en-US')} parameters`,
    `- settings: ${Object.entries(settings)
      .map(([k, v]) => `${k} ${String(v)}`)
      .join(', ')}`,
    `- epochs: ${last.epoch}; training time ${formatDuration(seconds)} (${seconds.toFixed(1)} s), last epoch ${Math.round(last.imagesPerSecond)} images/s`,
    `- backend: ${getBackend().name}`,
    `- **final test accuracy: ${(100 * test.top1).toFixed(2)}%** (top-5 ${(100 * test.top5).toFixed(2)}%, loss ${test.loss.toFixed(4)}, ${test.samples} images)`,
    '',
    '![loss and accuracy per epoch](chart.svg)',
    '',
    '## Per-class test accuracy',
    '',
    '| class | name | accuracy |',
    '|---:|---|---:|',
    ...rows,
    '',
  ].join('\n');
}

/**
 * `convnets train <model> --data fashion-mnist [...]`: trains with the model's defaults (its ModelInfo's
 * `training`), showing progress, and writes into --out a checkpoint after every epoch (checkpoint.json naming
 * epoch-N/ with weights.safetensors, optimizer.safetensors, state.json), history.json, history.csv, chart.svg and
 * report.md. --resume continues the checkpoint in --out. SIGINT or SIGTERM stops it at the next step, keeping the
 * last complete checkpoint; the exit status is then 130 or 143.
 */
async function runTrain({ values, positionals, args }: Parsed<typeof options>): Promise<number> {
  if (positionals.length !== 1) throw new UsageError('name one model');
  const [name] = positionals;
  if (typeof values.data !== 'string') throw new UsageError('--data is required (fashion-mnist)');
  const data = values.data;
  trainingData(data); // an unknown name fails here, before anything is created
  const defaults = defaultsFor(name);
  const out = typeof values.out === 'string' ? values.out : join('runs', name);
  const resume = values.resume === true;
  const previous = resume ? await readCheckpointState(out) : null;
  const epochs = numberOption('epochs', values.epochs, defaults.epochs, { integer: true, min: 1 });
  const batchSize = numberOption('batch-size', values['batch-size'], defaults.batchSize, {
    integer: true,
    min: 1,
  });
  const lr = numberOption('lr', values.lr, defaults.lr);
  const optimizerName = choiceOption('optimizer', values.optimizer, defaults.optimizer, ['sgd', 'adam']);
  const scheduleName = choiceOption('schedule', values.schedule, defaults.schedule, [
    'cosine',
    'step',
    'none',
  ]);
  const augment = choiceOption('augment', values.augment, defaults.augment, ['none', 'crop-flip']);
  const workers = workersOption(values.workers, 1);
  const limit =
    values.limit === undefined
      ? undefined
      : numberOption('limit', values.limit, 0, { integer: true, min: 1 });
  const testLimit =
    values['test-limit'] === undefined
      ? undefined
      : numberOption('test-limit', values['test-limit'], 0, { integer: true, min: 1 });
  const seed = numberOption('seed', values.seed, (previous?.meta.seed as number | undefined) ?? 1, {
    integer: true,
  });

  await ensureDirectory(out, '--out');

  manualSeed(seed);
  const meta: TrainedMeta = {
    model: name,
    modelOptions: { ...defaults.modelOptions, seed },
    data,
    size: defaults.inputSize,
    seed,
  };
  const trainSet = loadDataset(data, 'train', limit);
  const testSet = loadDataset(data, 'test', testLimit);
  const model =
    values.weights === undefined
      ? models.get(name, meta.modelOptions)
      : await modelWithWeights(name, meta.modelOptions, await resolveWeights(values.weights));
  const plan = wantsTransfer(values) ? transferPlan(model, name, values, epochs, trainSet.numClasses) : null;
  if (plan !== null) meta.modelOptions = { ...meta.modelOptions, numClasses: plan.numClasses };
  const trainLoader = loader(trainSet, {
    batchSize,
    shuffle: true,
    seed,
    workers,
    transform: trainingTransform(data, defaults.inputSize, augment),
  });
  const testLoader = loader(testSet, {
    batchSize: 500,
    workers,
    transform: trainingTransform(data, defaults.inputSize, 'none'),
  });
  const optimizer =
    optimizerName === 'sgd'
      ? optim.sgd(model.parameters(), { lr, momentum: defaults.momentum, weightDecay: defaults.weightDecay })
      : optim.adam(model.parameters(), { lr, weightDecay: defaults.weightDecay });
  const schedule =
    scheduleName === 'cosine'
      ? optim.cosineAnnealingLR(optimizer, { tMax: epochs })
      : scheduleName === 'step'
        ? optim.stepLR(optimizer, { stepSize: Math.max(1, Math.round(epochs / 3)) })
        : undefined;
  const settings = {
    optimizer: optimizerName,
    lr,
    batchSize,
    schedule: scheduleName,
    augment,
    seed,
    limit: limit ?? 'all',
  };

  const progress = new ProgressDisplay({ logEvery: values.quiet ? 0 : 100 });
  progress.message(
    `training ${name} (${model.numParameters().toLocaleString('en-US')} parameters) on ${data}: ${trainSet.length} images, ${epochs} epochs, ` +
      `${Object.entries(settings)
        .map(([k, v]) => `${k} ${String(v)}`)
        .join(', ')}; backend ${getBackend().name}; writing ${out}`,
  );
  if (plan !== null) progress.message(applyPlan(model, plan, seed));
  const started = performance.now();
  const previousSeconds = previous?.history.reduce((s, r) => s + r.seconds, 0) ?? 0;
  const stop = abortOnSignals((signal) => {
    if (progress.tty) progress.message(`${signal}: stopping at the next step; a second one stops at once`);
  });
  let history: EpochRecord[] = [];
  const onEpochEnd = async (record: EpochRecord, all: readonly EpochRecord[]) => {
    progress.epoch(record, epochs);
    await saveHistory(all, { json: join(out, 'history.json'), csv: join(out, 'history.csv') });
    await writeText(join(out, 'chart.svg'), historyChart(all, { title: `${name} on ${data}` }));
  };
  try {
    if (plan !== null && (plan.cacheFeatures || plan.unfreezeAfter !== undefined)) {
      // The transfer path trains in phases (head, then more), with its own loaders; one checkpoint at the end.
      const all: EpochRecord[] = [];
      history = await trainTransfer(model, plan, {
        trainSet,
        validation: testSet,
        transform: trainingTransform(data, defaults.inputSize, augment),
        evalTransform: trainingTransform(data, defaults.inputSize, 'none'),
        out,
        epochs,
        lr,
        batchSize,
        optimizer: optimizerName,
        momentum: defaults.momentum,
        weightDecay: defaults.weightDecay,
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
        validation: testLoader,
        checkpointDir: out,
        resumeFrom: resume ? out : undefined,
        meta,
        signal: stop.signal,
        onStep: values.quiet ? undefined : (info) => progress.step(info),
        callbacks: [{ onEpochEnd }],
      });
    const seconds = previousSeconds + (performance.now() - started) / 1000;
    const test = await evaluate(model, testLoader, { signal: stop.signal });
    await writeText(
      join(out, 'report.md'),
      reportMarkdown(meta, model.numParameters(), history, seconds, test, testSet.classNames, settings),
    );
    progress.message(
      `test accuracy ${(100 * test.top1).toFixed(2)}% (top-5 ${(100 * test.top5).toFixed(2)}%) after ${history.length} epochs, ${seconds.toFixed(1)} s; wrote ${out}`,
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
    await testLoader.close();
  }
}
