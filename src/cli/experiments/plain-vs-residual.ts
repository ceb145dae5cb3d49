/**
 * He et al. 2016, Fig. 6: plain networks of 20, 32, 44 and 56 layers end with a higher training error the deeper
 * they are (degradation), their residual counterparts with a lower one. Every run trains with the models' own
 * defaults (one recipe for both kinds), records training and test error per epoch and the gradient norm of
 * every weight layer, and the results go to JSON, an SVG chart in the paper's style and a markdown table.
 */
import { join } from 'node:path';
import { ValueError } from '../../errors.js';
import { loader } from '../../data/index.js';
import * as models from '../../models/index.js';
import * as optim from '../../optim/index.js';
import { manualSeed } from '../../tensor/index.js';
import {
  GradNormLogger,
  ProgressDisplay,
  fit,
  formatDuration,
  lineChart,
  resolveData,
  writeText,
  type ChartSeries,
} from '../../train/index.js';
import { UsageError, type Parsed } from '../command.js';
import type { Experiment, ExperimentOptions } from '../experiment.js';
import { ensureDirectory } from '../files.js';
import { defaultsFor, numberOption, planTraining, workersOption } from '../train-setup.js';

export interface PlainVsResidualRun {
  model: string;
  depth: number;
  residual: boolean;
  /** Per epoch, as fractions: training error over the epoch's batches (augmented), and test error after it. */
  trainError: number[];
  testError: number[];
  seconds: number;
  /** The first weight layer's gradient norm at the recorded steps, and its mean over them. */
  gradNorms: { layer: string; steps: number[]; firstLayer: number[]; meanFirstLayer: number };
}

export interface PlainVsResidualResult {
  data: string;
  epochs: number;
  trainImages: number;
  testImages: number;
  seed: number;
  runs: PlainVsResidualRun[];
}

interface Setup {
  data: string;
  limit: number | undefined;
  testLimit: number | undefined;
  epochs: number | undefined;
  seed: number;
  workers: number;
  gradEvery: number;
  progress: ProgressDisplay;
  quiet: boolean;
}

async function trainRun(
  model: string,
  depth: number,
  residual: boolean,
  setup: Setup,
): Promise<PlainVsResidualRun> {
  const defaults = defaultsFor(model);
  const { data, seed, workers } = setup;
  const epochs = setup.epochs ?? defaults.epochs;
  // The whole training set (no validation split): the paper's figure is training and test error.
  const plan = await planTraining(model, {
    data,
    seed,
    valSplit: 0,
    limit: setup.limit,
    testLimit: setup.testLimit,
  });
  if (plan.test === null) throw new ValueError(`${data} has no test set; the experiment plots test error`);
  manualSeed(seed);
  const net = models.get(model, plan.modelOptions);
  const trainLoader = loader(plan.train, {
    batchSize: defaults.batchSize,
    shuffle: true,
    seed,
    workers,
    transform: plan.trainTransform,
  });
  const testLoader = loader(plan.test, { batchSize: 500, workers, transform: plan.testTransform });
  const parameters = net.parameters();
  const optimizer =
    defaults.optimizer === 'sgd'
      ? optim.sgd(parameters, {
          lr: defaults.lr,
          momentum: defaults.momentum,
          weightDecay: defaults.weightDecay,
        })
      : optim.adam(parameters, { lr: defaults.lr, weightDecay: defaults.weightDecay });
  const schedule =
    defaults.schedule === 'cosine'
      ? optim.cosineAnnealingLR(optimizer, { tMax: epochs })
      : defaults.schedule === 'step'
        ? optim.stepLR(optimizer, { stepSize: Math.max(1, Math.round(epochs / 3)) })
        : undefined;
  const gradNorms = new GradNormLogger(net, { every: setup.gradEvery });
  setup.progress.message(
    `${model}: ${net.numParameters().toLocaleString('en-US')} parameters, ${plan.train.length} images, ${epochs} epochs`,
  );
  const started = performance.now();
  try {
    const history = await fit(net, trainLoader, {
      epochs,
      optimizer,
      schedule,
      validation: testLoader,
      lossFn: defaults.loss,
      onStep: setup.quiet ? undefined : (info) => setup.progress.step(info),
      callbacks: [gradNorms, { onEpochEnd: (record) => setup.progress.epoch(record, epochs) }],
    });
    const [layer] = gradNorms.layers;
    const firstLayer = gradNorms.records.map((record) => record.norms[layer]);
    return {
      model,
      depth,
      residual,
      trainError: history.map((record) => 1 - record.trainTop1),
      testError: history.map((record) => 1 - (record.valTop1 ?? NaN)),
      seconds: (performance.now() - started) / 1000,
      gradNorms: {
        layer,
        steps: gradNorms.records.map((record) => record.globalStep),
        firstLayer,
        meanFirstLayer: firstLayer.reduce((a, b) => a + b, 0) / firstLayer.length,
      },
    };
  } finally {
    await trainLoader.close();
    await testLoader.close();
  }
}

const COLORS = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b'];
const percent = (fraction: number) => `${(100 * fraction).toFixed(2)}%`;

/** Fig. 6's layout: plain networks left, residual right; thin lines training error, bold test error. */
export function errorChart(result: PlainVsResidualResult): string {
  const depths = [...new Set(result.runs.map((run) => run.depth))];
  const panel = (residual: boolean) => {
    const series: ChartSeries[] = result.runs
      .filter((run) => run.residual === residual)
      .flatMap((run) => {
        const color = COLORS[depths.indexOf(run.depth) % COLORS.length];
        const label = `${residual ? 'ResNet' : 'plain'}-${run.depth}`;
        const points = (errors: number[]) => errors.map((e, i): [number, number] => [i + 1, 100 * e]);
        return [
          { label, color, dashed: false, width: 1, legend: false, points: points(run.trainError) },
          { label, color, dashed: false, width: 3, points: points(run.testError) },
        ];
      });
    return {
      title: residual ? 'ResNet' : 'plain',
      yLabel: 'error (%)',
      series,
      range: null,
      format: (y: number) => `${Number(y.toPrecision(3))}`,
    };
  };
  return lineChart([panel(false), panel(true)], {
    title: `plain vs residual on ${result.data}`,
    epochs: result.epochs,
    note: `${result.data}, ${result.trainImages} training images: thin lines training error, bold test error`,
  });
}

/**
 * The first layer's mean gradient norm against depth, plain and residual, on a logarithmic axis: the norms of
 * plain and residual networks differ by orders of magnitude.
 */
export function gradNormChart(result: PlainVsResidualResult): string {
  const depths = result.runs.map((run) => run.depth);
  const series = [false, true].map((residual, i): ChartSeries => ({
    label: residual ? 'ResNet' : 'plain',
    color: COLORS[i],
    dashed: !residual,
    points: result.runs
      .filter((run) => run.residual === residual)
      .map((run): [number, number] => [run.depth, Math.log10(run.gradNorms.meanFirstLayer)]),
  }));
  const logNorms = series.flatMap((line) => line.points.map(([, y]) => y)).filter(Number.isFinite);
  return lineChart(
    [
      {
        title: 'first-layer gradient norm',
        yLabel: 'mean L2 norm over recorded steps (log scale)',
        series,
        // Whole decades around the data (the chart's own fitting stops at zero, which is 1 on this axis).
        range: [
          Math.floor(Math.min(...logNorms)),
          Math.ceil(Math.max(...logNorms, Math.min(...logNorms) + 1)),
        ],
        format: (y) => String(Number((10 ** y).toPrecision(2))),
        x: {
          label: 'depth (layers)',
          range: [Math.min(...depths), Math.max(...depths, Math.min(...depths) + 1)],
        },
      },
    ],
    { title: `first-layer gradient norm against depth on ${result.data}` },
  );
}

/** What the runs show about the paper's two claims, where both depths asked about were run. */
function findings(result: PlainVsResidualResult): string[] {
  const last = (model: string) => {
    const run = result.runs.find((r) => r.model === model);
    return run?.trainError[run.trainError.length - 1];
  };
  const depths = [...new Set(result.runs.map((run) => run.depth))].sort((a, b) => a - b);
  const [shallow, deep] = [depths[0], depths[depths.length - 1]];
  if (shallow === deep) return [];
  return [false, true].map((residual) => {
    const prefix = residual ? 'resnet' : 'plain';
    const [a, b] = [last(`${prefix}${shallow}`), last(`${prefix}${deep}`)];
    if (a === undefined || b === undefined) return '';
    const verdict = b > a ? 'higher' : b < a ? 'lower' : 'the same';
    const paper = residual ? 'lower' : 'higher';
    return `- ${prefix}${deep} ends with a ${verdict === 'the same' ? 'training error equal to' : `${verdict} training error than`} ${prefix}${shallow}: ${percent(b)} against ${percent(a)} (the paper: ${paper}).`;
  });
}

export function resultTable(result: PlainVsResidualResult): string {
  const rows = result.runs.map(
    (run) =>
      `| ${run.model} | ${run.depth} | ${run.residual ? 'yes' : 'no'} | ${percent(run.trainError[run.trainError.length - 1])} | ${percent(run.testError[run.testError.length - 1])} | ${run.gradNorms.meanFirstLayer.toPrecision(3)} | ${formatDuration(run.seconds)} |`,
  );
  return [
    `# Plain vs residual networks on ${result.data}`,
    '',
    `${result.trainImages} training images, ${result.testImages} test images, ${result.epochs} epochs, seed ${result.seed}; each model with its training defaults.`,
    '',
    '| model | depth | residual | final training error | final test error | first-layer gradient norm (mean) | time |',
    '|---|---:|---|---:|---:|---:|---:|',
    ...rows,
    '',
    ...findings(result).filter((line) => line !== ''),
    '',
    '![training (thin) and test (bold) error per epoch](plain-vs-residual.svg)',
    '',
    '![first-layer gradient norm against depth](grad-norms.svg)',
    '',
  ].join('\n');
}

function parseDepths(text: string): number[] {
  const depths = text
    .split(',')
    .map((part) => numberOption('depths', part.trim(), 0, { integer: true, min: 8 }));
  if (new Set(depths).size !== depths.length) throw new UsageError(`--depths '${text}' repeats a depth`);
  for (const depth of depths)
    for (const model of [`plain${depth}`, `resnet${depth}`]) {
      if (!models.list().some((info) => info.name === model && info.training !== undefined))
        throw new ValueError(
          `--depths: no trainable ${model}; plain and residual networks with training defaults have depths 20, 32, 44, 56`,
        );
    }
  return depths;
}

async function run({ values }: Parsed<ExperimentOptions>): Promise<void> {
  const depths = parseDepths(values.depths ?? '20,32,44,56');
  const data = values.data ?? 'fashion-mnist';
  const source = resolveData(data); // an unknown name or path fails here, before anything is created
  if (source.test === null) throw new ValueError(`${data} has no test set; the experiment plots test error`);
  const limitOption = (name: 'limit' | 'test-limit') =>
    values[name] === undefined ? undefined : numberOption(name, values[name], 0, { integer: true, min: 1 });
  const epochs =
    values.epochs === undefined
      ? undefined
      : numberOption('epochs', values.epochs, 0, { integer: true, min: 1 });
  const seed = numberOption('seed', values.seed, 1, { integer: true });
  const out = values.out ?? join('runs', 'plain-vs-residual');
  await ensureDirectory(out, '--out');
  const setup: Setup = {
    data,
    limit: limitOption('limit'),
    testLimit: limitOption('test-limit'),
    epochs,
    seed,
    workers: workersOption(values.workers, 1),
    gradEvery: numberOption('grad-every', values['grad-every'], 20, { integer: true, min: 1 }),
    progress: new ProgressDisplay({ logEvery: values.quiet ? 0 : 100 }),
    quiet: values.quiet === true,
  };
  const result: PlainVsResidualResult = {
    data,
    epochs: epochs ?? defaultsFor(`resnet${depths[0]}`).epochs,
    trainImages: Math.min(source.train.length, setup.limit ?? Infinity),
    testImages: Math.min(source.test.length, setup.testLimit ?? Infinity),
    seed,
    runs: [],
  };
  for (const depth of depths)
    for (const residual of [false, true]) {
      result.runs.push(await trainRun(`${residual ? 'resnet' : 'plain'}${depth}`, depth, residual, setup));
      // Written after every run, so an interrupted experiment keeps the runs it finished.
      await writeText(join(out, 'plain-vs-residual.json'), `${JSON.stringify(result, null, 2)}\n`);
      await writeText(join(out, 'plain-vs-residual.svg'), errorChart(result));
      await writeText(join(out, 'grad-norms.svg'), gradNormChart(result));
      await writeText(join(out, 'plain-vs-residual.md'), resultTable(result));
    }
  setup.progress.message(
    `wrote ${out}: plain-vs-residual.json, plain-vs-residual.svg, grad-norms.svg, plain-vs-residual.md`,
  );
  for (const line of findings(result)) if (line !== '') setup.progress.message(line.slice(2));
}

export const plainVsResidual: Experiment = {
  summary:
    'He et al. Fig. 6: plain and residual networks of each --depths, training and test error per epoch, first-layer gradient norm against depth',
  run,
};
