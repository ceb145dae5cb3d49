import { ValueError } from '../errors.js';
import { loader } from '../data/index.js';
import { evaluate, formatConfusion, loadTrained, trainingTransform } from '../train/index.js';
import { parseCommandArgs } from './args.js';
import { loadDataset, numberOption } from './train-setup.js';

const usage =
  'usage: convnets eval <out-dir-or-checkpoint-file> [--data fashion-mnist] [--batch-size N] [--limit N] [--json]';

/**
 * `convnets eval <dir>`: the model a `convnets train` checkpoint names, with its weights, on the test split:
 * test accuracy, per-class accuracy and the confusion matrix.
 */
export async function runEval(args: string[]): Promise<void> {
  const { values, positionals } = parseCommandArgs(args, {
    data: { type: 'string' },
    'batch-size': { type: 'string' },
    limit: { type: 'string' },
    json: { type: 'boolean' },
  });
  if (positionals.length !== 1) throw new ValueError(`name one checkpoint\n${usage}`);
  const trained = await loadTrained(positionals[0]);
  const { model, meta, epoch } = trained;
  const data = typeof values.data === 'string' ? values.data : meta.data;
  const limit =
    values.limit === undefined
      ? undefined
      : numberOption('limit', values.limit, 0, { integer: true, min: 1 });
  const testSet = loadDataset(data, 'test', limit);
  const testLoader = loader(testSet, {
    batchSize: numberOption('batch-size', values['batch-size'], 500, { integer: true, min: 1 }),
    transform: data === meta.data ? trained.transform : trainingTransform(data, meta.size, 'none'),
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
