/**
 * `convnets experiment <name>`: reproducible experiments that measure what the course teaches, each writing a
 * table and a chart with the command that made them. Each experiment is one entry of EXPERIMENTS, in a file of its
 * own; this verb parses the options they declare and hands them over by name.
 */
import { nearestName } from '../options.js';
import { UsageError, defineCommand, type Parsed } from './command.js';
import { runTransferExperiment, transferExperimentOptions } from './experiment-transfer.js';
import { plainVsResidual } from './experiments/plain-vs-residual.js';

const options = {
  ...transferExperimentOptions,
  depths: {
    value: 'N,N,...',
    help: 'plain-vs-residual: the depths (6n + 2) to compare',
    default: '20,32,44,56',
  },
  data: { value: 'NAME', help: 'the data set', default: 'fashion-mnist' },
  epochs: { value: 'N', help: 'passes over the training set', default: "the models' training defaults" },
  limit: { value: 'N', help: 'train on the first N images only', default: 'all' },
  'test-limit': {
    value: 'N',
    help: 'test on the first N test images only (transfer: of classes 5–9)',
    default: 'all',
  },
  'grad-every': {
    value: 'N',
    help: 'record gradient norms at step 1 and every N steps',
    default: '20',
  },
  seed: { value: 'N', help: 'the seed of weights, samples, shuffling and augmentation', default: '1' },
  workers: { value: 'N', help: 'loader worker threads, at most one per core', default: '1' },
  out: {
    value: 'DIR',
    help: 'where the results, charts and table go',
    default: 'runs/plain-vs-residual; transfer: docs/results/transfer',
  },
  quiet: { help: 'no progress lines, only epoch summaries' },
};

export type ExperimentOptions = typeof options;

export interface Experiment {
  /** One line for the verb's help. */
  summary: string;
  run(parsed: Parsed<ExperimentOptions>): Promise<void>;
}

export const EXPERIMENTS: Record<string, Experiment> = {
  transfer: {
    summary:
      'pretrain CIFAR ResNet-20 on Fashion-MNIST classes 0–4, then learn classes 5–9 from 10, 100 and 1,000 images per class four ways (from scratch; frozen, head on cached features; last stage fine-tuned; everything fine-tuned); test accuracy and training time into results.md, results.json and chart.svg',
    run: ({ values, args }) => runTransferExperiment(values, args),
  },
  'plain-vs-residual': plainVsResidual,
};

export const experimentCommand = defineCommand({
  name: 'experiment',
  summary: 'run a reproducible experiment and write its table and chart: plain-vs-residual, transfer',
  synopsis: ['<name> [options]'],
  description: Object.entries(EXPERIMENTS)
    .map(([name, experiment]) => `${name}: ${experiment.summary}`)
    .join('\n'),
  options,
  examples: [
    'convnets experiment transfer --out docs/results/transfer',
    'convnets experiment transfer --per-class 10,100 --pretrain-epochs 2 --steps 100 --out runs/transfer-quick',
    'convnets experiment plain-vs-residual --depths 20,32,44,56',
    'convnets experiment plain-vs-residual --depths 20,56 --epochs 1 --limit 500 --test-limit 200 --out runs/try',
  ],
  run: async (parsed) => {
    const [name, ...rest] = parsed.positionals;
    if (name === undefined)
      throw new UsageError(`name an experiment: ${Object.keys(EXPERIMENTS).join(', ')}`);
    if (rest.length > 0) throw new UsageError(`unexpected argument '${rest[0]}': name one experiment`);
    const experiment = EXPERIMENTS[name];
    if (experiment === undefined) {
      const guess = nearestName(name, Object.keys(EXPERIMENTS));
      throw new UsageError(
        `unknown experiment '${name}'; experiments: ${Object.keys(EXPERIMENTS).join(', ')}${guess ? `; did you mean ${guess}?` : ''}`,
      );
    }
    await experiment.run(parsed);
  },
});
