// AlexNet three ways (src/models/alexnet.ts): torchvision's, against torchvision 0.14's state_dict and figures
// (test/fixtures/model-keys-classic.json, from scripts/fixtures/model_keys_classic.py); the 2012 paper's at 227×227,
// against its figure 2 layer by layer; and ZFNet against Zeiler & Fergus's figure 3.
// Building is the slow part (60 million random draws each): every model is built once and shared.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ValueError } from '../../src/errors.js';
import {
  AlexNet,
  alexnet,
  alexnetPaper,
  initAlexNetPaperWeights,
  initZfNetWeights,
  zfnet,
} from '../../src/models/alexnet.js';
import { info } from '../../src/models/registry.js';
import {
  Conv2d,
  Dropout,
  Linear,
  LocalResponseNorm,
  MaxPool2d,
  ReLU,
  Sequential,
} from '../../src/nn/index.js';
import { crossEntropy, noGrad, randn, sum, tensor } from '../../src/tensor/index.js';
import {
  assertFailsAt,
  classicFixture,
  keysAndShapes,
  lazy,
  meanAndStd,
  outputOf,
  parametersWithoutGradient,
  traceCalls,
  type Call,
} from './helpers.js';

const fixture = classicFixture();

// The papers' Gaussian init is left out (60 million more normal draws each): it is checked on a miniature below.
const torchvisionModel = lazy(() => alexnet({ seed: 0 }));
const paperModel = lazy(() => alexnetPaper({ seed: 0, initWeights: false }));
const zfModel = lazy(() => zfnet({ seed: 0, initWeights: false }));

/** Output [C, H, W] of each convolution and pooling layer of `features`, in order. */
function featureShapes(calls: readonly Call[]): string[] {
  return calls
    .filter((c) => /^features\.\d+$/.test(c.path) && (c.type === 'Conv2d' || c.type === 'MaxPool2d'))
    .map((c) => `${c.type} ${c.output.slice(1).join('×')}`);
}

describe('alexnet (torchvision)', () => {
  after(() => torchvisionModel.release());

  test('alexnet: torchvision’s state_dict keys and shapes in order, 61,100,840 parameters', () => {
    const net = torchvisionModel.get();
    assert.deepEqual(keysAndShapes(net), fixture.alexnet.stateDict);
    assert.equal(net.numParameters(), 61_100_840);
    assert.equal(fixture.alexnet.parameters, 61_100_840);
    assert.equal(info('alexnet').parameters, 61_100_840);
    assert.ok(net.get('classifier.0') instanceof Dropout && net.get('classifier.3') instanceof Dropout);
  });

  test('alexnet at 3×224×224: 714,188,480 MACs, as torchvision counts them', () => {
    const net = torchvisionModel.get().eval();
    const { calls, macs, result } = traceCalls(() => noGrad(() => net.call(randn([1, 3, 224, 224]))));
    assert.deepEqual(featureShapes(calls), [
      'Conv2d 64×55×55',
      'MaxPool2d 64×27×27',
      'Conv2d 192×27×27',
      'MaxPool2d 192×13×13',
      'Conv2d 384×13×13',
      'Conv2d 256×13×13',
      'Conv2d 256×13×13',
      'MaxPool2d 256×6×6',
    ]);
    assert.deepEqual(result.shape, [1, 1000]);
    assert.equal(macs, 714_188_480);
    assert.equal(fixture.alexnet.macs, macs);
    assert.equal(info('alexnet').macs, macs);
    assert.deepEqual(info('alexnet').preprocessing, {
      mean: [0.485, 0.456, 0.406],
      std: [0.229, 0.224, 0.225],
    });
  });

  test('alexnet trains at a small input (adaptive pooling): a backward pass at 2×3×64×64 reaches every parameter', () => {
    const net = torchvisionModel.get().train();
    crossEntropy(net.call(randn([2, 3, 64, 64])), tensor(Int32Array.of(1, 999))).backward();
    assert.deepEqual(parametersWithoutGradient(net), []);
    net.zeroGrad();
  });
});

test('the papers’ Gaussian init: N(0, 0.01) weights; biases 1 in conv2, conv4, conv5, fc6, fc7 (AlexNet), 0 (ZFNet)', () => {
  // A miniature with AlexNet's eight weighted layers in order: building the real one's Gaussians takes seconds.
  const miniature = (): AlexNet =>
    new AlexNet(
      new Sequential(
        new Conv2d(3, 4, 3),
        new ReLU(),
        new Conv2d(4, 4, 3, { groups: 2 }),
        new Conv2d(4, 8, 3),
        new Conv2d(8, 8, 3, { groups: 2 }),
        new Conv2d(8, 4, 3),
      ),
      null,
      new Sequential(new Linear(100, 400), new ReLU(), new Linear(400, 50), new Linear(50, 10)),
    );
  const biases = (net: AlexNet): number[][] =>
    net
      .modules()
      .filter((m): m is Conv2d | Linear => m instanceof Conv2d || m instanceof Linear)
      .map((l) => [...new Set(l.bias!.toArray())]);
  const paper = miniature();
  initAlexNetPaperWeights(paper);
  assert.deepEqual(biases(paper), [[0], [1], [0], [1], [1], [1], [1], [0]]);
  const { mean, std } = meanAndStd((paper.get('classifier.0') as Linear).weight.data());
  assert.ok(Math.abs(mean) < 2e-4 && Math.abs(std - 0.01) < 2e-4, `mean ${mean}, std ${std}`);
  const zf = miniature();
  initZfNetWeights(zf);
  assert.deepEqual(biases(zf), [[0], [0], [0], [0], [0], [0], [0], [0]]);
  assert.throws(() => initAlexNetPaperWeights(new Sequential(new Linear(2, 2))), ValueError);
});

describe('alexnet-paper', () => {
  after(() => paperModel.release());

  test('alexnet-paper: the paper’s layers (LRN after conv1 and conv2, overlapping pooling, two-GPU grouping)', () => {
    const net = paperModel.get();
    const convs = net.features.children().filter((m): m is Conv2d => m instanceof Conv2d);
    assert.deepEqual(
      convs.map((c) => [c.outChannels, c.kernelSize[0], c.stride[0], c.groups]),
      [
        [96, 11, 4, 1],
        [256, 5, 1, 2],
        [384, 3, 1, 1],
        [384, 3, 1, 2],
        [256, 3, 1, 2],
      ],
    );
    assert.deepEqual(
      net.features.children().map((m) => m.typeName),
      // prettier-ignore
      ['Conv2d', 'ReLU', 'LocalResponseNorm', 'MaxPool2d', 'Conv2d', 'ReLU', 'LocalResponseNorm', 'MaxPool2d',
        'Conv2d', 'ReLU', 'Conv2d', 'ReLU', 'Conv2d', 'ReLU', 'MaxPool2d'],
    );
    const pool = net.get('features.3') as MaxPool2d;
    assert.deepEqual([pool.kernelSize, pool.options.stride], [3, 2]);
    // k = 2, n = 5, β = 0.75 and the paper's α = 1e-4 on the plain sum: alpha/size = 1e-4.
    const lrn = net.get('features.2') as LocalResponseNorm;
    assert.deepEqual([lrn.size, lrn.alpha / lrn.size, lrn.beta, lrn.k], [5, 1e-4, 0.75, 2]);
    assert.equal(net.avgpool, null);
    assert.ok(net.get('classifier.2') instanceof Dropout && net.get('classifier.5') instanceof Dropout);
  });

  test('alexnet-paper: 60,965,224 parameters, layer by layer as worked out in its metadata comment', () => {
    const net = paperModel.get();
    const perLayer = net
      .modules()
      .filter((m) => m instanceof Conv2d || m instanceof Linear)
      .map((m) => m.numParameters());
    assert.deepEqual(
      perLayer,
      [34_944, 307_456, 885_120, 663_936, 442_624, 37_752_832, 16_781_312, 4_097_000],
    );
    assert.equal(net.numParameters(), 60_965_224);
    assert.equal(info('alexnet-paper').parameters, 60_965_224);
  });

  test('alexnet-paper at 227: 55×55×96 → 27×27×96 → 27×27×256 → 13×13×256 → 13×13×384 → 13×13×384 → 13×13×256 → 6×6×256 → 9,216 → 4,096 → 4,096 → 1,000; 724,406,816 MACs; backward', () => {
    const net = paperModel.get().train();
    const { calls, macs, result } = traceCalls(() => net.call(randn([1, 3, 227, 227])));
    assert.deepEqual(featureShapes(calls), [
      'Conv2d 96×55×55',
      'MaxPool2d 96×27×27',
      'Conv2d 256×27×27',
      'MaxPool2d 256×13×13',
      'Conv2d 384×13×13',
      'Conv2d 384×13×13',
      'Conv2d 256×13×13',
      'MaxPool2d 256×6×6',
    ]);
    assert.deepEqual(
      ['classifier.0', 'classifier.3', 'classifier.6'].map((p) => [
        calls.find((c) => c.path === p)!.input[1],
        outputOf(calls, p)[1],
      ]),
      [
        [9_216, 4_096],
        [4_096, 4_096],
        [4_096, 1_000],
      ],
    );
    assert.equal(macs, 724_406_816);
    assert.equal(info('alexnet-paper').macs, macs);
    // No smaller input fits its classifier, so the backward pass runs at 227 too.
    sum(result).backward();
    assert.deepEqual(parametersWithoutGradient(net), []);
    net.zeroGrad();
  });

  test('alexnet-paper at 224 runs its convolutions (5×5×256 maps) and fails at classifier.0, which needs 9,216 features', () => {
    const net = paperModel.get();
    assertFailsAt(
      () => noGrad(() => net.call(randn([1, 3, 224, 224]))),
      'classifier.0',
      /expected input with 9216 features \[N, 9216\], got \[1, 6400\]/,
    );
  });
});

describe('zfnet', () => {
  after(() => zfModel.release());

  test('zfnet: 7×7 stride-2 conv1 (96), 5×5 stride-2 conv2 (256), 384, 384, 256 3×3, dense; 62,357,608 parameters', () => {
    const net = zfModel.get();
    const convs = net.features.children().filter((m): m is Conv2d => m instanceof Conv2d);
    assert.deepEqual(
      convs.map((c) => [c.outChannels, c.kernelSize[0], c.stride[0], c.groups]),
      [
        [96, 7, 2, 1],
        [256, 5, 2, 1],
        [384, 3, 1, 1],
        [384, 3, 1, 1],
        [256, 3, 1, 1],
      ],
    );
    assert.deepEqual(
      net
        .modules()
        .filter((m) => m instanceof Conv2d || m instanceof Linear)
        .map((m) => m.numParameters()),
      [14_208, 614_656, 885_120, 1_327_488, 884_992, 37_752_832, 16_781_312, 4_097_000],
    );
    assert.equal(net.numParameters(), 62_357_608);
    assert.equal(info('zfnet').parameters, 62_357_608);
  });

  test('zfnet at 224: the paper’s 110 → 55 → 26 → 13 → 6 maps, 1,168,032,896 MACs; backward', () => {
    const net = zfModel.get().train();
    const { calls, macs, result } = traceCalls(() => net.call(randn([1, 3, 224, 224])));
    assert.deepEqual(featureShapes(calls), [
      'Conv2d 96×110×110',
      'MaxPool2d 96×55×55',
      'Conv2d 256×26×26',
      'MaxPool2d 256×13×13',
      'Conv2d 384×13×13',
      'Conv2d 384×13×13',
      'Conv2d 256×13×13',
      'MaxPool2d 256×6×6',
    ]);
    assert.equal(macs, 1_168_032_896);
    assert.equal(info('zfnet').macs, macs);
    sum(result).backward();
    assert.deepEqual(parametersWithoutGradient(net), []);
    net.zeroGrad();
  });
});
