// Keras's InceptionV3 weights onto convnets' inception_v3: the layout files and the logits of
// scripts/fixtures/keras_inception_fixtures.py (h5py and PyTorch), and the branch pools' count_include_pad=False.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { withBackend } from '../../src/backend/registry.js';
import { Hdf5File, decodeKerasLayers, type KerasLayerWeights, type KerasWeight } from '../../src/io/index.js';
import { KERAS_INCEPTION_V3_OPTIONS, kerasShapes } from '../../src/io/keras/index.js';
import { kerasLayers } from '../../src/io/keras/layout.js';
import * as models from '../../src/models/index.js';
import { InceptionA, type InceptionV3 } from '../../src/models/inception-v3.js';
import { noGrad, tensor } from '../../src/tensor/index.js';
import { builderOptionsFor } from '../../src/cli/transfer.js';
import { kerasFormula } from './keras-formula.js';

const fixturePath = (name: string) =>
  new URL(`../../../test/fixtures/keras/${name}`, import.meta.url).pathname;
const fixture = (name: string) => new Uint8Array(readFileSync(fixturePath(name)));
/** The layers of a layout file: names and shapes as Keras writes them, values never written. */
const layoutLayers = (name: string) => kerasLayers(new Hdf5File(fixture(name)));

/** The model's keys and shapes, built on the meta backend (shapes only), without BatchNorm's step counters. */
function modelShapes(options: Record<string, unknown>): Map<string, readonly number[]> {
  const net = withBackend('meta', () => models.get('inception_v3', options));
  return new Map(
    [...net.stateDict()]
      .filter(([key]) => !key.endsWith('num_batches_tracked'))
      .map(([key, t]) => [key, t.shape]),
  );
}

const sorted = <V>(map: Map<string, V>) => new Map([...map].sort(([a], [b]) => (a < b ? -1 : 1)));

/** The same layers, with each layer's weights changed by `edit` (which may drop a layer by returning null). */
function editLayers(
  layers: KerasLayerWeights,
  edit: (
    layer: string,
    weights: ReadonlyMap<string, KerasWeight>,
  ) => [string, Map<string, KerasWeight>] | null,
): KerasLayerWeights {
  const out = new Map<string, ReadonlyMap<string, KerasWeight>>();
  for (const [layer, weights] of layers) {
    const edited = edit(layer, weights);
    if (edited !== null) out.set(edited[0], edited[1]);
  }
  return out;
}

test("Keras 2's InceptionV3 file: every weight maps onto convnets' inception_v3 (no aux head) with its shape", () => {
  const { keras, model, shapes } = kerasShapes(fixture('inception_v3-layout.h5'));
  assert.deepEqual([keras, model], ['InceptionV3', 'inception_v3']);
  // 94 convolutions, 94 BatchNorms × 4 (gamma, absent from the file, as ones), fc weight and bias.
  assert.equal(shapes.size, 94 + 94 * 4 + 2);
  assert.deepEqual(sorted(shapes), sorted(modelShapes({ ...KERAS_INCEPTION_V3_OPTIONS })));
  // The file lists its layers in reverse: placed by number, conv2d_1 is the stem's first, conv2d_94 the last.
  assert.deepEqual(shapes.get('Conv2d_1a_3x3.conv.weight'), [32, 3, 3, 3]);
  assert.deepEqual(shapes.get('Mixed_6b.branch7x7_2.conv.weight'), [128, 128, 1, 7]);
  assert.deepEqual(shapes.get('Mixed_7c.branch3x3dbl_3b.conv.weight'), [384, 384, 3, 1]);
  assert.deepEqual(shapes.get('fc.weight'), [1000, 2048]);
});

test("tf.keras's names (conv2d, conv2d_1 …), numbers that start higher, and _notop: everything but fc maps", () => {
  const expected = modelShapes({ ...KERAS_INCEPTION_V3_OPTIONS });
  expected.delete('fc.weight');
  expected.delete('fc.bias');
  const notop = kerasShapes(fixture('inception_v3-notop-tfkeras-layout.h5'));
  assert.equal(notop.keras, 'InceptionV3');
  assert.deepEqual(sorted(notop.shapes), sorted(expected));
  // A session that built layers before numbers these from higher up: conv2d_95 …, batch_normalization_301 ….
  const renumber = (name: string) =>
    name.replace(/^(conv2d|batch_normalization)(?:_(\d+))?$/, (_, prefix: string, n?: string) => {
      const number = Number(n ?? 0) + (prefix === 'conv2d' ? 95 : 301);
      return `${prefix}_${number}`;
    });
  const shifted = editLayers(layoutLayers('inception_v3-notop-tfkeras-layout.h5'), (layer, weights) => [
    renumber(layer),
    new Map(weights),
  ]);
  assert.deepEqual(sorted(kerasShapes(shifted).shapes), sorted(expected));
});

test('a kernel of the wrong shape, a missing or misfit BatchNorm, a stray layer: FormatErrors naming them', () => {
  const layers = layoutLayers('inception_v3-layout.h5');
  const reshaped = (target: string, name: string, shape: number[]) =>
    editLayers(layers, (layer, weights) => {
      const copy = new Map(weights);
      if (layer === target) copy.set(name, { shape, read: () => new Float32Array(0) });
      return [layer, copy];
    });
  // conv2d_5 is the stem's fifth convolution, 3×3 80 → 192.
  assert.throws(() => kerasShapes(reshaped('conv2d_5', 'kernel', [3, 3, 192, 80])), {
    name: 'FormatError',
    message:
      'Keras: conv2d_5 kernel [3, 3, 192, 80] (3×3, 192 → 80 channels) does not fit Conv2d_4a_3x3.conv, which has 3×3, 80 → 192 channels',
  });
  assert.throws(() => kerasShapes(reshaped('conv2d_12', 'kernel', [1, 1, 256, 32])), {
    message:
      /Keras: conv2d_12 kernel \[1, 1, 256, 32\] .* does not fit Mixed_5b.branch_pool.conv, which has 1×1, 192 → 32/,
  });
  assert.throws(() => kerasShapes(reshaped('batch_normalization_5', 'moving_mean', [80])), {
    name: 'FormatError',
    message:
      'Keras: batch_normalization_5 moving_mean [80] does not fit Conv2d_4a_3x3.bn, which has 192 channels',
  });
  const without = (dropped: string) =>
    editLayers(layers, (layer, w) => (layer === dropped ? null : [layer, new Map(w)]));
  assert.throws(() => kerasShapes(without('batch_normalization_7')), {
    name: 'FormatError',
    message:
      "Keras: InceptionV3's BatchNormalization layers are numbered in a row, but batch_normalization_7 is missing (batch_normalization_6 is followed by batch_normalization_8)",
  });
  assert.throws(() => kerasShapes(without('conv2d_94')), {
    name: 'FormatError',
    message:
      "Keras: numbered Conv2D layers (conv2d_1, …) are read as InceptionV3's, which has 94; this file has 93 (conv2d_1 … conv2d_93)",
  });
  const withGamma = editLayers(layers, (layer, weights) => {
    const copy = new Map(weights);
    if (layer === 'batch_normalization_3') copy.set('gamma', copy.get('beta') as KerasWeight);
    return [layer, copy];
  });
  assert.throws(() => kerasShapes(withGamma), {
    message: "Keras: layer 'batch_normalization_3' has an unexpected weight 'gamma'",
  });
  const stray = new Map(layers).set('dense_1', new Map());
  assert.throws(() => kerasShapes(stray), {
    message: "Keras: layer 'dense_1' has no counterpart in InceptionV3 (convnets' inception_v3)",
  });
});

interface Logits {
  input: { name: string; shape: number[] };
  logits: { shape: number[]; data: number[] };
  maxAbsLogit: number;
  countedPaddingMaxDifference: number;
}

test("InceptionV3 on Keras-layout weights computes torchvision's logits with Keras's pooling (75×75)", () => {
  const expected = JSON.parse(readFileSync(fixturePath('inception_v3-logits.json'), 'utf8')) as Logits;
  // The layout file's names and shapes, the formula's values: what an .h5 file with values would give.
  const layers = editLayers(layoutLayers('inception_v3-layout.h5'), (layer, weights) => [
    layer,
    new Map(
      [...weights].map(([name, { shape }]) => [
        name,
        { shape, read: () => kerasFormula(`${layer}/${name}`, shape) },
      ]),
    ),
  ]);
  const weights = decodeKerasLayers(layers);
  assert.deepEqual(weights.modelOptions, {
    auxLogits: false,
    transformInput: false,
    poolCountIncludePad: false,
  });
  assert.ok(
    weights.tensors
      .get('Mixed_7c.branch_pool.bn.weight')
      ?.data()
      .every((v) => v === 1),
  );
  // As the CLI builds it (readWeightsFile names the file's model): inception_v3 with the Keras options only.
  const file = {
    tensors: weights.tensors,
    format: 'keras',
    model: { name: weights.model, options: weights.modelOptions },
    optional: undefined,
  } as const;
  assert.throws(() => builderOptionsFor(file, 'resnet50', 'x.h5'), {
    message: 'x.h5: holds the weights of inception_v3, not resnet50; use --arch inception_v3',
  });
  const net = models.get('inception_v3', {
    numClasses: 1000,
    ...builderOptionsFor(file, 'inception_v3', 'x.h5'),
  });
  net.loadStateDict(weights.tensors, { optional: (key) => key.endsWith('num_batches_tracked') });
  net.eval();
  const input = tensor(kerasFormula(expected.input.name, expected.input.shape), expected.input.shape);
  const logits = noGrad(() => net.call(input));
  assert.deepEqual(logits.shape, expected.logits.shape);
  // float32 through 94 convolutions: measured 1e-6 of the largest logit; allowed 1e-4 of it.
  const tolerance = 1e-4 * expected.maxAbsLogit;
  const actual = logits.data();
  let worst = 0;
  for (let i = 0; i < actual.length; i++)
    worst = Math.max(worst, Math.abs(actual[i] - expected.logits.data[i]));
  assert.ok(worst <= tolerance, `largest difference ${worst} > ${tolerance}`);
  // torchvision's own pooling (padding counted) would be off by far more: the test sees the pooling.
  assert.ok(expected.countedPaddingMaxDifference > 1000 * tolerance);
});

test('poolCountIncludePad: false averages a border window over the pixels inside the image only', () => {
  // A 3×3 one-channel input 1 … 9 into Mixed_5b's kind of block; its pool branch passes the average through.
  const branchPool = (countIncludePad: boolean) => {
    const block = new InceptionA(1, 1, countIncludePad);
    const { conv, bn } = block.branch_pool;
    conv.weight.assign(tensor([1], [1, 1, 1, 1]));
    bn.runningVar?.assign(tensor([1 - bn.eps], [1]));
    block.eval();
    const x = tensor(
      Array.from({ length: 9 }, (_, i) => i + 1),
      [1, 1, 3, 3],
    );
    const y = noGrad(() => block.call(x));
    assert.deepEqual(y.shape, [1, 64 + 64 + 96 + 1, 3, 3]);
    return [...y.data().slice(224 * 9)];
  };
  // Corner: (1 + 2 + 4 + 5) / 4 pixels; edge: (1 + 2 + 3 + 4 + 5 + 6) / 6; centre: 45 / 9.
  const inside = [12 / 4, 21 / 6, 16 / 4, 27 / 6, 45 / 9, 33 / 6, 24 / 4, 39 / 6, 28 / 4];
  const counted = [12, 21, 16, 27, 45, 33, 24, 39, 28].map((sum) => sum / 9);
  branchPool(false).forEach((v, i) =>
    assert.ok(Math.abs(v - inside[i]) < 1e-5, `${i}: ${v} vs ${inside[i]}`),
  );
  branchPool(true).forEach((v, i) =>
    assert.ok(Math.abs(v - counted[i]) < 1e-5, `${i}: ${v} vs ${counted[i]}`),
  );
  const keras = withBackend('meta', () => models.get('inception_v3', { ...KERAS_INCEPTION_V3_OPTIONS }));
  const blocks = [
    'Mixed_5b',
    'Mixed_5c',
    'Mixed_5d',
    'Mixed_6b',
    'Mixed_6c',
    'Mixed_6d',
    'Mixed_6e',
    'Mixed_7b',
    'Mixed_7c',
  ];
  for (const path of blocks) assert.equal((keras.get(path) as InceptionA).poolCountIncludePad, false, path);
  assert.equal((keras as InceptionV3).AuxLogits, null);
});
