import { stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { ValueError } from '../errors.js';
import { loader } from '../data/index.js';
import * as models from '../models/index.js';
import { evaluate, formatConfusion, loadCheckpoint, readCheckpointState } from '../train/index.js';
import { parseCommandArgs } from './args.js';
import { loadDataset, numberOption, transformFor } from './train-setup.js';
import type { TrainMeta } from './train.js';

const usage =
  'usage: convnets eval <out-dir-or-checkpoint-file> [--data fashion-mnist] [--batch-size N] [--limit N] [--json]';

/**
 * `convnets eval <dir>`: rebuilds the model a `convnets train` checkpoint names, loads its weights and prints
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
  const [path] = positionals;
  const dir = (await stat(path).catch(() => null))?.isDirectory() ? path : dirname(path);
  const state = await readCheckpointState(dir);
  const meta = state.meta as Partial<TrainMeta>;
  if (typeof meta.model !== 'string' || typeof meta.size !== 'number' || typeof meta.data !== 'string') {
    throw new ValueError(
      `${dir}: the checkpoint does not name its model and data (not written by convnets train)`,
    );
  }
  const data = typeof values.data === 'string' ? values.data : meta.data;
  const model = models.get(meta.model, meta.modelOptions ?? {});
  await loadCheckpoint(dir, { model });
  const limit =
    values.limit === undefined
      ? undefined
      : numberOption('limit', values.limit, 0, { integer: true, min: 1 });
  const testSet = loadDataset(data, 'test', limit);
  const testLoader = loader(testSet, {
    batchSize: numberOption('batch-size', values['batch-size'], 500, { integer: true, min: 1 }),
    transform: transformFor(data, meta.size, 'none'),
  });
  const result = await evaluate(model, testLoader);
  if (values.json) {
    console.log(JSON.stringify({ model: meta.model, epoch: state.epoch, data, ...result }, null, 2));
    return;
  }
  const names = testSet.classNames;
  console.log(`${meta.model} (epoch ${state.epoch}) on ${data} test, ${result.samples} images`);
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
