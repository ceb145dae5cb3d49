import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { withBackend } from '../../src/backend/registry.js';
import { Hdf5Dataset, Hdf5File, decodeKeras, readWeightsFile } from '../../src/io/index.js';
import { KERAS_RESNET_OPTIONS, denseToLinear, hwioToOihw, kerasShapes } from '../../src/io/keras/index.js';
import { kerasLayers } from '../../src/io/keras/layout.js';
import * as models from '../../src/models/index.js';
import { Bottleneck } from '../../src/models/resnet.js';
import { BatchNorm2d, Conv2d, Flatten, Linear, ReLU, Sequential } from '../../src/nn/index.js';
import { noGrad, tensor } from '../../src/tensor/index.js';
import { builderOptionsFor, modelWithWeights } from '../../src/cli/transfer.js';
import { saveSafetensors } from '../../src/io/safetensors.js';
import { headPath } from '../../src/train/transfer.js';

/** Files written by scripts/fixtures/keras_fixtures.py with h5py, in Keras 2's layout; expected values by PyTorch. */
const fixturePath = (name: string) =>
  new URL(`../../../test/fixtures/keras/${name}`, import.meta.url).pathname;
const fixture = (name: string) => new Uint8Array(readFileSync(fixturePath(name)));
const json = (name: string) => JSON.parse(readFileSync(fixturePath(name), 'utf8'));

interface Values {
  shape: number[];
  data: number[];
}

function assertClose(actual: ArrayLike<number>, expected: number[], tolerance: number, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; i++) {
    assert.ok(
      Math.abs(actual[i] - expected[i]) <= tolerance,
      `${what}[${i}]: ${actual[i]} vs ${expected[i]}`,
    );
  }
}

for (const file of ['small.h5', 'small-latest.h5']) {
  test(`${file}: Keras conv/BN/dense weights moved to PyTorch's layouts compute PyTorch's output`, () => {
    const expected = json('small.json');
    const layers = kerasLayers(new Hdf5File(fixture(file)));
    assert.deepEqual([...layers.keys()], ['conv', 'bn', 'dense']); // layers without weights are skipped
    const read = (layer: string, weight: string) => {
      const dataset = layers.get(layer)?.get(weight) as Hdf5Dataset;
      return { values: dataset.read() as Float32Array, shape: dataset.shape };
    };
    const kernel = read('conv', 'kernel');
    const dense = read('dense', 'kernel');
    const state = new Map([
      ['0.weight', tensor(hwioToOihw(kernel.values, kernel.shape), [4, 3, 3, 3])],
      ['0.bias', tensor(read('conv', 'bias').values, [4])],
      ['1.weight', tensor(read('bn', 'gamma').values, [4])],
      ['1.bias', tensor(read('bn', 'beta').values, [4])],
      ['1.running_mean', tensor(read('bn', 'moving_mean').values, [4])],
      ['1.running_var', tensor(read('bn', 'moving_variance').values, [4])],
      // Flatten of the [6, 5, 4] channels-last map: inputs reordered to channels-first [4, 6, 5].
      ['4.weight', tensor(denseToLinear(dense.values, dense.shape, [4, 6, 5]), [3, 120])],
      ['4.bias', tensor(read('dense', 'bias').values, [3])],
    ]);
    for (const [key, value] of Object.entries(expected.state as Record<string, Values>)) {
      assertClose(state.get(key)?.data() ?? [], value.data, 0, key);
    }
    const net = new Sequential(
      new Conv2d(3, 4, 3, { padding: 1 }),
      new BatchNorm2d(4, { eps: expected.eps }),
      new ReLU(),
      new Flatten(),
      new Linear(120, 3),
    );
    net.loadStateDict(state, { optional: (key) => key.endsWith('num_batches_tracked') });
    net.eval();
    const output = noGrad(() => net.call(tensor(expected.input.data, expected.input.shape)));
    assert.deepEqual(output.shape, expected.output.shape);
    assertClose(output.data(), expected.output.data, 1e-5, 'output');
  });
}

test('chunked datasets (chunks overhanging the edges), float64 and attributes read as h5py wrote them', () => {
  const expected = json('chunked.json');
  const file = new Hdf5File(fixture('chunked.h5'));
  const a = file.root.get('a') as Hdf5Dataset;
  assert.deepEqual(a.shape, [5, 7]);
  assertClose(a.read(), expected.a, 0, 'a');
  assertClose((file.root.get('group/b') as Hdf5Dataset).read(), expected.b, 0, 'b');
  assert.deepEqual([...(file.root.get('c') as Hdf5Dataset).read()], [0, 1, 2, 3, 4, 5]);
  assert.deepEqual(file.root.attribute('note'), { shape: [], values: ['variable-length text'] });
  assert.deepEqual(file.root.attribute('numbers'), { shape: [3], values: [1, -2, 3] });
  assert.equal(file.root.attribute('absent'), undefined);
});

test('a filtered dataset, a file that is not HDF5 and one that is not Keras are FormatErrors naming the field', () => {
  const gzip = new Hdf5File(fixture('gzip.h5')).root.get('conv/conv/kernel:0') as Hdf5Dataset;
  assert.throws(() => gzip.read(), {
    name: 'FormatError',
    message: 'HDF5: filter 1 (deflate) in dataset conv/conv/kernel:0 is not supported',
  });
  assert.throws(() => new Hdf5File(new Uint8Array(16)), /HDF5: no HDF5 signature/);
  assert.throws(() => decodeKeras(fixture('chunked.h5')), /Keras: no layer_names attribute at \//);
  assert.throws(
    () => decodeKeras(fixture('small.h5')),
    /Keras: layers 'conv', 'bn', 'dense'… are not those of a Keras application/,
  );
  // The layout files' storage was never written: values cannot be read, names and shapes can.
  assert.throws(
    () => decodeKeras(fixture('vgg16-layout.h5')),
    /dataset block1_conv1\/block1_conv1\/kernel:0: its storage was never written/,
  );
});

/** The model's keys and shapes, built on the meta backend (shapes only), without BatchNorm's step counters. */
function modelShapes(name: string, options: Record<string, unknown>): Map<string, readonly number[]> {
  const net = withBackend('meta', () => models.get(name, options));
  return new Map(
    [...net.stateDict()]
      .filter(([key]) => !key.endsWith('num_batches_tracked'))
      .map(([key, t]) => [key, t.shape]),
  );
}

test("Keras ResNet50's every weight maps onto a key of convnets' resnet50 with its shape, and no key is left", () => {
  const { keras, model, shapes } = kerasShapes(fixture('resnet50-layout.h5'));
  assert.equal(keras, 'ResNet50');
  assert.equal(model, 'resnet50');
  const expected = modelShapes('resnet50', { ...KERAS_RESNET_OPTIONS });
  assert.equal(shapes.size, 267); // 53 convolutions, 53 BatchNorms × 4, fc weight and bias
  assert.deepEqual(new Map([...shapes].sort()), new Map([...expected].sort()));
  assert.deepEqual(shapes.get('layer2.0.downsample.0.weight'), [512, 256, 1, 1]);
});

test("Keras VGG16's every weight maps onto convnets' vgg16, fc1 onto classifier.0 (25088 = 512·7·7 inputs)", () => {
  const { keras, shapes } = kerasShapes(fixture('vgg16-layout.h5'));
  assert.equal(keras, 'VGG16');
  const expected = modelShapes('vgg16', {});
  assert.deepEqual(new Map([...shapes].sort()), new Map([...expected].sort()));
  assert.deepEqual(shapes.get('features.28.weight'), [512, 512, 3, 3]);
  assert.deepEqual(shapes.get('classifier.0.weight'), [4096, 25088]);
});

test("Keras's ResNet block (stride on the first 1×1, BN eps 1.001e-5) against PyTorch's block so changed", () => {
  const expected = json('bottleneck.json');
  const downsample = new Sequential(
    new Conv2d(8, 16, 1, { stride: 2, bias: false }),
    new BatchNorm2d(16, { eps: KERAS_RESNET_OPTIONS.batchNormEps }),
  );
  const block = new Bottleneck(8, 4, { stride: 2, downsample, ...KERAS_RESNET_OPTIONS });
  assert.equal(block.conv1.stride[0], 2);
  assert.equal(block.conv2.stride[0], 1);
  const state = new Map(
    Object.entries(expected.state as Record<string, Values>).map(([k, v]) => [k, tensor(v.data, v.shape)]),
  );
  block.loadStateDict(state, { optional: (key) => key.endsWith('num_batches_tracked') });
  block.eval();
  const output = noGrad(() => block.call(tensor(expected.input.data, expected.input.shape)));
  assert.deepEqual(output.shape, expected.output.shape);
  assertClose(output.data(), expected.output.data, 1e-5, 'output');
});

test('a Keras file names its model: the CLI builds it with Keras options, and refuses another --arch', async () => {
  const file = await readWeightsFile(fixturePath('small.h5')).catch((error: Error) => error);
  assert.match(String(file), /not those of a Keras application/);
  const keras = {
    tensors: new Map(),
    format: 'keras',
    model: { name: 'resnet50', options: { strideOn: '1x1' } },
  } as const;
  const weightsFile = { ...keras, optional: undefined };
  assert.deepEqual(builderOptionsFor(weightsFile, 'resnet50', 'x.h5'), { strideOn: '1x1' });
  assert.throws(() => builderOptionsFor(weightsFile, 'resnet18', 'x.h5'), {
    name: 'ValueError',
    message: 'x.h5: holds the weights of resnet50, not resnet18; use --arch resnet50',
  });
  const net = withBackend('meta', () => models.get('resnet50', { numClasses: 3, ...KERAS_RESNET_OPTIONS }));
  const first = net.get('layer2.0') as Bottleneck;
  assert.deepEqual([first.conv1.stride[0], first.conv2.stride[0], first.bn1.eps], [2, 1, 1.001e-5]);
});

test('a file without the head (include_top=False) loads for transfer: the rest by key, the head fresh', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'convnets-notop-'));
  try {
    const source = models.get('lenet5', { seed: 1 });
    const head = headPath(source, models.info('lenet5').head);
    const body = new Map([...source.stateDict()].filter(([key]) => !key.startsWith(`${head}.`)));
    const file = join(dir, 'notop.safetensors');
    await saveSafetensors(file, body);
    const model = await modelWithWeights('lenet5', {}, { file, published: null });
    for (const [key, t] of body) assert.deepEqual(model.stateDict().get(key)?.data(), t.data(), key);
    assert.ok(model.stateDict().has(`${head}.weight`));
    // Any other key missing is still an error.
    const [first] = body.keys();
    body.delete(first);
    await saveSafetensors(file, body);
    await assert.rejects(modelWithWeights('lenet5', {}, { file, published: null }), {
      message: new RegExp(`notop.safetensors: not the weights of lenet5: .*missing key.*'${first}'`),
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
