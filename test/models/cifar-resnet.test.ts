// He et al.'s CIFAR-10 ResNets and plain nets (src/models/cifar-resnet.ts): figures against a PyTorch twin built from
// torchvision's BasicBlock, and forward/backward values against it on closed-form weights
// (test/fixtures/model-keys-resnet.json, written by scripts/fixtures/model_keys_resnet.py).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withBackend } from '../../src/backend/registry.js';
import { ShapeError } from '../../src/errors.js';
import {
  CifarResNet,
  ZeroPadShortcut,
  plain20,
  resnet20,
  resnet20B,
  type CifarResNetOptions,
} from '../../src/models/cifar-resnet.js';
import { get, info, list } from '../../src/models/registry.js';
import { Conv2d, type Module } from '../../src/nn/index.js';
import { mul, noGrad, randn, relu, sum, tensor, zeros, type Tensor } from '../../src/tensor/index.js';
import { loadFixture, mismatch, type FixtureArray } from '../pytorch/helpers.js';
import {
  assertFailsAt,
  keysAndShapes,
  parametersWithoutGradient,
  traceCalls,
  type KeysAndShapes,
} from './helpers.js';

interface CifarCase {
  keys: KeysAndShapes;
  evalLogits: FixtureArray;
  trainLogits: FixtureArray;
  grads: Record<string, FixtureArray>;
  runningStats: Record<string, FixtureArray>;
}

interface Fixture {
  figures: Record<string, { parameters: number; macs: number }>;
  cifar: Record<'resnet20' | 'resnet20-b' | 'plain20', CifarCase>;
}

const fixture = loadFixture<Fixture>('model-keys-resnet.json');
const depths = [20, 32, 44, 56, 110];
const names = depths.flatMap((d) => [`resnet${d}`, `resnet${d}-b`, `plain${d}`]);

function values(t: Tensor): number[] {
  return Array.from(t.data());
}

// ---- closed-form weights, the same formula as scripts/fixtures/model_keys_resnet.py ----

function nameOffset(name: string): number {
  let h = 0;
  for (let j = 0; j < name.length; j++) h += (j + 1) * name.charCodeAt(j);
  return h % 997;
}

/** fract(43758.5453 · sin(12.9898 i + phase)) spread to [−1, 1): irregular enough to keep batch norm well conditioned. */
function noise(n: number, phase: number): number[] {
  return Array.from({ length: n }, (_, i) => {
    const h = Math.sin(12.9898 * i + phase) * 43758.5453;
    return 2 * (h - Math.floor(h)) - 1;
  });
}

/** Conv and FC weights with variance 2/fanIn; BN scales near 1, shifts, biases and running means near 0. */
function closedForm(name: string, shape: readonly number[]): Float32Array {
  const size = shape.reduce((a, b) => a * b, 1);
  const s = noise(size, 0.1 * nameOffset(name));
  const fanIn = size / shape[0];
  let out: number[];
  if (name.endsWith('running_var')) out = s.map((v) => 1 + 0.5 * v * v);
  else if (name.endsWith('running_mean') || name.endsWith('bias')) out = s.map((v) => 0.1 * v);
  else if (shape.length === 1) out = s.map((v) => 1 + 0.1 * v);
  else out = s.map((v) => Math.sqrt(6 / fanIn) * v);
  return Float32Array.from(out);
}

function loadClosedForm(net: Module): void {
  noGrad(() => {
    for (const [name, t] of net.stateDict()) {
      if (t.dtype === 'float32') t.assign(tensor(closedForm(name, t.shape), t.shape));
    }
  });
}

const input = (): Tensor =>
  tensor(
    Float32Array.from({ length: 2 * 3 * 32 * 32 }, (_, i) => Math.sin(0.37 * i + 0.5)),
    [2, 3, 32, 32],
  );

function assertClose(actual: Tensor, expected: FixtureArray, what: string): void {
  const problem = mismatch(actual.data(), actual.shape, expected, 1e-4);
  assert.equal(problem, null, `${what}: ${problem}`);
}

// ---- tests ----

test('every CIFAR builder is registered with the figures of its PyTorch twin', () => {
  const registered = list().map((m) => m.name);
  for (const name of names) {
    assert.ok(registered.includes(name), `${name} is registered`);
    const { parameters, macs, inputShape, numClasses } = info(name);
    assert.deepEqual({ parameters, macs }, fixture.figures[name], name);
    assert.deepEqual(inputShape, [3, 32, 32]);
    assert.equal(numClasses, 10);
  }
  // The figures; the paper's Table 6 (0.27M … 1.7M parameters, ResNet-20 8.75 % error).
  assert.equal(info('resnet20').parameters, 269_722);
  assert.equal(info('resnet20-b').parameters, 272_474);
  assert.equal(info('resnet20-b').macs, 40_813_184);
  assert.equal(info('resnet20').macs, 40_813_184 - 2 * 16 * 16 * 32 * 16, 'option A: no projection MACs');
  assert.equal(info('resnet20').reportedAccuracy?.top1, 91.25);
  assert.equal(info('resnet110').reportedAccuracy?.top1, 93.57);
  assert.equal(info('plain20').reportedAccuracy, undefined);
});

test('every CIFAR builder, built, has its recorded parameters, and its MACs summed over a 3×32×32 forward', () => {
  // On the meta backend (shapes only); values are checked against PyTorch below, at depth 20.
  for (const name of names) {
    const {
      net,
      macs,
      result: output,
    } = withBackend('meta', () => {
      const built = get(name).eval();
      return { net: built, ...traceCalls(() => noGrad(() => built.call(zeros([1, 3, 32, 32])))) };
    });
    assert.equal(net.numParameters(), info(name).parameters, `${name} parameters`);
    assert.equal(macs, info(name).macs, `${name} MACs`);
    assert.deepEqual(output.shape, [1, 10], name);
    const depth = Number(name.replace(/\D+/g, ''));
    assert.equal((net as CifarResNet).depth, depth);
    const convs = net.modules().filter((m) => m instanceof Conv2d).length;
    const weighted = convs + 1 - (name.endsWith('-b') ? 2 : 0);
    assert.equal(weighted, depth, `${name}: 6n + 2 weighted layers (less option B's projections)`);
  }
});

for (const [name, build] of [
  ['resnet20', resnet20],
  ['resnet20-b', resnet20B],
  ['plain20', plain20],
] as const) {
  test(`${name} matches its PyTorch twin on closed-form weights: keys, logits (eval and train), gradients, running stats`, () => {
    const expected = fixture.cifar[name];
    const net = build();
    assert.deepEqual(keysAndShapes(net), expected.keys);
    loadClosedForm(net);
    const x = input();
    assertClose(
      noGrad(() => net.eval().call(x)),
      expected.evalLogits,
      'evaluation logits',
    );
    const logits = net.train().call(x);
    assertClose(logits, expected.trainLogits, 'training logits');
    const r = tensor(
      Float32Array.from({ length: 20 }, (_, j) => Math.cos(0.9 * j)),
      [2, 10],
    );
    sum(mul(logits, r)).backward();
    assert.deepEqual(parametersWithoutGradient(net), [], 'every parameter has a finite, non-zero gradient');
    for (const [param, grad] of Object.entries(expected.grads)) {
      assertClose(net.getParameter(param)!.grad!, grad, `gradient of ${param}`);
    }
    for (const [buffer, stats] of Object.entries(expected.runningStats)) {
      assertClose(net.getBuffer(buffer)!, stats, buffer);
    }
  });
}

test('option A: the shortcut keeps x[:, :, ::2, ::2] in the first channels and zeros in the added ones', () => {
  const shortcut = new ZeroPadShortcut(2, 4, 2);
  const x = tensor(
    Float32Array.from({ length: 32 }, (_, i) => i),
    [1, 2, 4, 4],
  ).requireGrad();
  const y = shortcut.call(x);
  assert.deepEqual(y.shape, [1, 4, 2, 2]);
  assert.deepEqual(values(y), [0, 2, 8, 10, 16, 18, 24, 26, 0, 0, 0, 0, 0, 0, 0, 0]);
  assert.equal(shortcut.numParameters(), 0);
  // The gradient flows back to the kept positions only.
  sum(
    mul(
      y,
      tensor(
        Float32Array.from({ length: 16 }, (_, i) => i + 1),
        [1, 4, 2, 2],
      ),
    ),
  ).backward();
  const dx = values(x.grad!);
  assert.deepEqual(
    dx.flatMap((v, i) => (v === 0 ? [] : [[i, v]])),
    [
      [0, 1],
      [2, 2],
      [8, 3],
      [10, 4],
      [16, 5],
      [18, 6],
      [24, 7],
      [26, 8],
    ],
  );
  // Odd sizes round up, as x[::2] does: 3×3 keeps rows and columns 0 and 2.
  const odd = new ZeroPadShortcut(1, 1, 2).call(
    tensor(
      Float32Array.from({ length: 9 }, (_, i) => i),
      [1, 1, 3, 3],
    ),
  );
  assert.deepEqual(values(odd), [0, 2, 6, 8]);
});

test('option A is the default and parameter-free; option B is an option and a registered name', () => {
  const a = resnet20({ seed: 3 });
  const b = resnet20({ seed: 3, shortcut: 'B' });
  assert.equal(a.shortcut, 'A');
  assert.ok(a.get('layer2.0.downsample') instanceof ZeroPadShortcut);
  assert.equal(b.numParameters(), 272_474);
  const fromName = get('resnet20-b', { seed: 3 });
  assert.deepEqual(
    fromName.namedParameters().map(([k, p]) => [k, values(p)]),
    b.namedParameters().map(([k, p]) => [k, values(p)]),
  );
  assert.ok(b.getParameter('layer3.0.downsample.0.weight') !== null);
  assert.deepEqual(b.getParameter('layer3.0.downsample.0.weight')!.shape, [64, 32, 1, 1]);
  assert.throws(() => resnet20({ shortcut: 'C' } as unknown as CifarResNetOptions), /'A' or 'B'/);
});

test('a plain net has no shortcut: no downsample module, and the residual net’s weights give another output', () => {
  const plain = plain20();
  const residual = resnet20();
  assert.ok(!plain.namedModules().some(([path]) => path.includes('downsample')));
  loadClosedForm(plain);
  loadClosedForm(residual);
  const x = input();
  const [p, r] = noGrad(() => [plain.eval().call(x), residual.eval().call(x)]);
  const pv = values(p);
  const rv = values(r);
  assert.ok(pv.some((v, i) => Math.abs(v - rv[i]) > 1e-2));
});

test('zeroInitResidual starts each block at the identity', () => {
  const net = resnet20({ seed: 1, zeroInitResidual: true }).eval();
  const h = relu(randn([1, 16, 32, 32]));
  const out = noGrad(() => net.layer1.call(h));
  assert.deepEqual(values(out), values(h));
});

test('seed, numClasses and inChannels options', () => {
  const first = values(resnet20({ seed: 5 }).conv1.weight);
  assert.deepEqual(values(resnet20({ seed: 5 }).conv1.weight), first);
  assert.notDeepEqual(values(resnet20({ seed: 6 }).conv1.weight), first);
  assert.deepEqual(resnet20({ numClasses: 100 }).fc.weight.shape, [100, 64]);
  // Fashion-MNIST: 1 × 28 × 28 goes 28 → 14 → 7, and conv1 has 2·16·9 fewer weights.
  const gray = resnet20({ inChannels: 1 });
  assert.equal(gray.numParameters(), 269_722 - 2 * 16 * 9);
  assert.deepEqual(noGrad(() => gray.eval().call(randn([2, 1, 28, 28]))).shape, [2, 10]);
});

test('a 1-channel image into a 3-channel resnet20 is an error naming conv1', () => {
  assertFailsAt(
    () =>
      noGrad(() =>
        resnet20()
          .eval()
          .call(randn([1, 1, 32, 32])),
      ),
    'conv1',
    /^conv1 \(Conv2d\): expected input with 3 channels \[N, 3, H, W\], got \[1, 1, 32, 32\]/,
    ShapeError,
  );
});
