import { loader } from '../data/index.js';
import { evaluate, formatConfusion, loadTrained } from '../train/index.js';
import { UsageError, defineCommand, type Parsed } from './command.js';
import { checkpointTestSet, limited, numberOption } from './train-setup.js';

const options = {
  data: {
    value: 'NAME|DIR|x.npy',
    help: 'the data whose test set to use (fashion-mnist, an IDX, CIFAR or image-folder directory, x.npy)',
    default: 'the one it was trained on',
  },
  'batch-size': { value: 'N', help: 'images per forward pass', default: '500' },
  limit: { value: 'N', help: 'test on the first N images only', default: 'all' },
  json: { help: 'print the results as JSON' },
};

export const evalCommand = defineCommand({
  name: 'eval',
  summary: 'test accuracy, per-class accuracy and confusion matrix of a training run',
  synopsis: ['<run-dir | checkpoint-dir> [--data NAME|DIR] [--batch-size N] [--limit N] [--json]'],
  description:
    'Rebuilds the model a checkpoint names (written by convnets train or train.fit), loads its weights and tests it\n' +
    'on the test split of its data, with the preprocessing it was trained with.',
  options,
  examples: ['convnets eval runs/lenet5', 'convnets eval runs/resnet20 --limit 1000 --json'],
  run: runEval,
});

/**
 * `convnets eval <dir>`: the model a `convnets train` checkpoint names, with its weights, on the test split:
 * test accuracy, per-class accuracy and the confusion matrix.
 */
async function runEval({ values, positionals }: Parsed<typeof options>): Promise<void> {
  if (positionals.length !== 1) throw new UsageError('name one checkpoint');
  const trained = await loadTrained(positionals[0]);
  const { model, meta, epoch } = trained;
  const data = typeof values.data === 'string' ? values.data : meta.data;
  if (data === undefined) throw new UsageError(`${trained.dir} does not name its data; give --data`);
  const limit =
    values.limit === undefined
      ? undefined
      : numberOption('limit', values.limit, 0, { integer: true, min: 1 });
  const { test, transform } = checkpointTestSet(trained, data);
  const testSet = limited(test, limit);
  const testLoader = loader(testSet, {
    batchSize: numberOption('batch-size', values['batch-size'], 500, { integer: true, min: 1 }),
    transform,
  });
  const result = await evaluate(model, testLoader);
  if (values.json) {
    console.log(JSON.stringify({ model: meta.model, epoch, data, ...result }, null, 2));
    return;
  }
  const names = testSet.classNames;
  console.log(`${meta.model} (epoch ${epoch}) on ${data} test, ${result.samples} images`);
  console.log(
    `accuracy ${(100 * result.top1).toFixed(2)}%  top-5 ${(100 * result.top5).toFixed(2)}%  loss ${result.loss.toFixed(4)}\n`,
  );
  console.log('per-class accuracy:');
  result.perClass.forEach((accuracy, c) =>
    console.log(`  ${String(c).padStart(2)} ${(names[c] ?? '').padEnd(12)} ${(100 * accuracy).toFixed(2)}%`),
  );
  console.log(
    `\nconfusion matrix (rows: true class, columns: predicted):\n${formatConfusion(result.confusion, names)}`,
  );
}
