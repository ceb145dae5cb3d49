import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { copyFile, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FASHION_MNIST_DIR } from '../../src/data/index.js';
import { exportOnnx, readNpy, saveWeights, writeNpy } from '../../src/io/index.js';
import * as models from '../../src/models/index.js';
import { Generator, noGrad, rand, randn, tensor } from '../../src/tensor/index.js';
import { saveCheckpoint } from '../../src/train/index.js';
import { assertClose, randomiseBatchNorms } from '../graph/helpers.js';
import { assertOneLineFailure, cli, withTempDir } from './helpers.js';

const haveData = existsSync(join(FASHION_MNIST_DIR, 't10k-labels-idx1-ubyte.gz'));

test('predict --arch --weights --input --output writes the evaluation-mode output of the batch', async () => {
  await withTempDir(async (dir) => {
    const model = models.get('lenet5', { seed: 7 });
    const x = rand([3, 1, 32, 32]);
    await saveWeights(model, join(dir, 'w.safetensors'));
    await writeNpy(join(dir, 'x.npy'), x);
    const run = cli([
      'predict',
      '--arch',
      'lenet5',
      '--weights',
      join(dir, 'w.safetensors'),
      '--input',
      join(dir, 'x.npy'),
      '--output',
      join(dir, 'y.npy'),
    ]);
    assert.equal(run.status, 0, run.stderr);
    model.eval();
    const expected = noGrad(() => model.call(x)).data();
    const written = await readNpy(join(dir, 'y.npy'));
    assert.deepEqual(written.shape, [3, 10]);
    // The CLI may run on another backend than this process: equal to float32 rounding, not bit for bit.
    const values = written.data();
    expected.forEach((e, i) =>
      assert.ok(
        Math.abs(values[i] - e) <= 1e-5 * Math.max(1, Math.abs(e)),
        `output ${i}: ${values[i]} vs ${e}`,
      ),
    );
  });
});

test('predict names what is wrong: weights of another model, an input of the wrong shape', async () => {
  await withTempDir(async (dir) => {
    await saveWeights(models.get('lenet5', { seed: 1 }), join(dir, 'w.safetensors'));
    await writeNpy(join(dir, 'flat.npy'), rand([5, 1024]));
    const wrongShape = cli([
      'predict',
      '--arch',
      'lenet5',
      '--weights',
      join(dir, 'w.safetensors'),
      '--input',
      join(dir, 'flat.npy'),
    ]);
    assert.equal(wrongShape.status, 1);
    assert.match(
      wrongShape.stderr,
      /flat\.npy: expected float32 \[C, H, W\] or \[N, C, H, W\], got float32 \[5, 1024\]/,
    );
    const wrongModel = cli([
      'predict',
      '--arch',
      'resnet20',
      '--weights',
      join(dir, 'w.safetensors'),
      '--input',
      join(dir, 'flat.npy'),
    ]);
    assert.equal(wrongModel.status, 1);
    assert.match(wrongModel.stderr, /missing|unexpected/);
  });
});

test(
  'predict <checkpoint> applies the checkpoint’s test-time transform and prints the top classes by name',
  {
    skip: haveData
      ? false
      : `no Fashion-MNIST at ${FASHION_MNIST_DIR} (apt-get install dataset-fashion-mnist)`,
  },
  async () => {
    await withTempDir(async (dir) => {
      const model = models.get('lenet5', { seed: 3 });
      const meta = { model: 'lenet5', modelOptions: { seed: 3 }, data: 'fashion-mnist', size: 32 };
      await saveCheckpoint(dir, { model, epoch: 1, meta });
      await writeNpy(join(dir, 'images.npy'), rand([2, 1, 28, 28]));
      const run = cli(['predict', dir, join(dir, 'images.npy'), '--top', '3']);
      assert.equal(run.status, 0, run.stderr);
      const lines = run.stdout.trim().split('\n');
      assert.equal(lines.length, 2 * (1 + 3), run.stdout);
      assert.match(lines[0], /^#0$/);
      assert.match(
        lines[1],
        /^\s+[\d.]+%\s+\d (T-shirt\/top|Trouser|Pullover|Dress|Coat|Sandal|Shirt|Sneaker|Bag|Ankle boot)$/,
      );
      const percents = lines.slice(1, 4).map((l) => Number(l.trim().split('%')[0]));
      assert.ok(percents[0] >= percents[1] && percents[1] >= percents[2], `ranked: ${percents}`);
    });
  },
);

test('predict model.onnx runs the graph itself: the module’s outputs, at batch 3 from a dynamic-batch file or in groups from a batch-1 file', async () => {
  await withTempDir(async (dir) => {
    const net = randomiseBatchNorms(models.get('resnet20', { seed: 2 }), 4);
    const traced = join(dir, 'traced.onnx');
    const dynamic = join(dir, 'dynamic.onnx');
    await exportOnnx(net, [1, 3, 32, 32], traced);
    await exportOnnx(net, [1, 3, 32, 32], dynamic, { batch: 'dynamic' });
    const x = randn([3, 3, 32, 32], { generator: new Generator(9) });
    await writeNpy(join(dir, 'x.npy'), x);
    net.eval();
    const expected = noGrad(() => net.call(x)).data();
    const outputs: [string, string[]][] = [
      ['dynamic', ['predict', dynamic, '--input', join(dir, 'x.npy')]],
      ['traced at batch 1', ['predict', traced, join(dir, 'x.npy')]],
      // --arch with an .onnx file borrows its initialisers and runs the zoo module.
      [
        '--arch --weights',
        ['predict', '--arch', 'resnet20', '--weights', traced, '--input', join(dir, 'x.npy')],
      ],
    ];
    for (const [what, args] of outputs) {
      const y = join(dir, 'y.npy');
      const run = cli([...args, '--output', y]);
      assert.equal(run.status, 0, `${what}: ${run.stderr}`);
      assert.equal(run.stdout, `wrote [3, 10] output to ${y}\n`, what);
      const written = await readNpy(y);
      assert.deepEqual(written.shape, [3, 10], what);
      assertClose(written.data(), expected, 1e-4, what);
    }
    const ranked = cli(['predict', dynamic, join(dir, 'x.npy'), '--top', '2']);
    assert.equal(ranked.status, 0, ranked.stderr);
    const best = Array.from(expected.subarray(0, 10)).indexOf(Math.max(...expected.subarray(0, 10)));
    assert.match(ranked.stdout, new RegExp(`^#0\\n +[\\d.]+%  ${best}\\n`));
    assert.equal(ranked.stdout.trim().split('\n').length, 3 * (1 + 2));
  });
});

test('predict model.onnx: a file that is not ONNX, an input it does not take, a batch it cannot divide are one line', async () => {
  await withTempDir(async (dir) => {
    const net = models.get('lenet5', { seed: 1 });
    const pairs = join(dir, 'pairs.onnx');
    await exportOnnx(net, [2, 1, 32, 32], pairs);
    await writeNpy(join(dir, 'three.npy'), rand([3, 1, 32, 32]));
    await writeNpy(join(dir, 'colour.npy'), rand([2, 3, 32, 32]));
    await writeFile(join(dir, 'junk.onnx'), 'not a protobuf message\n');
    assertOneLineFailure(
      ['predict', join(dir, 'junk.onnx'), join(dir, 'three.npy')],
      /.*junk\.onnx: not an ONNX model: ONNX ModelProto: /,
    );
    assertOneLineFailure(
      ['predict', join(dir, 'absent.onnx'), join(dir, 'three.npy')],
      /.*absent\.onnx: no such file or directory$/,
    );
    assertOneLineFailure(
      ['predict', pairs, join(dir, 'colour.npy')],
      /inputs \[2, 3, 32, 32\] do not fit .*pairs\.onnx, whose input is \[2, 1, 32, 32\]$/,
    );
    assertOneLineFailure(
      ['predict', pairs, join(dir, 'three.npy')],
      /.*pairs\.onnx takes batches of 2 \(exported without --batch dynamic\); 3 inputs do not divide into them$/,
    );
    assertOneLineFailure(['predict', pairs, join(dir, 'absent.npy')], /input .*absent\.npy: no such file$/);
    assertOneLineFailure(
      ['predict', '--arch', 'resnet20', '--weights', pairs, '--input', join(dir, 'colour.npy')],
      /.*pairs\.onnx: not the weights of resnet20: \d+ missing keys \('conv1\.weight', .*, and \d+ more\); \d+ unexpected keys \('features\.0\.weight', /,
    );
  });
});

test("predict model.caffemodel builds the network from the prototxt beside it and writes PyTorch's output", async () => {
  await withTempDir(async (dir) => {
    const fixtures = new URL('../../../test/fixtures/caffe/', import.meta.url).pathname;
    const expected = JSON.parse(await readFile(join(fixtures, 'tiny.json'), 'utf8'));
    await writeNpy(join(dir, 'x.npy'), tensor(Float32Array.from(expected.input.data), expected.input.shape));
    const run = cli([
      'predict',
      join(fixtures, 'tiny.caffemodel'),
      join(dir, 'x.npy'),
      '--output',
      join(dir, 'y.npy'),
    ]);
    assert.equal(run.status, 0, run.stderr);
    const written = await readNpy(join(dir, 'y.npy'));
    assert.deepEqual(written.shape, expected.outputs.prob.shape);
    assertClose(written.data(), expected.outputs.prob.data, 1e-5, 'prob');
    await copyFile(join(fixtures, 'tiny.caffemodel'), join(dir, 'alone.caffemodel'));
    assertOneLineFailure(
      ['predict', join(dir, 'alone.caffemodel'), join(dir, 'x.npy')],
      /.*alone\.caffemodel: no network definition beside it \(looked for alone\.prototxt, alone-deploy\.prototxt, deploy\.prototxt\)$/,
    );
  });
});
