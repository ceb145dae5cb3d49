// Inception-v4 and Inception-ResNet-v2 against the paper's figures (parameter counts summed over the layer shapes
// here, module output shapes) and against PyTorch versions written from the same figures
// (scripts/fixtures/inception_fixtures.py → test/fixtures/inception-v4.json, inception-resnet-v2.json).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withBackend } from '../../src/backend/registry.js';
import { summary } from '../../src/analysis/index.js';
import { inception_v4, inceptionV4Info } from '../../src/models/inception-v4.js';
import {
  INCEPTION_RESNET_SCALES,
  InceptionResNetA,
  inceptionResNetV2Info,
  inception_resnet_v2,
} from '../../src/models/inception-resnet.js';
import * as registry from '../../src/models/registry.js';
import { add, concat, mul, noGrad, relu, zeros } from '../../src/tensor/index.js';
import { loadFixture } from '../pytorch/helpers.js';
import { keysAndShapes, outputOf, traceCalls, type KeysAndShapes } from './helpers.js';
import {
  formulaTensor,
  forwardBackwardMismatches,
  setFormulaWeights,
  type ForwardBackward,
} from './formula-weights.js';

interface Fixture {
  keys: KeysAndShapes;
  parameters: number;
  macs299: number;
  smallest: ForwardBackward;
}

const meta = <T>(fn: () => T): T => withBackend('meta', fn);

/** A conv + BN block's parameters: out · in · kh · kw weights, 2 · out BN scales and shifts. */
const conv = (inChannels: number, out: number, kh: number, kw = kh): number =>
  out * inChannels * kh * kw + 2 * out;
/** A 1×1 linear convolution with bias (the residual join). */
const join = (inChannels: number, out: number): number => out * inChannels + out;

// Figure 3, both networks.
const stem =
  conv(3, 32, 3) +
  conv(32, 32, 3) +
  conv(32, 64, 3) +
  conv(64, 96, 3) + // to 73×73×160
  conv(160, 64, 1) +
  conv(64, 96, 3) +
  conv(160, 64, 1) +
  conv(64, 64, 7, 1) +
  conv(64, 64, 1, 7) +
  conv(64, 96, 3) +
  conv(192, 192, 3);
const reductionA = (k: number, l: number, m: number, n: number): number =>
  conv(384, n, 3) + conv(384, k, 1) + conv(k, l, 3) + conv(l, m, 3);

test('Inception-v4 has 42,679,816 parameters: the sum over the layer shapes of figures 3–9', () => {
  const inceptionA = conv(384, 96, 1) * 2 + conv(384, 64, 1) * 2 + conv(64, 96, 3) * 2 + conv(96, 96, 3); // figure 4
  const inceptionB = // figure 5
    conv(1024, 128, 1) +
    conv(1024, 384, 1) +
    conv(1024, 192, 1) * 2 +
    conv(192, 224, 1, 7) +
    conv(224, 256, 7, 1) +
    conv(192, 192, 1, 7) +
    conv(192, 224, 7, 1) +
    conv(224, 224, 1, 7) +
    conv(224, 256, 7, 1);
  const reductionB =
    conv(1024, 192, 1) +
    conv(192, 192, 3) +
    conv(1024, 256, 1) +
    conv(256, 256, 1, 7) + // figure 8
    conv(256, 320, 7, 1) +
    conv(320, 320, 3);
  const inceptionC = // figure 6
    conv(1536, 256, 1) * 2 +
    conv(1536, 384, 1) * 2 +
    conv(384, 256, 1, 3) * 2 +
    conv(384, 448, 1, 3) +
    conv(448, 512, 3, 1) +
    conv(512, 256, 3, 1) * 2;
  const fc = 1536 * 1000 + 1000;
  assert.deepEqual(
    [stem, inceptionA, reductionA(192, 224, 256, 384), inceptionB, reductionB, inceptionC],
    [605_728, 317_632, 2_306_112, 2_936_256, 2_747_392, 4_553_088],
  );
  const total =
    stem +
    4 * inceptionA +
    reductionA(192, 224, 256, 384) +
    7 * inceptionB +
    reductionB +
    3 * inceptionC +
    fc;
  assert.equal(total, 42_679_816);
  const net = meta(() => inception_v4());
  assert.equal(net.numParameters(), total);
  assert.equal(inceptionV4Info.parameters, total);
  assert.equal(loadFixture<Fixture>('inception-v4.json').parameters, total);
});

test('Inception-ResNet-v2 has 32,433,928 parameters: the sum over the layer shapes of figures 3, 7 and 16–19', () => {
  const blockA = conv(384, 32, 1) * 3 + conv(32, 32, 3) + conv(32, 48, 3) + conv(48, 64, 3) + join(128, 384);
  const blockB =
    conv(1152, 192, 1) + conv(1152, 128, 1) + conv(128, 160, 1, 7) + conv(160, 192, 7, 1) + join(384, 1152);
  const reductionB = conv(1152, 256, 1) * 3 + conv(256, 384, 3) + conv(256, 288, 3) * 2 + conv(288, 320, 3);
  const blockC = conv(2144, 192, 1) * 2 + conv(192, 224, 1, 3) + conv(224, 256, 3, 1) + join(448, 2144);
  const fc = 2144 * 1000 + 1000;
  assert.deepEqual(
    [blockA, reductionA(256, 256, 384, 384), blockB, reductionB, blockC],
    [137_568, 2_902_528, 1_171_904, 3_930_112, 2_088_736],
  );
  const total =
    stem + 5 * blockA + reductionA(256, 256, 384, 384) + 10 * blockB + reductionB + 5 * blockC + fc;
  assert.equal(total, 32_433_928);
  assert.equal(meta(() => inception_resnet_v2()).numParameters(), total);
  assert.equal(inceptionResNetV2Info.parameters, total);
  assert.equal(loadFixture<Fixture>('inception-resnet-v2.json').parameters, total);
});

for (const [name, file, build, stages] of [
  [
    'inception_v4',
    'inception-v4.json',
    inception_v4,
    [
      ['stem', [384, 35]],
      ['inception_a', [384, 35]],
      ['reduction_a', [1024, 17]],
      ['inception_b', [1024, 17]],
      ['reduction_b', [1536, 8]],
      ['inception_c', [1536, 8]],
    ],
  ],
  [
    'inception_resnet_v2',
    'inception-resnet-v2.json',
    inception_resnet_v2,
    [
      ['stem', [384, 35]],
      ['inception_resnet_a', [384, 35]],
      ['reduction_a', [1152, 17]],
      ['inception_resnet_b', [1152, 17]],
      ['reduction_b', [2144, 8]],
      ['inception_resnet_c', [2144, 8]],
    ],
  ],
] as const) {
  const fixture = loadFixture<Fixture>(file);

  test(`${name}: keys as the PyTorch version, the figures' module shapes at 299×299, and its MACs`, () => {
    const net = meta(() => build());
    assert.deepEqual(keysAndShapes(net), fixture.keys);
    const { calls } = meta(() => noGrad(() => traceCalls(() => net.eval().call(zeros([1, 3, 299, 299])))));
    assert.deepEqual(
      stages.map(([path]) => outputOf(calls, path)),
      stages.map(([, [channels, side]]) => [1, channels, side, side]),
    );
    const s = summary(net, [3, 299, 299]);
    assert.equal(s.totals.macs, fixture.macs299);
    // `convnets summary NAME --depth 1` lists the same modules with the same shapes, costing all of the network.
    const modules = summary(net, [3, 299, 299], { depth: 1 }).rows;
    assert.deepEqual(
      stages.map(([path]) => modules.find((row) => row.path === path)?.outputShape),
      stages.map(([, [channels, side]]) => [1, channels, side, side]),
    );
    assert.equal(
      modules.reduce((n, row) => n + row.macs, 0),
      fixture.macs299,
    );
    assert.equal(registry.info(name).macs, fixture.macs299);
  });

  test(`${name}: forward and backward at 75×75 (the smallest input) match PyTorch on formula weights`, () => {
    const net = build({ seed: 1 });
    // Gradients of the first layers pass through 20-odd residual blocks: float32 round-off reaches 3e-4 there.
    assert.deepEqual(forwardBackwardMismatches(net, fixture.smallest, 1e-4, 1e-3), []);
  });
}

test('a residual block is relu(x + scale · up(branches(x))), with the A, B, C scales 0.17, 0.10, 0.20', () => {
  assert.deepEqual(INCEPTION_RESNET_SCALES, { a: 0.17, b: 0.1, c: 0.2 });
  const block = new InceptionResNetA(8, 0.25);
  setFormulaWeights(block);
  block.eval();
  const x = formulaTensor('input', [1, 8, 5, 5]);
  noGrad(() => {
    const joined = block.up.call(
      concat(
        block.branches.map((b) => b.call(x)),
        1,
      ),
    );
    assert.deepEqual(block.call(x).data(), relu(add(x, mul(joined, 0.25))).data());
  });
});
