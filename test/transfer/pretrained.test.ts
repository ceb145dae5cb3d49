// Published weights: the registry's facts checked against the zoo's own (torchvision's acc@1, ImageNet's classes),
// and PyTorch's oracle for the path an image takes to a pretrained model: a 224×224 PNG decoded, prepared with the
// weights' preprocessing and run through ResNet-18 gives PyTorch's logits within 1e-4 of the largest.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { chwImage, sharpDecoder, transforms } from '../../src/data/index.js';
import { loadWeights, readNpy } from '../../src/io/index.js';
import * as models from '../../src/models/index.js';
import { Generator, noGrad, tensor } from '../../src/tensor/index.js';
import { preprocessingTransform } from '../../src/train/index.js';
import { repoRoot } from '../graph/helpers.js';

test('the registry names torchvision weights with their URL, hash prefix, classes and preprocessing', () => {
  const resnet18 = models.publishedWeights('resnet18:IMAGENET1K_V1');
  assert.equal(resnet18.url, 'https://download.pytorch.org/models/resnet18-f37072fd.pth');
  assert.equal(resnet18.sha256, 'f37072fd');
  assert.deepEqual(resnet18.preprocessing, {
    resizeSize: 256,
    cropSize: 224,
    mean: [0.485, 0.456, 0.406],
    std: [0.229, 0.224, 0.225],
  });
  assert.equal(resnet18.classNames, models.IMAGENET_CLASSES);
  assert.equal(models.IMAGENET_CLASSES.length, 1000);
  assert.equal(models.IMAGENET_CLASSES[0], 'tench');
  assert.equal(models.IMAGENET_CLASSES[207], 'golden retriever');
  assert.equal(models.IMAGENET_CLASSES[999], 'toilet tissue');
  assert.equal(new Set(models.IMAGENET_CLASSES).size, 1000, 'every name once');

  const v2 = models.publishedWeights('resnet50:DEFAULT');
  assert.equal(v2.name, 'resnet50:IMAGENET1K_V2');
  assert.equal(v2.preprocessing.resizeSize, 232);
  for (const weights of models.weightsFor()) {
    const info = models.info(weights.model);
    assert.match(weights.sha256, /^[0-9a-f]{8}$/);
    assert.ok(weights.url.endsWith(`-${weights.sha256}.pth`), weights.url);
    if (weights.name.endsWith('IMAGENET1K_V1') && info.reportedAccuracy?.source.startsWith('torchvision'))
      assert.equal(weights.top1, info.reportedAccuracy.top1, `${weights.name}: the zoo's acc@1`);
    assert.deepEqual(info.preprocessing, {
      mean: weights.preprocessing.mean,
      std: weights.preprocessing.std,
    });
  }
  assert.ok(models.isWeightsName('resnet18:IMAGENET1K_V1'));
  assert.ok(!models.isWeightsName('weights/resnet18.pth'));
  assert.throws(
    () => models.publishedWeights('resnet18:IMAGENET1K_V9'),
    /resnet18 has resnet18:IMAGENET1K_V1, resnet18:DEFAULT/,
  );
  assert.throws(
    () => models.publishedWeights('resnet20:IMAGENET1K_V1'),
    /no published weights for resnet20; models with weights: resnet18, /,
  );
  assert.throws(() => models.publishedWeights('resnet7:DEFAULT'), /unknown model 'resnet7'/);
});

const PYTHON = '/usr/bin/python3';
const SCRIPT = join(repoRoot, 'scripts/fixtures/pretrained_predict.py');
const CACHE = join(process.env.CONVNETS_FIXTURE_CACHE ?? '/tmp/convnets-fixtures', 'pretrained-predict');
const torchAvailable =
  existsSync(PYTHON) &&
  spawnSync(PYTHON, ['-c', 'import torch, torchvision'], { encoding: 'utf8' }).status === 0;

/** Runs the script into the cache unless the cache was made by this very script. */
function fixtures(): string {
  const stamp = join(CACHE, 'script.sha256');
  const hash = createHash('sha256').update(readFileSync(SCRIPT)).digest('hex');
  if (existsSync(stamp) && readFileSync(stamp, 'utf8') === hash) return CACHE;
  mkdirSync(CACHE, { recursive: true });
  const run = spawnSync(PYTHON, [SCRIPT, CACHE], {
    encoding: 'utf8',
    env: { ...process.env, OPENBLAS_CORETYPE: 'SkylakeX', OPENBLAS_NUM_THREADS: '1' },
  });
  assert.equal(run.status, 0, `${SCRIPT} failed:\n${run.stderr}`);
  writeFileSync(stamp, hash);
  return CACHE;
}

test(
  "a 224×224 PNG through resnet18:IMAGENET1K_V1's preprocessing and a torchvision .pth gives PyTorch's logits",
  { skip: torchAvailable ? false : `${PYTHON} with torch and torchvision not found`, timeout: 120_000 },
  async () => {
    const dir = fixtures();
    const decoded = await (await sharpDecoder())(join(dir, 'image.png'), { channels: 3, size: undefined });
    assert.deepEqual([decoded.height, decoded.width, decoded.channels], [224, 224, 3]);
    // sharp gives interleaved bytes (HWC); transforms take CHW values in [0, 1].
    const plane = decoded.height * decoded.width;
    const chw = new Float32Array(3 * plane);
    for (let p = 0; p < plane; p++)
      for (let c = 0; c < 3; c++) chw[c * plane + p] = decoded.data[p * 3 + c] / 255;
    const prepare = transforms.makeTransform(
      preprocessingTransform(models.publishedWeights('resnet18:IMAGENET1K_V1').preprocessing),
    );
    const [image] = prepare(chwImage(chw, 3, decoded.height, decoded.width), new Generator(0));
    assert.deepEqual([image.channels, image.height, image.width], [3, 224, 224]);

    const net = models.get('resnet18');
    await loadWeights(net, join(dir, 'resnet18.pth'));
    net.eval();
    const logits = noGrad(() => net.call(tensor(image.data, [1, 3, 224, 224]))).data();
    const expected = (await readNpy(join(dir, 'logits.npy'))).data();
    const largest = Math.max(...Array.from(expected, Math.abs));
    let worst = 0;
    for (let i = 0; i < expected.length; i++) worst = Math.max(worst, Math.abs(logits[i] - expected[i]));
    assert.ok(worst <= 1e-4 * largest, `largest difference ${worst}, largest logit ${largest}`);
  },
);
