/**
 * `convnets experiment <name>`: the case studies' claims as runs anyone can repeat. Each experiment is one entry
 * of EXPERIMENTS, in a file of its own under src/cli/experiments/; this verb parses the options they share and
 * hands them over by name.
 */
import { UsageError, defineCommand, nearest, type Parsed } from './command.js';
import { plainVsResidual } from './experiments/plain-vs-residual.js';

const options = {
  depths: {
    value: 'N,N,...',
    help: 'plain-vs-residual: the depths (6n + 2) to compare',
    default: '20,32,44,56',
  },
  data: { value: 'NAME', help: 'the data set', default: 'fashion-mnist' },
  epochs: { value: 'N', help: 'passes over the training set', default: "the models' training defaults" },
  limit: { value: 'N', help: 'train on the first N images only', default: 'all' },
  'test-limit': { value: 'N', help: 'test on the first N images only', default: 'all' },
  'grad-every': {
    value: 'N',
    help: 'record gradient norms at step 1 and every N steps',
    default: '20',
  },
  seed: { value: 'N', help: 'the seed of weights, shuffling and augmentation', default: '1' },
  workers: { value: 'N', help: 'loader worker threads, at most one per core', default: '1' },
  out: { value: 'DIR', help: 'where the results, charts and table go', default: 'runs/<experiment>' },
  quiet: { help: 'no progress lines, only epoch summaries' },
};

export type ExperimentOptions = typeof options;

export interface Experiment {
  /** One line for the verb's help. */
  summary: string;
  run(parsed: Parsed<ExperimentOptions>): Promise<void>;
}

export const EXPERIMENTS: Record<string, Experiment> = {
  'plain-vs-residual': plainVsResidual,
};

export const experimentCommand = defineCommand({
  name: 'experiment',
  summary: "rerun a case study's experiment: plain-vs-residual",
  synopsis: ['<name> [options]'],
  description: Object.entries(EXPERIMENTS)
    .map(([name, experiment]) => `${name}: ${experiment.summary}`)
    .join('\n'),
  options,
  examples: [
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
      const guess = nearest(name, Object.keys(EXPERIMENTS));
      throw new UsageError(
        `unknown experiment '${name}'${guess ? ` (did you mean ${guess}?)` : ''}; experiments: ${Object.keys(EXPERIMENTS).join(', ')}`,
      );
    }
    await experiment.run(parsed);
  },
});
