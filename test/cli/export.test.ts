import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { decodeModelProto } from '../../src/io/onnx/proto.js';
import { importOnnx, readNpy, saveWeights, writeNpy } from '../../src/io/index.js';
import * as models from '../../src/models/index.js';
import type { Module } from '../../src/nn/index.js';
import { Generator, noGrad, rand, randn, type Tensor } from '../../src/tensor/index.js';
import { saveCheckpoint } from '../../src/train/index.js';
import { assertClose, loadOnnxRuntime, randomiseBatchNorms } from '../graph/helpers.js';
import { assertOneLineFailure, assertUsageFailure, cli, withTempDir } from './helpers.js';

const forward = (net: Module, x: Tensor) => noGrad(() => net.call(x)).data();

/**
 * The file's outputs against the module's (1e-4 relative to the largest): re-imported by io.importOnnx, and in
 * onnxruntime-node where bench/ has it, at each batch size.
 */
async function checkFile(
  t: { diagnostic(message: string): void },
  file: string,
  net: Module,
  image: readonly number[],
  batches: readonly number[],
): Promise<void> {
  net.eval();
  const imported = await importOnnx(file);
  const ort = loadOnnxRuntime().module;
  const session =
    ort === null ? null : await ort.InferenceSession.create(new Uint8Array(await readFile(file)));
  for (const batch of batches) {
    const x = randn([batch, ...image], { generator: new Generator(batch) });
    const expected = forward(net, x);
    assertClose(forward(imported, x), expected, 1e-4, `${file} re-imported at batch ${batch}`);
    if (ort === null || session === null) continue;
    const { output } = await session.run({
      input: new ort.Tensor('float32', x.data() as Float32Array, x.shape),
    });
    assert.equal(output.dims[0], batch);
    assertClose(output.data, expected, 1e-4, `${file} in onnxruntime at batch ${batch}`);
  }
  if (ort === null)
    t.diagnostic('onnxruntime-node not installed (make test installs it in bench/): re-import checked only');
}

/** A `convnets train` checkpoint of LeNet-5 on Fashion-MNIST: 28×28 images padded to 32×32, then normalised. */
async function lenetCheckpoint(dir: string): Promise<Module> {
  const model = models.get('lenet5', { seed: 3 });
  const meta = { model: 'lenet5', modelOptions: { seed: 3 }, data: 'fashion-mnist', size: 32 };
  await saveCheckpoint(dir, { model, epoch: 2, meta });
  return model;
}

test('export <checkpoint> writes the trained model at its input, says how inputs are prepared, and runs as the module', async (t) => {
  await withTempDir(async (dir) => {
    const run = join(dir, 'run');
    await mkdir(run);
    const model = await lenetCheckpoint(run);
    const out = join(dir, 'lenet.onnx');
    const result = cli(['export', run, '--out', out]);
    assert.equal(result.status, 0, result.stderr);
    const { size } = await stat(out);
    assert.equal(
      result.stdout,
      `wrote ${out}: opset 13, input [1, 1, 32, 32], ${(size / 1e3).toFixed(1)} kB; inputs as in training: ` +
        '1×28×28 images in [0, 1], padded by 2 (constant 0), normalised (mean 0.286, std 0.353)\n',
    );
    const proto = decodeModelProto(await readFile(out));
    assert.deepEqual(proto.graph.input[0].type?.shape, [1, 1, 32, 32]);
    assert.match(
      proto.docString,
      /^lenet5 trained by convnets on fashion-mnist \(epoch 2\); input: .*mean 0\.286/,
    );
    await checkFile(t, out, model, [1, 32, 32], [1]);

    const dynamic = join(dir, 'lenet-dynamic.onnx');
    const second = cli(['export', run, '--out', dynamic, '--batch', 'dynamic']);
    assert.equal(second.status, 0, second.stderr);
    assert.match(second.stdout, /: opset 13, input \[batch, 1, 32, 32\], /);
    await checkFile(t, dynamic, model, [1, 32, 32], [1, 4]);

    // The file keeps the checkpoint's input rules: predict prepares 28×28 images and names classes as for the run.
    const images = join(dir, 'images.npy');
    await writeNpy(images, rand([3, 1, 28, 28], { generator: new Generator(5) }));
    const outputs = [];
    for (const source of [run, dynamic]) {
      const written = join(dir, `${outputs.length}.npy`);
      const predicted = cli(['predict', source, images, '--top', '1']);
      assert.equal(predicted.status, 0, predicted.stderr);
      assert.match(predicted.stdout, /^#0\n\s+[\d.]+%\s+\d [A-Z]/);
      assert.match(predicted.stderr, /images\.npy: .*padded/);
      assert.equal(cli(['predict', source, images, '--output', written]).status, 0);
      outputs.push({ stdout: predicted.stdout, logits: (await readNpy(written)).data() });
    }
    assertClose(outputs[1].logits, outputs[0].logits, 1e-4, 'the .onnx against its checkpoint');
    assert.equal(outputs[1].stdout.replace(/[\d.]+%/g, ''), outputs[0].stdout.replace(/[\d.]+%/g, ''));
  });
});

test('export --triton writes a model repository entry: config.pbtxt, labels.txt and a dynamic-batch model that runs', async (t) => {
  await withTempDir(async (dir) => {
    const run = join(dir, 'run');
    await mkdir(run);
    const model = await lenetCheckpoint(run);
    const repository = join(dir, 'models');
    const result = cli(['export', run, '--triton', repository, '--max-batch', '32']);
    assert.equal(result.status, 0, result.stderr);
    const entry = join(repository, 'lenet5');
    assert.match(result.stdout, /^wrote .*lenet5\/1\/model\.onnx: opset 13, input \[batch, 1, 32, 32\]/);
    assert.equal(
      await readFile(join(entry, 'config.pbtxt'), 'utf8'),
      [
        'name: "lenet5"',
        'platform: "onnxruntime_onnx"',
        'max_batch_size: 32',
        'input [',
        '  {',
        '    name: "input"',
        '    data_type: TYPE_FP32',
        '    dims: [ 1, 32, 32 ]',
        '  }',
        ']',
        'output [',
        '  {',
        '    name: "output"',
        '    data_type: TYPE_FP32',
        '    dims: [ 10 ]',
        '    label_filename: "labels.txt"',
        '  }',
        ']',
        'dynamic_batching { }',
        '',
      ].join('\n'),
    );
    const labels = (await readFile(join(entry, 'labels.txt'), 'utf8')).trim().split('\n');
    assert.deepEqual([labels.length, labels[0], labels[9]], [10, 'T-shirt/top', 'Ankle boot']);
    // What Triton's onnxruntime backend runs: the file at any batch, as the module.
    await checkFile(t, join(entry, '1', 'model.onnx'), model, [1, 32, 32], [1, 3]);

    assertUsageFailure(
      ['export', run, '--triton', repository, '--out', join(dir, 'm.onnx')],
      /give --out model\.onnx .* or --triton DIR/,
    );
    assertUsageFailure(
      ['export', run, '--triton', repository, '--batch', '4'],
      /--triton writes a dynamic batch/,
    );
    assertUsageFailure(
      ['export', run, '--out', join(dir, 'm.onnx'), '--name', 'x'],
      /--name and --max-batch go with --triton/,
    );
    assertUsageFailure(
      ['export', run, '--triton', repository, '--name', '../up'],
      /--name '\.\.\/up': a Triton model name takes/,
    );
  });
});

test('export --arch --weights: a zoo model with its weights, at the registry’s input or --input, any --batch and --opset', async (t) => {
  await withTempDir(async (dir) => {
    const net = randomiseBatchNorms(models.get('resnet20', { seed: 5 }), 6);
    const weights = join(dir, 'resnet20.safetensors');
    await saveWeights(net, weights);
    const out = join(dir, 'resnet20.onnx');
    const result = cli([
      'export',
      '--arch',
      'resnet20',
      '--weights',
      weights,
      '--out',
      out,
      '--batch',
      'dynamic',
      '--opset',
      '17',
    ]);
    assert.equal(result.status, 0, result.stderr);
    assert.match(result.stdout, /^wrote .*resnet20\.onnx: opset 17, input \[batch, 3, 32, 32\], 1\.\d MB\n$/);
    const proto = decodeModelProto(await readFile(out));
    assert.deepEqual(proto.opsetImport, [{ domain: '', version: 17 }]);
    await checkFile(t, out, net, [3, 32, 32], [1, 4]);

    // Without weights, the registered model as built; --input and --batch N set the traced shape.
    const lenet = join(dir, 'lenet.onnx');
    const sized = cli(['export', '--arch', 'lenet5', '--out', lenet, '--batch', '2']);
    assert.equal(sized.status, 0, sized.stderr);
    assert.match(sized.stdout, /: opset 13, input \[2, 1, 32, 32\], /);
    const wide = join(dir, 'resnet20-40.onnx');
    const wider = cli(['export', '--arch', 'resnet20', '--input', '3,40,40', '--batch', '3', '--out', wide]);
    assert.equal(wider.status, 0, wider.stderr);
    assert.deepEqual(decodeModelProto(await readFile(wide)).graph.input[0].type?.shape, [3, 3, 40, 40]);
  });
});

test('export: wrong paths and values are one line naming them', async () => {
  await withTempDir(async (dir) => {
    const empty = join(dir, 'empty');
    await mkdir(empty);
    const file = join(dir, 'notes.txt');
    await writeFile(file, 'not weights\n');
    const out = join(dir, 'm.onnx');
    const arch = (...more: string[]) => ['export', '--arch', 'lenet5', '--out', out, ...more];
    assertOneLineFailure(
      ['export', empty, '--out', out],
      /no checkpoint in .*empty: cannot read state\.json/,
    );
    assertOneLineFailure(
      ['export', join(dir, 'absent'), '--out', out],
      /.*absent: no such file or directory$/,
    );
    assertOneLineFailure(
      arch('--weights', join(dir, 'absent.pth')),
      /--weights .*absent\.pth: no such file$/,
    );
    assertOneLineFailure(arch('--weights', file), /.*notes\.txt: not a weights file/);
    assertOneLineFailure(
      ['export', '--arch', 'lenet5', '--out', join(dir, 'absent', 'm.onnx')],
      /--out .*absent\/m\.onnx: the directory .*absent does not exist$/,
    );
    assertOneLineFailure(['export', '--arch', 'lenet5', '--out', dir], /--out .*: is a directory/);
    assertUsageFailure(
      ['export', '--arch', 'lenet5'],
      /give --out model\.onnx \(the file to write\) or --triton DIR/,
    );
    for (const input of ['3,32', '1,0,32', '1,3,32,32', 'big'])
      assertUsageFailure(arch('--input', input), new RegExp(`--input '${input}' must be`));
    assertOneLineFailure(
      arch('--input', '3,32,32'),
      /features\.0 \(Conv2d\): expected input with 1 channels/,
    );
    for (const batch of ['0', 'two', '1.5'])
      assertUsageFailure(arch('--batch', batch), new RegExp(`--batch must be .*got '${batch}'`));
    assertUsageFailure(arch('--batch'), /Option '--batch <value>' argument missing$/);
    assertOneLineFailure(arch('--opset', '12'), /exportOnnx: opsetVersion 12 is not supported \(13 to 17\)/);
    assertUsageFailure(arch('extra'), /unexpected argument 'extra': export takes/);
    assertUsageFailure(['export', empty, 'extra', '--out', out], /unexpected argument 'extra': export takes/);
    assertUsageFailure(
      ['export', empty, '--weights', file, '--out', out],
      /--weights and --num-classes go with --arch/,
    );
    assertOneLineFailure(arch('--arch', 'no-such-model'), /unknown model 'no-such-model'/);
  });
});
