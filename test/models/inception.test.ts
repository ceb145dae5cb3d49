// GoogLeNet and the Inception module against torchvision (keys, shapes, counts and one module's values from
// test/fixtures/model-keys-inception-densenet.json, written by scripts/fixtures/model_keys_inception_densenet.py)
// and against the paper's figures.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ShapeError } from '../../src/errors.js';
import { Conv2d, Sequential } from '../../src/nn/index.js';
import {
  AUX_LOSS_WEIGHT,
  BasicConv2d,
  GoogLeNet,
  Inception,
  InceptionAux,
  NaiveInception,
  googlenet,
  googlenetFigures,
  googlenetInfo,
  googlenetLoss,
} from '../../src/models/inception.js';
import * as registry from '../../src/models/registry.js';
import {
  add,
  crossEntropy,
  mul,
  noGrad,
  randn,
  slice,
  sum,
  tensor,
  type Tensor,
} from '../../src/tensor/index.js';
import { type FixtureArray, loadFixture, mismatch } from '../pytorch/helpers.js';
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

interface Fixture {
  googlenet: {
    keys: KeysAndShapes;
    withAux: { parameters: number; macs: MacsBySide; macsTraining: MacsBySide };
    withoutAux: { parameters: number; macs: MacsBySide; keyCount: number };
  };
  inceptionModule: {
    args: Record<string, number>;
    parameters: Record<string, FixtureArray>;
    input: FixtureArray;
    r: FixtureArray;
    evalOutput: FixtureArray;
    trainOutput: FixtureArray;
    inputGrad: FixtureArray;
  };
}

const fixture = loadFixture<Fixture>('model-keys-inception-densenet.json');

function fromFixture(array: FixtureArray): Tensor {
  return tensor(Float32Array.from(array.data), array.shape);
}

// Building GoogLeNet draws 13 million initial values (about a second), so the tests share two models.
const withAux = googlenet({ seed: 1 });
const withoutAux = googlenet({ seed: 2, auxLogits: false });

test('BasicConv2d is a bias-free conv, BN with eps 0.001 and ReLU, under torchvision keys', () => {
  const block = new BasicConv2d(3, 8, 3, { padding: 1 });
  assert.deepEqual(
    [...block.stateDict().keys()],
    ['conv.weight', 'bn.weight', 'bn.bias', 'bn.running_mean', 'bn.running_var', 'bn.num_batches_tracked'],
  );
  assert.equal(block.bn.eps, 0.001);
  const y = block.call(randn([2, 3, 5, 5]));
  assert.deepEqual(y.shape, [2, 8, 5, 5]);
  assert.ok(
    y.data().every((v) => v >= 0),
    'ReLU output',
  );
});

test('inception 3a maps 28×28×192 to 28×28×256 as 64 + 128 + 32 + 32, branches concatenated in order', () => {
  const module = new Inception(192, 64, 96, 128, 16, 32, 32).eval();
  const x = randn([1, 192, 28, 28]);
  const { macs, result: y } = noGrad(() => traceCalls(() => module.call(x)));
  assert.deepEqual(y.shape, [1, 256, 28, 28]);
  assert.equal(module.outChannels, 256);
  let offset = 0;
  for (const [branch, channels] of [
    [module.branch1, 64],
    [module.branch2, 128],
    [module.branch3, 32],
    [module.branch4, 32],
  ] as const) {
    const alone = noGrad(() => branch.call(x));
    assert.deepEqual(alone.shape, [1, channels, 28, 28]);
    assert.deepEqual(slice(y, [0, offset, 0, 0], [1, channels, 28, 28]).data(), alone.data());
    offset += channels;
  }
  // 784 positions × (192·64 + 192·96 + 96·128·9 + 192·16 + 16·32·9 + 192·32).
  assert.equal(macs, 121_626_624);
});

test("the paper's 5×5 in branch 3 is an option: 10,035,200 MACs there instead of 3,612,672", () => {
  const module = new Inception(192, 64, 96, 128, 16, 32, 32, { branch3KernelSize: 5 }).eval();
  assert.deepEqual(module.getParameter('branch3.1.conv.weight')?.shape, [32, 16, 5, 5]);
  const { macs, result } = noGrad(() => traceCalls(() => module.call(randn([1, 192, 28, 28]))));
  assert.deepEqual(result.shape, [1, 256, 28, 28]);
  assert.equal(macs, 121_626_624 - 3_612_672 + 10_035_200);
});

test('the naive module keeps all 192 input maps in its pool branch and costs 2.5× the bottlenecked one', () => {
  const module = new NaiveInception(192, 64, 128, 32).eval();
  const { macs, result } = noGrad(() => traceCalls(() => module.call(randn([1, 192, 28, 28]))));
  assert.deepEqual(result.shape, [1, 64 + 128 + 32 + 192, 28, 28]);
  assert.equal(module.outChannels, 416);
  // 784 · 192 · (64 + 128·9 + 32·25): the 5×5 branch alone is the seeds' 120,422,400.
  assert.equal(macs, 303_464_448);
  assert.ok(macs / 121_626_624 > 2.49);
});

test("the seeds' worked example: 5×5 same conv 192→32 on 28×28 costs 120,422,400 MACs, 12,443,648 with a 1×1 bottleneck to 16", () => {
  const x = randn([1, 192, 28, 28]);
  const direct = new Conv2d(192, 32, 5, { padding: 'same' });
  const plain = noGrad(() => traceCalls(() => direct.call(x)));
  assert.deepEqual(plain.result.shape, [1, 32, 28, 28]);
  assert.equal(plain.macs, 120_422_400);

  const bottleneck = new Sequential(new Conv2d(192, 16, 1), new Conv2d(16, 32, 5, { padding: 'same' }));
  const reduced = noGrad(() => traceCalls(() => bottleneck.call(x)));
  assert.deepEqual(reduced.result.shape, [1, 32, 28, 28]);
  assert.deepEqual(
    reduced.calls.filter((c) => c.macs > 0).map((c) => [c.path, c.macs]),
    [
      ['0', 2_408_448],
      ['1', 10_035_200],
    ],
  );
  assert.equal(reduced.macs, 12_443_648);
});

test("InceptionAux is torchvision's: 4×4 pooling, 1×1 conv to 128, fc 2048→1024, dropout 0.7, fc to the classes", () => {
  const head = new InceptionAux(512, 10).eval();
  assert.deepEqual(
    [...head.namedParameters()].map(([name, t]) => [name, t.shape]),
    [
      ['conv.conv.weight', [128, 512, 1, 1]],
      ['conv.bn.weight', [128]],
      ['conv.bn.bias', [128]],
      ['fc1.weight', [1024, 2048]],
      ['fc1.bias', [1024]],
      ['fc2.weight', [10, 1024]],
      ['fc2.bias', [10]],
    ],
  );
  assert.equal(head.dropout.p, 0.7);
  // Adaptive pooling: any map of at least 4×4 gives the same 2048 features.
  for (const side of [4, 14])
    assert.deepEqual(noGrad(() => head.call(randn([2, 512, side, side]))).shape, [2, 10]);
});

test('GoogLeNet has 13,004,888 parameters with aux heads and 6,624,904 without, as torchvision', () => {
  assert.equal(withAux.numParameters(), 13_004_888);
  assert.equal(withAux.numParameters(), fixture.googlenet.withAux.parameters);
  assert.equal(withoutAux.numParameters(), 6_624_904);
  assert.equal(withoutAux.numParameters(), fixture.googlenet.withoutAux.parameters);
  assert.equal(googlenetFigures.parametersWithAux, 13_004_888);
  assert.equal(googlenetFigures.parametersWithoutAux, 6_624_904);
});

test("GoogLeNet's state_dict keys and shapes are torchvision's, in order", () => {
  assert.deepEqual(keysAndShapes(withAux), fixture.googlenet.keys);
  const mainOnly = fixture.googlenet.keys.filter(([name]) => !name.startsWith('aux'));
  assert.equal(mainOnly.length, fixture.googlenet.withoutAux.keyCount);
  assert.deepEqual(keysAndShapes(withoutAux), mainOnly);
});

test('GoogLeNet at 224×224×3: logits [1, 1000] for 1,498,376,192 MACs on the main path', () => {
  withAux.eval();
  const { macs, result } = noGrad(() => traceCalls(() => withAux.call(randn([1, 3, 224, 224]))));
  assert.deepEqual(result.shape, [1, 1000]);
  assert.equal(macs, 1_498_376_192);
  assert.equal(macs, fixture.googlenet.withAux.macs['224']);
  assert.equal(googlenetInfo.macs, macs);
});

test('aux heads run in training through forwardWithAux and are skipped in evaluation', () => {
  const x = randn([2, 3, 32, 32]);
  withAux.eval();
  const evaluated = noGrad(() => traceCalls(() => withAux.forwardWithAux(x)));
  assert.equal(evaluated.result.aux1, null);
  assert.equal(evaluated.result.aux2, null);
  assert.equal(evaluated.macs / 2, fixture.googlenet.withAux.macs['32']);

  withAux.train();
  const trained = noGrad(() => traceCalls(() => withAux.forwardWithAux(x)));
  assert.deepEqual(trained.result.logits.shape, [2, 1000]);
  assert.deepEqual(trained.result.aux1?.shape, [2, 1000]);
  assert.deepEqual(trained.result.aux2?.shape, [2, 1000]);
  assert.equal(trained.macs / 2, fixture.googlenet.withAux.macsTraining['32']);
  // The heads pool adaptively to 4×4, so their cost is the same at any input size.
  assert.equal(trained.macs / 2 - evaluated.macs / 2, googlenetFigures.auxMacs);
  assert.ok(trained.calls.some((c) => c.path === 'aux1.fc2' && c.macs > 0));

  // A plain call in training gives the main logits and leaves the heads alone.
  const plain = noGrad(() => traceCalls(() => withAux.call(x)));
  assert.deepEqual(plain.result.shape, [2, 1000]);
  assert.ok(!plain.calls.some((c) => c.path.startsWith('aux')));
  withAux.eval();

  withoutAux.train();
  const headless = noGrad(() => withoutAux.forwardWithAux(x));
  assert.equal(headless.aux1, null);
  assert.equal(headless.aux2, null);
  withoutAux.eval();
});

test('googlenetLoss is the main cross-entropy plus 0.3 × each aux cross-entropy', () => {
  const labels = tensor(Int32Array.of(0, 2), [2]);
  const logits = tensor(Float32Array.of(2, 0, 0, 0, 1, 0), [2, 3]);
  const aux1 = tensor(Float32Array.of(0, 1, 0, 0, 0, 3), [2, 3]);
  const aux2 = tensor(Float32Array.of(-1, 0, 1, 2, 2, 2), [2, 3]);
  const [main, a1, a2] = [logits, aux1, aux2].map((t) => crossEntropy(t, labels).item());
  assert.equal(AUX_LOSS_WEIGHT, 0.3);
  const total = googlenetLoss({ logits, aux1, aux2 }, labels).item();
  assert.ok(Math.abs(total - (main + 0.3 * (a1 + a2))) < 1e-6, `${total} vs ${main + 0.3 * (a1 + a2)}`);
  assert.ok(Math.abs(total - (main + a1 + a2)) > 0.1, 'the aux terms are discounted');
  assert.ok(Math.abs(googlenetLoss({ logits, aux1: null, aux2: null }, labels).item() - main) < 1e-7);
});

test('a training step at 32×32 back-propagates into the stem, every inception and both aux heads', () => {
  const net = withAux.train();
  net.zeroGrad();
  const outputs = net.forwardWithAux(randn([2, 3, 32, 32]));
  const loss = googlenetLoss(outputs, tensor(Int32Array.of(3, 7), [2]));
  assert.ok(Number.isFinite(loss.item()));
  loss.backward();
  const names = [
    'conv1.conv.weight',
    'inception3a.branch3.1.conv.weight',
    'inception5b.branch4.1.bn.weight',
    'aux1.fc2.weight',
    'aux2.conv.conv.weight',
    'fc.bias',
  ];
  assert.deepEqual(parametersWithoutGradient(net, names), [], 'finite, not all zero');
  net.zeroGrad();
  net.eval();
});

test('one Inception module matches torchvision to 1e-4: evaluation, training and the input gradient', () => {
  const c = fixture.inceptionModule;
  const a = c.args;
  const module = new Inception(a.inChannels, a.ch1x1, a.ch3x3red, a.ch3x3, a.ch5x5red, a.ch5x5, a.poolProj);
  const state = new Map(Object.entries(c.parameters).map(([name, array]) => [name, fromFixture(array)]));
  const { missingKeys } = module.loadStateDict(state, { strict: false });
  assert.ok(missingKeys.every((k) => k.endsWith('num_batches_tracked')));

  module.eval();
  const evaluated = noGrad(() => module.call(fromFixture(c.input)));
  assert.equal(mismatch(evaluated.data(), evaluated.shape, c.evalOutput, 1e-4), null);

  module.train();
  const x = fromFixture(c.input).requireGrad();
  const trained = module.call(x);
  assert.equal(mismatch(trained.data(), trained.shape, c.trainOutput, 1e-4), null);
  sum(mul(trained, fromFixture(c.r))).backward();
  assert.equal(mismatch(x.grad!.data(), x.shape, c.inputGrad, 1e-4), null);
});

test('transformInput re-normalises ImageNet input to [−1, 1] as torchvision does for the ported weights', () => {
  const net = withoutAux.eval();
  const x = randn([1, 3, 32, 32]);
  const scale = tensor(Float32Array.of(0.229 / 0.5, 0.224 / 0.5, 0.225 / 0.5), [1, 3, 1, 1]);
  const shift = tensor(
    Float32Array.of((0.485 - 0.5) / 0.5, (0.456 - 0.5) / 0.5, (0.406 - 0.5) / 0.5),
    [1, 3, 1, 1],
  );
  assert.equal(net.transformInput, false);
  const expected = noGrad(() => net.call(add(mul(x, scale), shift))).data();
  net.transformInput = true;
  try {
    const actual = noGrad(() => net.call(x)).data();
    assert.ok(actual.every((v, i) => Math.abs(v - expected[i]) < 1e-5));
  } finally {
    net.transformInput = false;
  }
});

test("initialisation is torchvision's: N(0, 0.01²) for conv and fc weights, BN 1 and 0", () => {
  for (const name of ['inception4a.branch2.1.conv.weight', 'aux2.fc2.weight', 'fc.weight']) {
    const std = rootMeanSquare(withAux.getParameter(name)!.data());
    assert.ok(Math.abs(std - 0.01) < 0.0005, `${name}: std ${std}`);
  }
  assert.ok(filledWith(withAux.getParameter('conv3.bn.weight'), 1));
  assert.ok(filledWith(withAux.getParameter('conv3.bn.bias'), 0));
});

test('googlenet is registered with its metadata, and its seed repeats the initial weights', () => {
  const info = registry.info('googlenet');
  assert.equal(info, googlenetInfo);
  assert.equal(info.family, 'inception');
  assert.equal(info.paper, 'Going Deeper with Convolutions (Szegedy et al.)');
  assert.deepEqual(info.inputShape, [3, 224, 224]);
  assert.equal(info.parameters, 13_004_888);
  assert.equal(info.macs, 1_498_376_192);
  assert.equal(info.reportedAccuracy?.top1, 69.778);
  assert.deepEqual(info.preprocessing?.mean, [0.485, 0.456, 0.406]);
  const net = registry.get('googlenet', { seed: 2, auxLogits: false });
  assert.ok(net instanceof GoogLeNet);
  assert.equal(net.aux1, null);
  // Parameters only: the shared model's running statistics have moved in the training-mode tests above.
  const rebuilt = new Map(net.namedParameters());
  for (const [name, value] of withoutAux.namedParameters()) {
    assert.ok(sameValues(rebuilt.get(name)!.data(), value.data()), name);
  }
});

test('a wrong input names the layer where it stops fitting', () => {
  assertFailsAt(
    () => noGrad(() => withoutAux.eval().call(randn([1, 1, 64, 64]))),
    'conv1.conv',
    /^conv1\.conv \(Conv2d\).*3 channels/,
    ShapeError,
  );
});
