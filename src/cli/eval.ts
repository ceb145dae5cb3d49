import { ValueError } from '../errors.js';
import { Subset, loader, transforms, type DataLoader, type TransformSpec } from '../data/index.js';
import type { Module } from '../nn/index.js';
import {
  Ensemble,
  TTA_MODES,
  evaluate,
  formatConfusion,
  loadTrained,
  viewCount,
  type EvaluationResult,
  type Trained,
  type TtaMode,
} from '../train/index.js';
import { UsageError, defineCommand, type Parsed } from './command.js';
import {
  checkpointData,
  checkpointValidationSet,
  choiceOption,
  limited,
  numberOption,
} from './train-setup.js';

/** Pixels added on each side before five-crop and ten-crop cut the model's input: the shifts crop-flip trains with. */
export const TTA_PADDING = 4;

const options = {
  data: {
    value: 'NAME|DIR|x.npy',
    help: 'the data whose test set to use (fashion-mnist, an IDX, CIFAR or image-folder directory, x.npy)',
    default: 'the one it was trained on',
  },
  split: {
    value: 'test|val',
    help: "the images to test on: the data's test set, or the validation images the run held out (to choose settings such as --tta-padding without the test set)",
    default: 'test',
  },
  'batch-size': { value: 'N', help: 'images per forward pass', default: '500' },
  limit: { value: 'N', help: 'test on the first N images only', default: 'all' },
  tta: {
    value: TTA_MODES.join('|'),
    help: "test-time augmentation: softmax averaged over the mirror image, or over crops of the model's input size cut from the image padded by --tta-padding pixels of black (zeros before normalisation, as --augment crop pads)",
    default: 'none',
  },
  'tta-padding': {
    value: 'P',
    help: 'pixels of padding on each side before five-crop and ten-crop: the crops are shifted by up to P',
    default: String(TTA_PADDING),
  },
  json: { help: 'print the results as JSON' },
};

export const evalCommand = defineCommand({
  name: 'eval',
  summary: 'test accuracy of a training run, or of an ensemble of runs, with test-time augmentation',
  synopsis: [
    '<run-dir | checkpoint-dir>... [--tta MODE] [--split test|val] [--data NAME] [--batch-size N] [--limit N] [--json]',
  ],
  description:
    'Rebuilds the model a checkpoint names (written by convnets train or train.fit), loads its weights and tests it\n' +
    'on the test split of its data, with the preprocessing it was trained with: accuracy, per-class accuracy and\n' +
    'the confusion matrix. A single-file checkpoint (a .safetensors whose metadata names the model, as the\n' +
    "browser page's weights download does) is read like a checkpoint directory.\n" +
    "Several runs are an ensemble averaging the members' softmax outputs; --tta averages over views of each\n" +
    'image. Then each member is tested alone without TTA, the ensemble with it, and the report gives both\n' +
    'accuracies and the cost per image: time and peak resident memory against the first member alone.',
  options,
  examples: [
    'convnets eval runs/lenet5',
    'convnets eval lenet5-page.safetensors',
    'convnets eval runs/resnet20 --limit 1000 --json',
    'convnets eval runs/resnet20-s1 runs/resnet20-s2 runs/resnet20-s3 --tta ten-crop',
  ],
  run: runEval,
});

/** The runs of an ensemble, checked to take one input: the same data at the same input shape. */
export async function loadMembers(dirs: readonly string[]): Promise<Trained[]> {
  const members: Trained[] = [];
  for (const dir of dirs) members.push(await loadTrained(dir));
  const [first] = members;
  const input = (member: Trained) => member.inputShape.join('×');
  for (const [i, member] of members.entries()) {
    if (member.meta.data !== first.meta.data || input(member) !== input(first))
      throw new ValueError(
        `${dirs[i]} was trained on ${String(member.meta.data)} at ${input(member)}, ${dirs[0]} on ${String(first.meta.data)} at ${input(first)}: an ensemble's members take the same input`,
      );
  }
  return members;
}

/**
 * The test-time transform for `tta`: five-crop and ten-crop cut the model's input from the prepared image padded by
 * TTA_PADDING with zeros before the normalisation, as `--augment crop` pads in training (black, not the mean image).
 */
export function ttaTransform(transform: TransformSpec, tta: TtaMode, padding = TTA_PADDING): TransformSpec {
  if (tta !== 'five-crop' && tta !== 'ten-crop') return transform;
  const steps = transform.kind === 'compose' ? transform.transforms : [transform];
  const last = steps.length - 1;
  if (steps[last].kind !== 'normalize') return transforms.compose([...steps, transforms.pad(padding)]);
  return transforms.compose([...steps.slice(0, last), transforms.pad(padding), steps[last]]);
}

/** --tta-padding: whole pixels, 0 or more. */
export function ttaPaddingOption(value: string | boolean | undefined): number {
  return numberOption('tta-padding', value, TTA_PADDING, { integer: true, min: 0 });
}

/** One evaluation pass and what it cost. */
interface Pass {
  result: EvaluationResult;
  seconds: number;
  /** Highest resident set size seen during the pass, in bytes. */
  peakRss: number;
}

async function timedPass(
  model: Module,
  testLoader: DataLoader,
  tta: TtaMode,
  cropSize: number,
): Promise<Pass> {
  const rssBefore = process.memoryUsage.rss();
  let peakRss = rssBefore;
  // Sampled whenever the event loop turns (between batches, where a batch's activations are still resident).
  const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage.rss())), 10);
  const started = performance.now();
  try {
    const result = await evaluate(model, testLoader, { tta, cropSize });
    const seconds = (performance.now() - started) / 1000;
    return { result, seconds, peakRss: Math.max(peakRss, process.memoryUsage.rss()) };
  } finally {
    clearInterval(sampler);
    await testLoader.close();
  }
}

const mib = (bytes: number) => bytes / 2 ** 20;
const percent = (fraction: number) => `${(100 * fraction).toFixed(2)}%`;

/**
 * `convnets eval <dir>...`: one run in detail, or several (or one with --tta) as an ensemble with its members'
 * accuracies and the cost of averaging.
 */
async function runEval({ values, positionals }: Parsed<typeof options>): Promise<void> {
  if (positionals.length === 0) throw new UsageError('name one checkpoint or more');
  const tta = choiceOption('tta', values.tta, 'none', TTA_MODES);
  const members = await loadMembers(positionals);
  const { meta } = members[0];
  const data = typeof values.data === 'string' ? values.data : meta.data;
  if (data === undefined) throw new UsageError(`${members[0].dir} does not name its data; give --data`);
  const limit =
    values.limit === undefined
      ? undefined
      : numberOption('limit', values.limit, 0, { integer: true, min: 1 });
  const batchSize = numberOption('batch-size', values['batch-size'], 500, { integer: true, min: 1 });
  const split = choiceOption('split', values.split, 'test', ['test', 'val']);
  const padding = ttaPaddingOption(values['tta-padding']);
  const { source, transform } = checkpointData(members[0], data);
  let images = source.test;
  if (split === 'val') {
    const heldOut = (member: Trained) => JSON.stringify([member.meta.seed, member.meta.validation]);
    const other = members.find((member) => heldOut(member) !== heldOut(members[0]));
    if (other !== undefined)
      throw new UsageError(
        `--split val: ${other.dir} held out other images than ${members[0].dir} (seed ${String(other.meta.seed)} against ${String(members[0].meta.seed)}), so one's validation images are another's training images`,
      );
    const { validation, assumed } = checkpointValidationSet(members[0], source);
    if (assumed)
      console.error(
        `${members[0].dir} does not record its validation split: testing on train's default, a seeded tenth of all training images`,
      );
    images = validation;
  } else if (images === null) throw new UsageError(`${data} has no test set; try --split val`);
  const testSet = limited(images, limit);
  const cropSize = members[0].inputShape[1];
  const testLoader = (mode: TtaMode) =>
    loader(testSet, { batchSize, transform: ttaTransform(transform, mode, padding) });

  if (members.length === 1 && tta === 'none') {
    const [{ model, epoch }] = members;
    const result = await evaluate(model, testLoader('none'));
    if (values.json)
      console.log(JSON.stringify({ model: meta.model, epoch, data, split, ...result }, null, 2));
    else printDetails(members[0], `${data} ${split}`, result, testSet.classNames);
    return;
  }

  // One batch first, so that the first timed pass does not carry the data set's decoding and the backend's start.
  const warmUp = new Subset(
    testSet,
    Array.from({ length: Math.min(batchSize, testSet.length) }, (_, i) => i),
  );
  await evaluate(members[0].model, loader(warmUp, { batchSize, transform }));
  const plainPasses: Pass[] = [];
  for (const member of members)
    plainPasses.push(await timedPass(member.model, testLoader('none'), 'none', cropSize));
  const ensemble = members.length === 1 ? members[0].model : new Ensemble(members.map((m) => m.model));
  const ensemblePass = await timedPass(ensemble, testLoader(tta), tta, cropSize);
  const baseline = plainPasses[0];
  const perImage = (pass: Pass) => ({
    milliseconds: (1000 * pass.seconds) / pass.result.samples,
    peakRssMiB: mib(pass.peakRss),
  });
  const report = {
    data,
    split,
    images: ensemblePass.result.samples,
    members: members.map((member, i) => ({
      dir: positionals[i],
      model: member.meta.model,
      epoch: member.epoch,
      accuracy: plainPasses[i].result.top1,
    })),
    ensemble: {
      accuracy: ensemblePass.result.top1,
      tta,
      members: members.length,
      forwardPassesPerImage: members.length * viewCount(tta),
      top5: ensemblePass.result.top5,
      loss: ensemblePass.result.loss,
    },
    cost: {
      single: perImage(baseline),
      ensemble: perImage(ensemblePass),
      timeRatio: ensemblePass.seconds / baseline.seconds,
    },
  };
  if (values.json) {
    console.log(JSON.stringify(report, null, 2));
    return;
  }
  console.log(`${data} ${split}, ${report.images} images\n`);
  for (const member of report.members)
    console.log(
      `  ${percent(member.accuracy).padStart(7)}  ${member.dir} (${member.model}, epoch ${member.epoch})`,
    );
  console.log(
    `  ${percent(report.ensemble.accuracy).padStart(7)}  ensemble of ${members.length}, tta ${tta} (${report.ensemble.forwardPassesPerImage} forward passes per image)\n`,
  );
  const { single, ensemble: costly } = report.cost;
  console.log(
    `cost per image: ${costly.milliseconds.toFixed(3)} ms against ${single.milliseconds.toFixed(3)} ms for ${positionals[0]} alone without TTA (${report.cost.timeRatio.toFixed(1)}×);`,
  );
  console.log(
    `peak resident memory ${costly.peakRssMiB.toFixed(0)} MiB against ${single.peakRssMiB.toFixed(0)} MiB`,
  );
}

function printDetails(
  trained: Trained,
  /** The data and its split: 'fashion-mnist test'. */
  images: string,
  result: EvaluationResult,
  names: readonly string[],
): void {
  console.log(`${trained.meta.model} (epoch ${trained.epoch}) on ${images}, ${result.samples} images`);
  console.log(
    `accuracy ${percent(result.top1)}  top-5 ${percent(result.top5)}  loss ${result.loss.toFixed(4)}\n`,
  );
  console.log('per-class accuracy:');
  result.perClass.forEach((accuracy, c) =>
    console.log(`  ${String(c).padStart(2)} ${(names[c] ?? '').padEnd(12)} ${percent(accuracy)}`),
  );
  console.log(
    `\nconfusion matrix (rows: true class, columns: predicted):\n${formatConfusion(result.confusion, names)}`,
  );
}
