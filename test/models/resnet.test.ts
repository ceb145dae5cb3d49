// torchvision's ResNets and their plain twins (src/models/resnet.ts) against torchvision 0.14: state_dict keys and
// shapes, parameters and MACs (test/fixtures/model-keys-resnet.json, written by scripts/fixtures/model_keys_resnet.py).
// Every builder is built and run at 3×224×224 on the meta backend (shapes only: milliseconds); values are drawn and
// computed for resnet18 alone, since drawing tens of millions of initial weights takes seconds.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withBackend } from '../../src/backend/registry.js';
import { ShapeError } from '../../src/errors.js';
import { info, list } from '../../src/models/registry.js';
import {
  BasicBlock,
  Bottleneck,
  initResNet,
  plain18,
  plain34,
  plain50,
  plain101,
  plain152,
  resnet18,
  resnet34,
  resnet50,
  resnet101,
  resnet152,
  type ResNet,
} from '../../src/models/resnet.js';
import { Conv2d } from '../../src/nn/index.js';
import { crossEntropy, noGrad, randn, tensor, zeros } from '../../src/tensor/index.js';
import { loadFixture } from '../pytorch/helpers.js';
import {
  assertFailsAt,
  filledWith,
  keysAndShapes,
  lazy,
  parametersWithoutGradient,
  rootMeanSquare,
  traceCalls,
  type KeysAndShapes,
} from './helpers.js';

interface Fixture {
  keys: Record<'resnet18' | 'resnet50', KeysAndShapes>;
  figures: Record<string, { parameters: number; macs: number }>;
}

const fixture = loadFixture<Fixture>('model-keys-resnet.json');
const builders = {
  resnet18,
  resnet34,
  resnet50,
  resnet101,
  resnet152,
  plain18,
  plain34,
  plain50,
  plain101,
  plain152,
};

/** resnet18 on the default backend, built once (about a second of drawing weights) and shared by the tests below. */
const withValues = lazy(() => resnet18({ seed: 0 }));
const resnet18WithValues = (): ResNet => withValues.get();

/** A model of shapes only, with its output shape and MACs for one image of [3, 224, 224]. */
function onMeta(name: keyof typeof builders): { net: ResNet; macs: number; outputShape: number[] } {
  return withBackend('meta', () => {
    const net = builders[name]().eval();
    const { macs, result } = traceCalls(() => noGrad(() => net.call(zeros([1, 3, 224, 224]))));
    return { net, macs, outputShape: [...result.shape] };
  });
}

test('every ImageNet builder, built, has torchvision’s parameters and MACs at 3×224×224, as registered', () => {
  const registered = list().map((m) => m.name);
  for (const name of Object.keys(builders) as (keyof typeof builders)[]) {
    assert.ok(registered.includes(name), `${name} is registered`);
    const { net, macs, outputShape } = onMeta(name);
    const measured = { parameters: net.numParameters(), macs };
    assert.deepEqual(measured, fixture.figures[name], `${name}: convnets vs torchvision's forward hooks`);
    const recorded = info(name);
    assert.deepEqual(
      { parameters: recorded.parameters, macs: recorded.macs },
      measured,
      `${name} as registered`,
    );
    assert.deepEqual(outputShape, [1, 1000]);
    assert.deepEqual(recorded.inputShape, [3, 224, 224]);
    assert.equal(recorded.numClasses, 1000);
  }
  // The figures the issue quotes, and torchvision's rounded 1.81 GFLOPS for ResNet-18 (its "FLOPS" are MACs).
  assert.equal(info('resnet50').parameters, 25_557_032);
  assert.equal(info('resnet50').macs, 4_089_184_256);
  assert.equal(info('resnet18').parameters, 11_689_512);
  assert.equal(Math.round(info('resnet18').macs / 1e7) / 100, 1.81);
  assert.equal(info('resnet50').reportedAccuracy?.top1, 76.13);
  assert.deepEqual(info('resnet152').preprocessing?.std, [0.229, 0.224, 0.225]);
  assert.equal(info('plain50').preprocessing, undefined, 'no published weights, no preprocessing');
});

for (const name of ['resnet18', 'resnet50'] as const) {
  test(`${name}'s state_dict keys and shapes are torchvision's, in order`, () => {
    assert.deepEqual(keysAndShapes(onMeta(name).net), fixture.keys[name]);
  });
}

test('resnet18 with values: its parameters, and a forward pass at 1×3×32×32 gives 1000 finite logits', () => {
  const net = resnet18WithValues();
  assert.equal(net.numParameters(), 11_689_512);
  const output = noGrad(() => net.eval().call(randn([1, 3, 32, 32])));
  assert.deepEqual(output.shape, [1, 1000]);
  assert.ok(output.data().every(Number.isFinite));
});

test('a plain net has no shortcut: no downsample parameters, and the residual block’s weights give another output', () => {
  for (const depth of [18, 50] as const) {
    const plain = onMeta(`plain${depth}`).net;
    const residual = onMeta(`resnet${depth}`).net;
    assert.deepEqual(
      [...plain.stateDict().keys()],
      [...residual.stateDict().keys()].filter((k) => !k.includes('downsample')),
    );
    assert.ok(!plain.namedModules().some(([path]) => path.includes('downsample')));
  }
  // 1×1 projections and their BN in layer2..4: (64·128 + 2·128) + (128·256 + 2·256) + (256·512 + 2·512).
  assert.equal(info('resnet18').parameters - info('plain18').parameters, 173_824);

  // A plain block and a residual block holding the same weights: only the addition differs.
  for (const [block, plainBlock, channels] of [
    [new BasicBlock(16, 16), new BasicBlock(16, 16, { residual: false }), 16],
    [new Bottleneck(64, 16), new Bottleneck(64, 16, { residual: false }), 64],
  ] as const) {
    plainBlock.loadStateDict(block.stateDict());
    const x = randn([1, channels, 4, 4]);
    const [p, r] = noGrad(() => [plainBlock.eval().call(x), block.eval().call(x)]);
    assert.deepEqual(p.shape, r.shape);
    const rv = Array.from(r.data());
    assert.ok(Array.from(p.data()).some((v, i) => Math.abs(v - rv[i]) > 1e-3));
  }
});

test('ResNet v1.5: a bottleneck stage starts with stride 2 in its 3×3 conv and its projection', () => {
  const net = onMeta('resnet50').net;
  assert.deepEqual((net.get('layer2.0.conv1') as Conv2d).stride, [1, 1]);
  assert.deepEqual((net.get('layer2.0.conv2') as Conv2d).stride, [2, 2]);
  assert.deepEqual((net.get('layer2.0.downsample.0') as Conv2d).stride, [2, 2]);
  assert.deepEqual(
    (net.get('layer1.0.downsample.0') as Conv2d).stride,
    [1, 1],
    '64 → 256 projection, no stride',
  );
  assert.equal(Bottleneck.expansion, 4);
  assert.equal(BasicBlock.expansion, 1);
});

test('resnet18 trains: a backward pass at 2×3×32×32 reaches every parameter', () => {
  const net = resnet18WithValues().train();
  net.zeroGrad();
  const loss = crossEntropy(net.call(randn([2, 3, 32, 32])), tensor(Int32Array.of(3, 997), [2]));
  loss.backward();
  assert.deepEqual(parametersWithoutGradient(net), []);
  assert.ok(net.fc.weight.grad!.data().some((v) => v !== 0));
  net.zeroGrad();
});

test('torchvision’s initialisation: kaiming normal (fan_out, ReLU) convolutions, BN scale 1 and shift 0', () => {
  const net = resnet18WithValues();
  // 128 → 256 channels tells fan_out (256·9) from fan_in (128·9). 295k draws: the sample std is within 0.13 % of
  // the true one (one standard error), so 1 % cannot fail by chance.
  const std = rootMeanSquare((net.get('layer3.0.conv1') as Conv2d).weight.data());
  const expected = Math.sqrt(2 / (256 * 9));
  assert.ok(Math.abs(std / expected - 1) < 0.01, `std ${std}, expected ${expected}`);
  assert.ok(filledWith(net.bn1.weight, 1));
  assert.ok(filledWith(net.bn1.bias, 0));
  const fcBound = 1 / Math.sqrt(512);
  assert.ok(
    net.fc.weight.data().every((v) => Math.abs(v) <= fcBound),
    'Linear keeps PyTorch’s default',
  );
});

test('zeroInitResidual zeroes the last BN scale of each block (bn3 in a bottleneck, bn2 in a basic block)', () => {
  const bottleneck = new Bottleneck(256, 64);
  const basic = new BasicBlock(64, 64);
  for (const block of [bottleneck, basic]) initResNet(block, true);
  assert.ok(filledWith(bottleneck.bn3.weight, 0));
  assert.ok(filledWith(bottleneck.bn2.weight, 1));
  assert.ok(filledWith(basic.bn2.weight, 0));
  assert.ok(filledWith(basic.bn1.weight, 1));
});

test('a plain block refuses a shortcut', () => {
  assert.throws(
    () => new BasicBlock(64, 128, { stride: 2, downsample: new Conv2d(64, 128, 1), residual: false }),
    /plain block/,
  );
});

test('a 1-channel image into resnet18 is an error naming conv1 and the channels it needs', () => {
  assertFailsAt(
    () =>
      noGrad(() =>
        resnet18WithValues()
          .eval()
          .call(randn([1, 1, 32, 32])),
      ),
    'conv1',
    /^conv1 \(Conv2d\): expected input with 3 channels/,
    ShapeError,
  );
});
