import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { filterPictures, filters, gradCam, occlusion, saliency } from '../../src/analysis/index.js';
import { FASHION_MNIST_DIR, chwImage, transforms } from '../../src/data/index.js';
import { readNpy, saveWeights, writeNpy } from '../../src/io/index.js';
import * as models from '../../src/models/index.js';
import { Generator, rand, tensor, type Tensor } from '../../src/tensor/index.js';
import { loadTrained, saveCheckpoint } from '../../src/train/index.js';
import { assertOneLineFailure, assertUsageFailure, cli, withTempDir } from './helpers.js';

interface Decoded {
  data: Uint8Array;
  info: { width: number; height: number; channels: number };
}
type Sharp = (input: string) => { raw(): { toBuffer(o: { resolveWithObject: true }): Promise<Decoded> } };

async function decodePng(path: string): Promise<Decoded> {
  const name = 'sharp';
  const sharp = ((await import(name)) as { default: Sharp }).default;
  return sharp(path).raw().toBuffer({ resolveWithObject: true });
}

/** A LeNet-5 checkpoint as `convnets train` leaves it (Fashion-MNIST, padded to 32) and a raw 1×28×28 image. */
async function tinyCheckpoint(dir: string): Promise<{ checkpoint: string; image: string }> {
  const checkpoint = join(dir, 'run');
  const model = models.get('lenet5', { seed: 3 });
  await saveCheckpoint(checkpoint, {
    model,
    epoch: 1,
    meta: { model: 'lenet5', modelOptions: { seed: 3 }, data: 'fashion-mnist', size: 32 },
  });
  const image = join(dir, 'shirt.npy');
  await writeNpy(image, rand([1, 28, 28], { generator: new Generator(11) }));
  return { checkpoint, image };
}

/** The image as the checkpoint's model sees it: padded to 32×32 and normalised, as training's test transform. */
async function prepared(checkpoint: string, image: string): Promise<Tensor> {
  const trained = await loadTrained(checkpoint);
  const raw = await readNpy(image);
  const [chw] = transforms.makeTransform(trained.transform)(
    chwImage(raw.data() as Float32Array, 1, 28, 28),
    new Generator(0),
  );
  return tensor(chw.data, [1, 1, 32, 32]);
}

function assertMapsEqual(actual: Tensor, expected: Tensor, what: string): void {
  assert.deepEqual(actual.shape, expected.shape, `${what}: shape`);
  const e = expected.data();
  const largest = Math.max(...Array.from(e, Math.abs));
  actual
    .data()
    .forEach((v, i) => assert.ok(Math.abs(v - e[i]) <= 1e-5 * largest, `${what} ${i}: ${v} vs ${e[i]}`));
}

test("explain <checkpoint> writes the overlay and the raw map the library computes on the checkpoint's input", async () => {
  await withTempDir(async (dir) => {
    const { checkpoint, image } = await tinyCheckpoint(dir);
    const trained = await loadTrained(checkpoint);
    const x = await prepared(checkpoint, image);
    const out = join(dir, 'pictures');
    const cases = [
      ['gradcam', gradCam(trained.model, x, { layer: 'features.4' }).map, 'shirt-gradcam.png'],
      ['saliency', saliency(trained.model, x).map, 'shirt-saliency.png'],
      ['occlusion', occlusion(trained.model, x, { patch: 8, stride: 4 }).map, 'shirt-occlusion.png'],
    ] as const;
    for (const [method, expected, png] of cases) {
      const map = join(dir, `${method}.npy`);
      const run = cli(['explain', checkpoint, image, '--method', method, '--out', out, '--output', map]);
      assert.equal(run.status, 0, run.stderr);
      assert.match(
        run.stdout,
        new RegExp(`^shirt\\.npy: class \\d \\S.* \\(logit -?[\\d.]+\\); .*wrote ${join(out, png)}`),
      );
      assertMapsEqual(await readNpy(map), expected, method);
      // 32×32 shown 7 times larger: the shorter side reaches 224.
      const { info } = await decodePng(join(out, png));
      assert.deepEqual([info.width, info.height, info.channels], [224, 224, 3]);
    }
    const named = cli([
      'explain',
      checkpoint,
      image,
      '--method',
      'gradcam++',
      '--target',
      'Shirt',
      '--out',
      out,
    ]);
    assert.equal(named.status, 0, named.stderr);
    assert.match(
      named.stdout,
      /class 6 Shirt .*Grad-CAM\+\+ at features\.4 \[10, 10\], jet: wrote .*shirt-gradcampp\.png/,
    );
  });
});

test('explain --arch --weights takes an .npy input as given and defaults to the model’s featureLayer', async () => {
  await withTempDir(async (dir) => {
    const model = models.get('lenet5', { seed: 5 });
    await saveWeights(model, join(dir, 'w.safetensors'));
    const x = rand([1, 1, 32, 32], { generator: new Generator(2) });
    await writeNpy(join(dir, 'x.npy'), x);
    const map = join(dir, 'map.npy');
    const args = ['--arch', 'lenet5', '--weights', join(dir, 'w.safetensors'), join(dir, 'x.npy')];
    const run = cli(['explain', ...args, '--out', dir, '--output', map, '--target', '3']);
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stdout, /^x\.npy: class 3 \(logit .*Grad-CAM at features\.4 \[10, 10\]/);
    assertMapsEqual(
      await readNpy(map),
      gradCam(model, x, { layer: 'features.4', target: 3 }).map,
      'Grad-CAM',
    );
  });
});

test('show filters and maps write grids whose cells hold the pictures of the filters and maps', async () => {
  await withTempDir(async (dir) => {
    const { checkpoint, image } = await tinyCheckpoint(dir);
    const run = cli(['show', 'filters', checkpoint, '--out', dir]);
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stdout, /^filters of features\.0 \(6, 5×5\): wrote .*filters-features\.0\.png/);
    // Six 5×5 filters, each shown 10 times larger, three to a row with 2-pixel gaps: 158×106.
    const sheet = await decodePng(join(dir, 'filters-features.0.png'));
    assert.deepEqual([sheet.info.width, sheet.info.height], [158, 106]);
    const trained = await loadTrained(checkpoint);
    const expected = filterPictures(filters(trained.model, 'features.0'));
    // Filter 4 (second row, second column), its pixel (row 3, column 1): sheet pixel (2 + 52 + 10·1, 2 + 52 + 10·3).
    const at = ((54 + 30) * 158 + 54 + 10) * sheet.info.channels;
    assert.equal(sheet.data[at], expected[4].data[3 * 5 + 1]);
    const maps = cli([
      'show',
      'maps',
      checkpoint,
      image,
      '--layer',
      'features.3',
      '--out',
      dir,
      '--limit',
      '4',
    ]);
    assert.equal(maps.status, 0, maps.stderr);
    assert.match(
      maps.stdout,
      /^feature maps of features\.3 \(4 of 16, 10×10\): wrote .*shirt-maps-features\.3\.png/,
    );
    assert.ok(existsSync(join(dir, 'shirt-maps-features.3.png')));
  });
});

test('explain and show refuse bad input in one line: shape, layer, target, method, missing image', async () => {
  await withTempDir(async (dir) => {
    const { checkpoint, image } = await tinyCheckpoint(dir);
    await writeNpy(join(dir, 'rgb.npy'), rand([3, 28, 28]));
    assertOneLineFailure(
      ['explain', checkpoint, join(dir, 'rgb.npy')],
      /.*rgb\.npy: float32 \[3, 28, 28\] is not one image \[1, 28, 28\] \(channels, height, width\) as lenet5 takes$/,
    );
    assertOneLineFailure(
      ['explain', checkpoint, image, '--layer', 'layer4'],
      /LeNet5 has no layer 'layer4'; its layers are: features, features\.0, .*classifier\.4$/,
    );
    assertOneLineFailure(
      ['explain', checkpoint, image, '--target', '10'],
      /gradCam: target class 10 is out of range: the model has 10 classes \(0…9\)$/,
    );
    assertOneLineFailure(['explain', checkpoint, image, '--layer', 'classifier.0'], /.*not feature maps/);
    assertOneLineFailure(['explain', checkpoint, join(dir, 'none.png')], /input .*none\.png: no such file$/);
    assertUsageFailure(
      ['explain', checkpoint, image, '--method', 'cam'],
      /--method must be one of gradcam, /,
    );
    assertUsageFailure(
      ['explain', checkpoint, image, '--target', 'Sock'],
      /--target Sock: not a class index nor/,
    );
    assertUsageFailure(['explain', checkpoint], /name the image or \.npy to explain$/);
    assertUsageFailure(['show', checkpoint], /say what to show: filters or maps, not '.*run'$/);
    assertOneLineFailure(
      ['show', 'filters', checkpoint, '--layer', 'features.1'],
      /filters: layer 'features\.1' is a ReLU, not a convolution \(Conv2d\)$/,
    );
  });
});

const haveData = existsSync(join(FASHION_MNIST_DIR, 't10k-labels-idx1-ubyte.gz'));

test(
  'report writes one self-contained HTML page whose accuracy is eval’s, every picture inlined',
  { skip: haveData ? false : `no Fashion-MNIST at ${FASHION_MNIST_DIR}` },
  async () => {
    await withTempDir(async (dir) => {
      const { checkpoint } = await tinyCheckpoint(dir);
      const page = join(dir, 'page.html');
      const run = cli(['report', checkpoint, '--limit', '40', '--out', page]);
      assert.equal(run.status, 0, run.stderr);
      const evaluated = cli(['eval', checkpoint, '--limit', '40', '--json']);
      const top1 = (JSON.parse(evaluated.stdout) as { top1: number }).top1;
      const html = await readFile(page, 'utf8');
      assert.ok(
        html.includes(`test accuracy <b>${(100 * top1).toFixed(2)} %</b> on 40 images`),
        html.slice(0, 400),
      );
      const sources = [...html.matchAll(/src="([^"]*)"/g)].map((m) => m[1]);
      assert.ok(sources.length >= 4, `${sources.length} pictures`);
      assert.ok(
        sources.every((s) => s.startsWith('data:image/png;base64,')),
        'nothing outside the file',
      );
      assert.ok(html.includes('<h2>Grad-CAM at features.4</h2>') && html.includes('<figure>'));
      assert.match(html, /<pre>LeNet5: input \[1, 1, 32, 32\] → output \[1, 10\]/);
      assert.match(run.stdout, new RegExp(`^lenet5: test accuracy [\\d.]+ % on 40 images; wrote ${page}`));
    });
  },
);
