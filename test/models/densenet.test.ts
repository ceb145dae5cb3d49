// DenseNets against torchvision: keys, shapes, parameter and MAC counts from
// test/fixtures/model-keys-inception-densenet.json (written by scripts/fixtures/model_keys_inception_densenet.py).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ShapeError } from '../../src/errors.js';
import {
  DenseBlock,
  DenseLayer,
  DenseNet,
  densenet121,
  densenet121Info,
  densenet161Info,
  densenet169Info,
  densenet201Info,
  densenetConfigs,
  type DenseNetConfig,
} from '../../src/models/densenet.js';
import * as registry from '../../src/models/registry.js';
import { crossEntropy, noGrad, randn, tensor } from '../../src/tensor/index.js';
import { loadFixture } from '../pytorch/helpers.js';
import {
  assertFailsAt,
  filledWith,
  keysAndShapes,
  parametersWithoutGradient,
  rootMeanSquare,
  sameValues,
  traceCalls,
  type KeysAndShapes,
} from './helpers.js';

type MacsBySide = Record<'32' | '64' | '224', number>;
interface Figures {
  parameters: number;
  macs: MacsBySide;
}
type DeeperName = 'densenet161' | 'densenet169' | 'densenet201';
type Fixture = { densenet121: Figures & { keys: KeysAndShapes } } & Record<
  DeeperName,
  Figures & { keyCount: number }
>;

const fixture = loadFixture<Fixture>('model-keys-inception-densenet.json');

// Building DenseNet-121 draws 8 million initial values (about half a second): the tests share one.
const net = densenet121({ seed: 1 });

test('DenseNet-121 has 7,978,856 parameters, as torchvision', () => {
  assert.equal(net.numParameters(), 7_978_856);
  assert.equal(net.numParameters(), fixture.densenet121.parameters);
  assert.equal(densenet121Info.parameters, net.numParameters());
});

test("DenseNet-121's state_dict keys and shapes are torchvision's, in order", () => {
  assert.deepEqual(keysAndShapes(net), fixture.densenet121.keys);
  assert.ok(net.stateDict().has('features.denseblock1.denselayer1.norm1.weight'));
});

test('each dense layer sees every earlier map of its block; transitions halve the maps', () => {
  const block1 = net.get('features.denseblock1') as DenseBlock;
  block1.children().forEach((layer, i) => {
    assert.ok(layer instanceof DenseLayer);
    assert.equal(layer.norm1.numFeatures, 64 + 32 * i);
    assert.deepEqual(layer.conv1.weight.shape, [128, 64 + 32 * i, 1, 1]);
    assert.deepEqual(layer.conv2.weight.shape, [32, 128, 3, 3]);
  });
  // 64 + 6·32 = 256 → 128; 128 + 12·32 = 512 → 256; 256 + 24·32 = 1024 → 512; 512 + 16·32 = 1024.
  assert.deepEqual(
    [1, 2, 3, 4].map((i) => (net.get(`features.denseblock${i}`) as DenseBlock).outChannels),
    [256, 512, 1024, 1024],
  );
  assert.equal(net.classifier.inFeatures, 1024);
  const block = new DenseBlock(3, 5, 2, 4).eval();
  assert.deepEqual(noGrad(() => block.call(randn([2, 5, 6, 6]))).shape, [2, 5 + 3 * 4, 6, 6]);
});

test('DenseNet-121 at 64×64 costs what torchvision counts, and 2,834,161,664 MACs at 224', () => {
  net.eval();
  const at = (side: number) => noGrad(() => traceCalls(() => net.call(randn([1, 3, side, side]))));
  const small = at(32);
  assert.deepEqual(small.result.shape, [1, 1000]);
  assert.equal(small.macs, fixture.densenet121.macs['32']);
  assert.equal(at(64).macs, fixture.densenet121.macs['64']);
  // 224 = 7 · 32, and every stride here (2, 2, then the three 2×2 transitions) divides 32 exactly, so each
  // convolution's output is 7² times larger at 224 than at 32; the classifier after global pooling is the same.
  const classifier = small.calls.filter((c) => c.path === 'classifier').reduce((n, c) => n + c.macs, 0);
  assert.equal(classifier, 1024 * 1000);
  assert.equal(49 * (small.macs - classifier) + classifier, 2_834_161_664);
  assert.equal(densenet121Info.macs, 2_834_161_664);
  assert.equal(fixture.densenet121.macs['224'], 2_834_161_664);
});

test('a training step at 32×32 back-propagates from the classifier to the first convolution', () => {
  net.train();
  net.zeroGrad();
  const logits = net.call(randn([2, 3, 32, 32]));
  assert.deepEqual(logits.shape, [2, 1000]);
  const loss = crossEntropy(logits, tensor(Int32Array.of(1, 998), [2]));
  loss.backward();
  const names = [
    'features.conv0.weight',
    'features.denseblock1.denselayer1.norm1.weight',
    'features.transition2.conv.weight',
    'features.denseblock4.denselayer16.conv2.weight',
    'features.norm5.bias',
    'classifier.weight',
  ];
  assert.deepEqual(parametersWithoutGradient(net, names), [], 'finite, not all zero');
  net.zeroGrad();
  net.eval();
});

test("initialisation is torchvision's: He normal convolutions, BN 1 and 0, classifier bias 0", () => {
  const std = rootMeanSquare(net.getParameter('features.denseblock3.denselayer5.conv2.weight')!.data());
  const expected = Math.sqrt(2 / (128 * 9));
  assert.ok(Math.abs(std - expected) < 0.03 * expected, `std ${std} vs ${expected}`);
  assert.ok(filledWith(net.getParameter('features.norm0.weight'), 1));
  assert.ok(filledWith(net.getParameter('features.transition1.norm.bias'), 0));
  assert.ok(filledWith(net.getParameter('classifier.bias'), 0));
});

/**
 * Parameters of a DenseNet-BC worked out from its config alone, an oracle independent of the classes: conv0 7×7,
 * per dense layer BN(c), conv1×1 c→4k, BN(4k), conv3×3 4k→k; per transition BN(c), conv1×1 c→c/2; norm5, classifier.
 */
function parametersFromConfig({ growthRate: k, blockConfig, numInitFeatures }: DenseNetConfig): number {
  let c = numInitFeatures;
  let total = 3 * c * 49 + 2 * c;
  blockConfig.forEach((layers, i) => {
    for (let l = 0; l < layers; l++, c += k) total += 2 * c + c * 4 * k + 2 * 4 * k + 4 * k * k * 9;
    if (i < blockConfig.length - 1) {
      total += 2 * c + c * Math.floor(c / 2);
      c = Math.floor(c / 2);
    }
  });
  return total + 2 * c + c * 1000 + 1000;
}

test('DenseNet-169, -201 and -161: the config table gives torchvision’s parameter counts', () => {
  const deeper: [DeeperName, DenseNetConfig, number][] = [
    ['densenet169', densenetConfigs.densenet169, densenet169Info.parameters],
    ['densenet201', densenetConfigs.densenet201, densenet201Info.parameters],
    ['densenet161', densenetConfigs.densenet161, densenet161Info.parameters],
  ];
  assert.equal(parametersFromConfig(densenetConfigs.densenet121), 7_978_856);
  for (const [name, config, recorded] of deeper) {
    assert.equal(parametersFromConfig(config), fixture[name].parameters, name);
    assert.equal(recorded, fixture[name].parameters, name);
    assert.equal(registry.info(name).macs, fixture[name].macs['224'], name);
  }
  assert.deepEqual(
    [densenet169Info, densenet201Info, densenet161Info].map((info) => [info.parameters, info.macs]),
    [
      [14_149_480, 3_359_843_328],
      [20_013_928, 4_291_365_888],
      [28_681_000, 7_727_907_072],
    ],
  );
});

test('DenseNet-169 built: parameters, key count and MACs at 32×32 are torchvision’s', () => {
  const deeper = registry.get('densenet169', { seed: 4, numClasses: 10 });
  assert.ok(deeper instanceof DenseNet);
  // Only the classifier depends on the classes: 1664 · (1000 − 10) + (1000 − 10) fewer.
  assert.equal(deeper.numParameters(), fixture.densenet169.parameters - 1665 * 990);
  assert.equal(deeper.stateDict().size, fixture.densenet169.keyCount);
  deeper.eval();
  const { macs } = noGrad(() => traceCalls(() => deeper.call(randn([1, 3, 32, 32]))));
  assert.equal(macs, fixture.densenet169.macs['32'] - 1664 * 990);
});

test('the seed repeats the initial weights', () => {
  const again = densenet121({ seed: 1 });
  const rebuilt = new Map(again.namedParameters());
  for (const [name, value] of net.namedParameters()) {
    assert.ok(sameValues(rebuilt.get(name)!.data(), value.data()), name);
  }
});

test('densenets are registered with their metadata', () => {
  for (const [name, top1] of [
    ['densenet121', 74.434],
    ['densenet161', 77.138],
    ['densenet169', 75.6],
    ['densenet201', 76.896],
  ] as const) {
    const info = registry.info(name);
    assert.equal(info.family, 'densenet');
    assert.equal(info.paper, 'Densely Connected Convolutional Networks (Huang et al.)');
    assert.equal(info.year, 2017);
    assert.deepEqual(info.inputShape, [3, 224, 224]);
    assert.equal(info.reportedAccuracy?.top1, top1);
    assert.deepEqual(info.preprocessing?.std, [0.229, 0.224, 0.225]);
  }
});

test('a wrong input names the layer where it stops fitting', () => {
  assertFailsAt(
    () => noGrad(() => net.eval().call(randn([1, 4, 32, 32]))),
    'features.conv0',
    /^features\.conv0 \(Conv2d\).*3 channels/,
    ShapeError,
  );
});
