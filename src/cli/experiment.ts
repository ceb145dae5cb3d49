/**
 * `convnets experiment <name>`: reproducible experiments that measure what the course teaches, each writing a
 * table and a chart with the command that made them. Each experiment lives in its own file.
 */
import { UsageError, defineCommand, type Parsed } from './command.js';
import { runTransferExperiment, transferExperimentOptions } from './experiment-transfer.js';

const options = { ...transferExperimentOptions };

const experiments: Record<string, (parsed: Parsed<typeof options>) => Promise<void>> = {
  transfer: ({ values, args }) => runTransferExperiment(values, args),
};

export const experimentCommand = defineCommand({
  name: 'experiment',
  summary: 'run a reproducible experiment and write its table and chart',
  synopsis: ['transfer [--per-class 10,100,1000] [--out DIR] [options]'],
  description:
    'transfer: pretrain CIFAR ResNet-20 on Fashion-MNIST classes 0–4, then learn classes 5–9 from 10, 100 and\n' +
    '1,000 images per class four ways (from scratch; frozen, head on cached features; last stage fine-tuned;\n' +
    'everything fine-tuned); test accuracy and training time into results.md, results.json and chart.svg.',
  options,
  examples: [
    'convnets experiment transfer --out docs/results/transfer',
    'convnets experiment transfer --per-class 10,100 --pretrain-epochs 2 --steps 100 --out runs/transfer-quick',
  ],
  run: async (parsed) => {
    const [name, ...rest] = parsed.positionals;
    const run = name === undefined ? undefined : experiments[name];
    if (run === undefined)
      throw new UsageError(
        `${name === undefined ? 'name an experiment' : `unknown experiment '${name}'`}; experiments: ${Object.keys(experiments).join(', ')}`,
      );
    if (rest.length > 0) throw new UsageError(`unexpected argument '${rest[0]}'`);
    await run(parsed);
  },
});
