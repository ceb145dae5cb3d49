import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setBackend } from '../../src/backend/registry.js';
import { FASHION_MNIST_DIR, Subset, fashionMnist, loader } from '../../src/data/index.js';
import { readNpy, writeNpy } from '../../src/io/index.js';
import * as models from '../../src/models/index.js';
import { Generator, exp, noGrad, rand, softmax, tensor } from '../../src/tensor/index.js';
import { transforms } from '../../src/data/index.js';
import {
  Ensemble,
  evaluate,
  loadTrained,
  readCheckpointState,
  saveCheckpoint,
} from '../../src/train/index.js';
import { assertOneLineFailure, assertUsageFailure, cli, withTempDir } from './helpers.js';

setBackend('reference');

const haveData = existsSync(join(FASHION_MNIST_DIR, 't10k-labels-idx1-ubyte.gz'));
const skip = haveData ? false : `no Fashion-MNIST at ${FASHION_MNIST_DIR}`;

/** A checkpoint as `convnets train` leaves it: untrained weights are enough to compare averages. */
async function checkpoint(dir: string, model: string, size: number, seed: number): Promise<string> {
  const modelOptions = model === 'lenet5' ? { seed } : { inChannels: 1, seed };
  await saveCheckpoint(dir, {
    model: models.get(model, modelOptions),
    epoch: 1,
    meta: { model, modelOptions, data: 'fashion-mnist', size, seed },
  });
  return dir;
}

test(
  'convnets eval of two runs with --tta ten-crop: members alone, the ensemble as the library computes it',
  { skip },
  () =>
    withTempDir(async (root) => {
      const dirs = [
        await checkpoint(join(root, 'a'), 'lenet5', 32, 1),
        await checkpoint(join(root, 'b'), 'lenet5', 32, 2),
      ];
      const result = cli([
        'eval',
        ...dirs,
        '--tta',
        'ten-crop',
        '--limit',
        '40',
        '--batch-size',
        '20',
        '--json',
      ]);
      assert.equal(result.status, 0, result.stderr);
      const report = JSON.parse(result.stdout);
      const testSet = new Subset(
        fashionMnist({ split: 'test' }),
        Array.from({ length: 40 }, (_, i) => i),
      );
      const members = await Promise.all(dirs.map((dir) => loadTrained(dir)));
      // The checkpoints' test-time transform: padded from 28 to 32, normalised.
      const { transform } = members[0];
      const plain = loader(testSet, { batchSize: 20, transform });
      const alone: number[] = [];
      for (const member of members) alone.push((await evaluate(member.model, plain)).top1);
      // Ten crops of 32×32 from the image padded to 40×40 with black, as crop:4 pads in training: the padding
      // goes before the normalisation, so the border is (0 − mean) / std, not the mean image's 0.
      assert.ok(transform.kind === 'compose' && transform.transforms.at(-1)!.kind === 'normalize');
      const steps = transform.transforms;
      const paddedTransform = transforms.compose([...steps.slice(0, -1), transforms.pad(4), steps.at(-1)!]);
      const normalize = steps.at(-1) as transforms.TransformSpecOf<'normalize'>;
      const corner = transforms.makeTransform(paddedTransform)(
        { data: new Float32Array(28 * 28).fill(1), channels: 1, height: 28, width: 28 },
        new Generator(0),
      )[0];
      assert.equal(corner.width, 40);
      assert.ok(Math.abs(corner.data[0] - -normalize.mean[0] / normalize.std[0]) < 1e-6);
      const padded = loader(testSet, { batchSize: 20, transform: paddedTransform });
      const ensemble = await evaluate(new Ensemble(members.map((m) => m.model)), padded, {
        tta: 'ten-crop',
        cropSize: 32,
      });
      assert.deepEqual(
        report.members.map((m: { dir: string; accuracy: number }) => [m.dir, m.accuracy]),
        dirs.map((dir, i) => [dir, alone[i]]),
      );
      assert.equal(report.ensemble.accuracy, ensemble.top1);
      assert.ok(Math.abs(report.ensemble.loss - ensemble.loss) < 1e-6);
      assert.equal(report.ensemble.tta, 'ten-crop');
      assert.equal(report.ensemble.forwardPassesPerImage, 20);
      assert.equal(report.images, 40);
      assert.ok(report.cost.single.milliseconds > 0 && report.cost.ensemble.peakRssMiB > 0);

      const text = cli(['eval', dirs[0], '--tta', 'flip', '--limit', '20']);
      assert.equal(text.status, 0, text.stderr);
      assert.match(text.stdout, /ensemble of 1, tta flip \(2 forward passes per image\)/);
      assert.match(text.stdout, /cost per image: [\d.]+ ms against [\d.]+ ms for .* alone without TTA/);
    }),
);

test('convnets eval refuses members of different inputs and an unknown --tta, in one line', { skip }, () =>
  withTempDir(async (root) => {
    const lenet = await checkpoint(join(root, 'lenet'), 'lenet5', 32, 1);
    const resnet = await checkpoint(join(root, 'resnet'), 'resnet20', 28, 1);
    assertOneLineFailure(
      ['eval', lenet, resnet],
      /.*resnet was trained on fashion-mnist at 1×28×28, .*lenet on fashion-mnist at 1×32×32: an ensemble's members take the same input/,
    );
    assertUsageFailure(
      ['eval', lenet, '--tta', 'twelve-crop'],
      /--tta must be one of none, flip, five-crop, ten-crop/,
    );
  }),
);

test('convnets predict of two runs: the log of their averaged softmax outputs', () =>
  withTempDir(async (root) => {
    const dirs = [
      await checkpoint(join(root, 'a'), 'lenet5', 32, 1),
      await checkpoint(join(root, 'b'), 'lenet5', 32, 2),
    ];
    const input = join(root, 'x.npy');
    const output = join(root, 'y.npy');
    const x = rand([2, 1, 28, 28], { generator: new Generator(3) });
    await writeNpy(input, x);
    const result = cli(['predict', ...dirs, input, '--output', output]);
    assert.equal(result.status, 0, result.stderr);
    const averaged = Array.from(exp(await readNpy(output)).data());
    // By hand: each member's softmax of its own output for the padded, normalised input, then their mean.
    const prepare = transforms.makeTransform((await loadTrained(dirs[0])).transform);
    const images = [0, 1].map(
      (i) =>
        prepare(
          {
            data: x.data().slice(i * 784, (i + 1) * 784) as Float32Array,
            channels: 1,
            height: 28,
            width: 28,
          },
          new Generator(0),
        )[0],
    );
    const batch = tensor(
      Float32Array.from(images.flatMap((image) => Array.from(image.data))),
      [2, 1, 32, 32],
    );
    const members = await Promise.all(dirs.map((dir) => loadTrained(dir)));
    const probabilities = members.map((m) =>
      Array.from(noGrad(() => softmax(m.model.call(batch), 1)).data()),
    );
    const expected = probabilities[0].map((p, i) => (p + probabilities[1][i]) / 2);
    assert.equal(averaged.length, 20);
    averaged.forEach((p, i) => assert.ok(Math.abs(p - expected[i]) < 1e-5, `[${i}] ${p} vs ${expected[i]}`));
    assert.notDeepEqual(probabilities[0], probabilities[1]);

    const tenCrop = cli(['predict', ...dirs, input, '--tta', 'ten-crop', '--top', '1']);
    assert.equal(tenCrop.status, 0, tenCrop.stderr);
    assertUsageFailure(
      ['predict', '--arch', 'lenet5', '--weights', join(dirs[0], 'x.pth'), input, '--tta', 'flip'],
      /--tta applies to checkpoints of convnets train, not to --arch or .onnx models/,
    );
    assert.match(tenCrop.stdout, /^#0\n +[\d.]+% +\d \S+\n#1\n/);
  }));

test(
  'convnets train --seeds trains one run per seed into suffixed directories; --log-grad-norms writes the norms',
  { skip },
  () =>
    withTempDir(async (root) => {
      const out = join(root, 'lenet');
      const result = cli([
        'train',
        'lenet5',
        '--data',
        'fashion-mnist',
        '--limit',
        '64',
        '--test-limit',
        '20',
        '--epochs',
        '1',
        '--batch-size',
        '32',
        '--workers',
        '0',
        '--quiet',
        '--seeds',
        '3,4',
        '--out',
        out,
        '--log-grad-norms',
        '1',
      ]);
      assert.equal(result.status, 0, result.stderr);
      const states = await Promise.all(['-s3', '-s4'].map((suffix) => readCheckpointState(out + suffix)));
      assert.deepEqual(
        states.map((state) => [state.epoch, state.meta.seed]),
        [
          [1, 3],
          [1, 4],
        ],
      );
      const norms = JSON.parse(await readFile(join(`${out}-s3`, 'grad-norms.json'), 'utf8'));
      assert.deepEqual(norms.layers, [
        'features.0',
        'features.3',
        'classifier.0',
        'classifier.2',
        'classifier.4',
      ]);
      // 64 images in batches of 32: two steps, both recorded, every layer's norm positive.
      assert.deepEqual(
        norms.records.map((r: { globalStep: number }) => r.globalStep),
        [1, 2],
      );
      for (const record of norms.records)
        for (const layer of norms.layers)
          assert.ok(record.norms[layer] > 0, `${layer} at step ${record.globalStep}`);
      assertUsageFailure(
        ['train', 'lenet5', '--data', 'fashion-mnist', '--seeds', '1,1'],
        /--seeds '1,1' repeats a seed/,
      );
      assertUsageFailure(
        ['train', 'lenet5', '--data', 'fashion-mnist', '--seeds', '1,2', '--seed', '3'],
        /give --seed or --seeds, not both/,
      );
    }),
);

test(
  'convnets eval --split val tests on the images the run held out, and --tta-padding 0 makes five crops of one view',
  { skip },
  () =>
    withTempDir(async (root) => {
      const run = join(root, 'run');
      const budget = ['--limit', '200', '--test-limit', '20', '--epochs', '1', '--quiet'];
      const trained = cli([
        'train',
        'lenet5',
        '--data',
        'fashion-mnist',
        '--val-split',
        '0.25',
        ...budget,
        '--out',
        run,
      ]);
      assert.equal(trained.status, 0, trained.stderr);
      const [epoch] = JSON.parse(await readFile(join(run, 'history.json'), 'utf8')) as {
        valTop1: number;
        valLoss: number;
      }[];
      // The checkpoint records its split (a quarter of the first 200 images, by its seed): eval cuts it again, and
      // the model's accuracy and loss there are those training reported for its last epoch.
      const validation = cli(['eval', run, '--split', 'val', '--json']);
      assert.equal(validation.status, 0, validation.stderr);
      const report = JSON.parse(validation.stdout);
      assert.equal(report.split, 'val');
      assert.equal(report.samples, 50);
      assert.equal(report.top1, epoch.valTop1);
      assert.ok(Math.abs(report.loss - epoch.valLoss) < 1e-5, `${report.loss} against ${epoch.valLoss}`);
      // Unpadded, each of the five crops is the whole image: the average is the plain softmax.
      const crops = cli([
        'eval',
        run,
        '--split',
        'val',
        '--tta',
        'five-crop',
        '--tta-padding',
        '0',
        '--json',
      ]);
      assert.equal(crops.status, 0, crops.stderr);
      const averaged = JSON.parse(crops.stdout);
      assert.equal(averaged.ensemble.accuracy, epoch.valTop1);
      assert.ok(Math.abs(averaged.ensemble.loss - epoch.valLoss) < 1e-5);

      const none = join(root, 'none');
      const unsplit = cli([
        'train',
        'lenet5',
        '--data',
        'fashion-mnist',
        '--val-split',
        '0',
        ...budget,
        '--out',
        none,
      ]);
      assert.equal(unsplit.status, 0, unsplit.stderr);
      assertOneLineFailure(
        ['eval', none, '--split', 'val'],
        /.*none.* was trained with no validation split \(--val-split 0\)$/,
      );
      assertUsageFailure(['eval', run, '--tta-padding', '-1'], /--tta-padding/);
      const seed2 = join(root, 'seed2');
      const other = cli([
        'train',
        'lenet5',
        '--data',
        'fashion-mnist',
        '--val-split',
        '0.25',
        '--seed',
        '2',
        ...budget,
        '--out',
        seed2,
      ]);
      assert.equal(other.status, 0, other.stderr);
      assertUsageFailure(
        ['eval', run, seed2, '--split', 'val'],
        /--split val: .*seed2.* held out other images than .*run.* \(seed 2 against 1\), so one's validation images are another's training images/,
      );
    }),
);
