// VGG-11/13/16/19 with and without batch norm (src/models/vgg.ts) against torchvision 0.14's state_dict keys and
// figures (test/fixtures/model-keys-classic.json, from scripts/fixtures/model_keys_classic.py). Each VGG is over
// 130 million parameters, slow to build here, so one whole model (VGG-11, layer defaults) is built and run at
// 32×32; every configuration's `features` is built from the table; the 224 figures are counted, not run.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { outputSize } from '../../src/backend/shapes.js';
import { info } from '../../src/models/registry.js';
import { VGG, initVggWeights, makeLayers, vgg11, vggConfigs, type VggConfig } from '../../src/models/vgg.js';
import { BatchNorm2d, Conv2d, Linear, ReLU, Sequential } from '../../src/nn/index.js';
import { crossEntropy, randn, tensor } from '../../src/tensor/index.js';
import {
  assertFailsAt,
  classicFixture,
  filledWith,
  keysAndShapes,
  lazy,
  meanAndStd,
  outputOf,
  parametersWithoutGradient,
  traceCalls,
} from './helpers.js';

const fixture = classicFixture();

const variants = [
  ['vgg11', 'A'],
  ['vgg13', 'B'],
  ['vgg16', 'D'],
  ['vgg19', 'E'],
] as const;

/** vgg11 as the registry builds it but with PyTorch's layer defaults: torchvision's init is checked below. */
const whole = lazy(() => vgg11({ seed: 0, initWeights: false }));
const vgg11Model = (): VGG => whole.get();

/**
 * Parameters and MACs worked out from a configuration alone: a 3×3 padded convolution in → out at H×W has
 * 9·in·out + out parameters (+ 2·out for batch norm) and H·W·out·9·in MACs; pools halve H and W; the classifier
 * is 25,088 → 4,096 → 4,096 → 1,000.
 */
function figures(config: VggConfig, batchNorm: boolean, size: number): { parameters: number; macs: number } {
  let parameters = 0;
  let macs = 0;
  let inChannels = 3;
  for (const entry of config) {
    if (entry === 'M') {
      size = outputSize(size, 2, 2);
      continue;
    }
    parameters += 9 * inChannels * entry + entry + (batchNorm ? 2 * entry : 0);
    macs += size * size * entry * 9 * inChannels;
    inChannels = entry;
  }
  for (const [i, o] of [
    [25_088, 4_096],
    [4_096, 4_096],
    [4_096, 1_000],
  ]) {
    parameters += i * o + o;
    macs += i * o;
  }
  return { parameters, macs };
}

test('VGG-16 138,357,544 parameters and 15,470,264,320 MACs; VGG-19 143,667,240 and 19,632,062,464 (the issue’s figures)', () => {
  assert.deepEqual(figures(vggConfigs.D, false, 224), { parameters: 138_357_544, macs: 15_470_264_320 });
  assert.deepEqual(figures(vggConfigs.E, false, 224), { parameters: 143_667_240, macs: 19_632_062_464 });
});

for (const [name, config] of variants) {
  for (const batchNorm of [false, true]) {
    const registered = batchNorm ? `${name}_bn` : name;
    test(`${registered}: the registry's figures are counted from table ${config} and equal torchvision's`, () => {
      const counted = figures(vggConfigs[config], batchNorm, 224);
      const recorded = info(registered);
      assert.deepEqual({ parameters: recorded.parameters, macs: recorded.macs }, counted);
      assert.deepEqual(counted, {
        parameters: fixture[registered].parameters,
        macs: fixture[registered].macs,
      });
      assert.deepEqual(recorded.inputShape, [3, 224, 224]);
      assert.ok(recorded.reportedAccuracy !== undefined && recorded.preprocessing !== undefined);
    });

    test(`${registered}: features from table ${config} carry torchvision's keys and shapes`, () => {
      const features = new Sequential();
      features.registerModule('features', makeLayers(vggConfigs[config], batchNorm));
      const expected = fixture[registered].stateDict.filter(([key]) => key.startsWith('features.'));
      assert.deepEqual(keysAndShapes(features), expected);
    });
  }
}

test('224 → 112 → 56 → 28 → 14 → 7 through the five pools, 7×7×512 = 25,088 into the classifier', () => {
  const sizes = [224];
  for (let i = 0; i < 5; i++) sizes.push(outputSize(sizes[i], 2, 2));
  assert.deepEqual(sizes, [224, 112, 56, 28, 14, 7]);
  assert.equal((vgg11Model().get('classifier.0') as Linear).inFeatures, 7 * 7 * 512);
});

test('vgg11 built whole: torchvision’s state_dict in order, 132,863,336 parameters', () => {
  const net = vgg11Model();
  assert.deepEqual(keysAndShapes(net), fixture.vgg11.stateDict);
  assert.equal(net.numParameters(), 132_863_336);
});

test('vgg11 at 32×32: 16, 8, 4, 2, 1 after the pools, adaptive pooling back to 7×7, MACs as module.macs() count', () => {
  const net = vgg11Model().train();
  const { calls, macs, result } = traceCalls(() => net.call(randn([1, 3, 32, 32])));
  assert.deepEqual(
    calls.filter((c) => c.type === 'MaxPool2d').map((c) => c.output),
    [
      [1, 64, 16, 16],
      [1, 128, 8, 8],
      [1, 256, 4, 4],
      [1, 512, 2, 2],
      [1, 512, 1, 1],
    ],
  );
  assert.deepEqual(outputOf(calls, 'avgpool'), [1, 512, 7, 7]);
  assert.deepEqual(result.shape, [1, 1000]);
  assert.equal(macs, figures(vggConfigs.A, false, 32).macs);
  crossEntropy(result, tensor(Int32Array.of(500))).backward();
  assert.deepEqual(parametersWithoutGradient(net), []);
  net.zeroGrad();
});

test('an input below 32×32 fails at the fifth pool, named by its path', () => {
  // 16 → 8 → 4 → 2 → 1, then features.20 (MaxPool2d) has no 2×2 window left.
  assertFailsAt(
    () => vgg11Model().call(randn([1, 3, 16, 16])),
    'features.20',
    /kernel larger than the padded input/,
  );
  whole.release();
});

test('torchvision’s init: kaiming normal (fan out, ReLU) convolutions, N(0, 0.01) linear layers, zero biases, BN 1 and 0', () => {
  const layers = new Sequential(makeLayers(vggConfigs.A.slice(0, 4), true), new Linear(256, 512));
  initVggWeights(layers);
  const conv = layers.get('0.4') as Conv2d; // 64 → 128, fan out 128·9
  const { mean: convMean, std: convStd } = meanAndStd(conv.weight.data());
  assert.ok(
    Math.abs(convMean) < 0.002 && Math.abs(convStd / Math.sqrt(2 / (128 * 9)) - 1) < 0.02,
    `${convStd}`,
  );
  const { mean: linearMean, std: linearStd } = meanAndStd((layers.get('1') as Linear).weight.data());
  assert.ok(Math.abs(linearMean) < 5e-4 && Math.abs(linearStd - 0.01) < 3e-4, `${linearStd}`);
  for (const m of layers.modules()) {
    if (m instanceof Conv2d || m instanceof Linear) assert.ok(filledWith(m.bias, 0));
    if (m instanceof BatchNorm2d) {
      assert.ok(filledWith(m.weight, 1) && filledWith(m.bias, 0));
    }
  }
  assert.ok(layers.get('0.2') instanceof ReLU && layers.get('0.1') instanceof BatchNorm2d);
});
