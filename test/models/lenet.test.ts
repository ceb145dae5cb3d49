// LeNet-5, modern and as published in 1998 (src/models/lenet.ts): the paper's parameter counts layer by layer,
// its shapes 32 → 28 → 14 → 10 → 5 → 1, C3's connection table, and the MACs recorded in the registry.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { summary } from '../../src/analysis/index.js';
import { getBackend, withBackend } from '../../src/backend/registry.js';
import { ValueError } from '../../src/errors.js';
import {
  C3_CONNECTIONS,
  ConnectionTableConv2d,
  EuclideanRBF,
  Subsampling,
  lenet1998Loss,
  lenet5,
  lenet5_1998,
} from '../../src/models/lenet.js';
import { get, info } from '../../src/models/registry.js';
import { AvgPool2d, Conv2d, Linear, MaxPool2d, ReLU, Tanh } from '../../src/nn/index.js';
import { crossEntropy, neg, noGrad, randn, sum, tensor } from '../../src/tensor/index.js';
import {
  assertFailsAt,
  keysAndShapes,
  outputOf,
  parametersByChild,
  parametersWithoutGradient,
  traceCalls,
} from './helpers.js';

test('lenet5: 61,706 parameters under torchvision-style keys, and PyTorch-style layers', () => {
  const net = lenet5({ seed: 0 });
  assert.equal(net.numParameters(), 61_706);
  assert.equal(info('lenet5').parameters, 61_706);
  assert.deepEqual(keysAndShapes(net), [
    ['features.0.weight', [6, 1, 5, 5]],
    ['features.0.bias', [6]],
    ['features.3.weight', [16, 6, 5, 5]],
    ['features.3.bias', [16]],
    ['classifier.0.weight', [120, 400]],
    ['classifier.0.bias', [120]],
    ['classifier.2.weight', [84, 120]],
    ['classifier.2.bias', [84]],
    ['classifier.4.weight', [10, 84]],
    ['classifier.4.bias', [10]],
  ]);
  assert.ok(net.get('features.1') instanceof ReLU && net.get('features.2') instanceof MaxPool2d);
});

test('lenet5 options: tanh and average pooling, numClasses, and a clear error for an unknown choice', () => {
  const net = get('lenet5', { activation: 'tanh', pooling: 'avg', numClasses: 7 });
  assert.ok(net.get('features.1') instanceof Tanh && net.get('classifier.3') instanceof Tanh);
  assert.ok(net.get('features.2') instanceof AvgPool2d && net.get('features.5') instanceof AvgPool2d);
  assert.deepEqual((net.get('classifier.4') as Linear).weight.shape, [7, 84]);
  assert.throws(() => get('lenet5', { activation: 'sigmoid' }), ValueError);
});

test('lenet5: the paper shapes 32 → 28 → 14 → 10 → 5 and 5·5·16 = 400, and 416,520 MACs at 1×32×32', () => {
  const net = lenet5({ seed: 1 });
  const { calls, macs, result } = traceCalls(() => net.call(randn([1, 1, 32, 32])));
  assert.deepEqual(outputOf(calls, 'features.0'), [1, 6, 28, 28]);
  assert.deepEqual(outputOf(calls, 'features.2'), [1, 6, 14, 14]);
  assert.deepEqual(outputOf(calls, 'features.3'), [1, 16, 10, 10]);
  assert.deepEqual(outputOf(calls, 'features'), [1, 16, 5, 5]);
  assert.deepEqual(calls.find((c) => c.path === 'classifier')?.input, [1, 400]);
  assert.deepEqual(result.shape, [1, 10]);
  assert.equal(macs, 416_520);
  assert.equal(info('lenet5').macs, macs);
});

test('lenet5 trains: a backward pass reaches every parameter', () => {
  const net = lenet5({ seed: 2 });
  crossEntropy(net.call(randn([2, 1, 32, 32])), tensor(Int32Array.of(3, 8))).backward();
  assert.deepEqual(parametersWithoutGradient(net), []);
});

test('a seed makes the initial weights repeatable', () => {
  const first = lenet5({ seed: 5 }).getParameter('features.0.weight')!.toArray();
  assert.deepEqual(lenet5({ seed: 5 }).getParameter('features.0.weight')!.toArray(), first);
  assert.notDeepEqual(lenet5({ seed: 6 }).getParameter('features.0.weight')!.toArray(), first);
  const rbf = lenet5_1998({ seed: 5 }).getBuffer('output.centers')!.toArray();
  assert.deepEqual(lenet5_1998({ seed: 5 }).getBuffer('output.centers')!.toArray(), rbf);
});

test('a 28×28 input (MNIST unpadded) runs through the convolutions and fails at the first fully connected layer', () => {
  // 28 → 24 → 12 → 8 → 4: 4·4·16 = 256 features where classifier.0 needs 400.
  assertFailsAt(
    () => lenet5().call(randn([1, 1, 28, 28])),
    'classifier.0',
    /expected input with 400 features \[N, 400\], got \[1, 256\]/,
  );
});

// ---- 1998 ----

test('lenet5-1998: trainable parameters exactly 60,000, layer by layer as the paper counts them', () => {
  const net = lenet5_1998({ seed: 0 });
  assert.deepEqual(parametersByChild(net), { c1: 156, s2: 12, c3: 1_516, s4: 32, c5: 48_120, f6: 10_164 });
  assert.equal(net.numParameters(), 60_000);
  assert.equal(net.numParameters({ trainableOnly: true }), 60_000);
  assert.equal(info('lenet5-1998').parameters, 60_000);
  // The RBF codes are fixed: saved with the model, never trained.
  assert.deepEqual(
    net.namedBuffers().map(([name, t]) => [name, [...t.shape]]),
    [['output.centers', [10, 84]]],
  );
  assert.deepEqual(net.getParameter('c3.weight')!.shape, [60, 5, 5]);
  assert.ok(net.c1 instanceof Conv2d && net.c5 instanceof Conv2d && net.f6 instanceof Linear);
});

test('lenet5-1998: shapes 32 → 28 → 14 → 10 → 5 → 1 with 6, 6, 16, 16, 120 maps, then 84 and 10; 332,824 MACs', () => {
  const net = lenet5_1998({ seed: 1 });
  const { calls, macs, result } = traceCalls(() => net.call(randn([1, 1, 32, 32])));
  assert.deepEqual(
    calls.map((c) => [c.path, c.output]),
    [
      ['c1', [1, 6, 28, 28]],
      ['s2', [1, 6, 14, 14]],
      ['c3', [1, 16, 10, 10]],
      ['s4', [1, 16, 5, 5]],
      ['c5', [1, 120, 1, 1]],
      ['f6', [1, 84]],
      ['output', [1, 10]],
      ['', [1, 10]],
    ],
  );
  // The paper's connections less one bias connection per output, and 84 per RBF unit.
  assert.deepEqual(
    calls.map((c) => c.macs),
    [122_304 - 4_704, 5_880 - 1_176, 151_600 - 1_600, 2_000 - 400, 48_120 - 120, 10_164 - 84, 840, 0],
  );
  assert.equal(macs, 332_824);
  assert.equal(info('lenet5-1998').macs, macs);
  assert.ok(result.toArray().every((d) => d >= 0));
});

test('summary() of a reference-built lenet5-1998: its 60,000 parameters and 332,824 MACs, the model untouched', () => {
  // C3's selection matrix is no registered tensor, so summary cannot stand it in: it must be made where C3 runs.
  const reference = withBackend('reference', () => getBackend());
  const net = withBackend(reference, () => lenet5_1998({ seed: 7 }));
  const x = withBackend(reference, () => randn([1, 1, 32, 32]));
  const before = noGrad(() => net.call(x)).toArray();
  const state = keysAndShapes(net);
  const memory = reference.memory();
  const s = summary(net, [1, 32, 32]);
  assert.equal(s.totals.parameters, 60_000);
  assert.equal(s.totals.macs, 332_824);
  assert.deepEqual(s.outputShape, [1, 10]);
  assert.deepEqual(
    s.rows.filter((row) => row.path === 'c3').map((row) => [row.outputShape, row.macs]),
    [[[1, 16, 10, 10], 150_000]],
  );
  assert.deepEqual(reference.memory(), memory);
  assert.deepEqual(keysAndShapes(net), state);
  assert.equal(net.c3.weight.backend, reference);
  assert.deepEqual(noGrad(() => net.call(x)).toArray(), before);
});

test('C3 follows Table I of the paper: 6 maps from 3 adjacent S2 maps, 6 from 4 adjacent, 3 from 4 non-adjacent, 1 from all', () => {
  // Table I as printed: rows are S2 maps 0–5, columns C3 maps 0–15.
  const table = [
    'X   XXX  XXXX XX',
    'XX   XXX  XXXX X',
    'XXX   XXX  X XXX',
    ' XXX  XXXX  X XX',
    '  XXX  XXXX XX X',
    '   XXX  XXXX XXX',
  ];
  const fromTable = Array.from({ length: 16 }, (_, o) =>
    [0, 1, 2, 3, 4, 5].filter((i) => table[i][o] === 'X'),
  );
  assert.deepEqual(
    C3_CONNECTIONS.map((inputs) => [...inputs].sort((a, b) => a - b)),
    fromTable,
  );
  const sizes = C3_CONNECTIONS.map((inputs) => inputs.length);
  assert.deepEqual(sizes, [3, 3, 3, 3, 3, 3, 4, 4, 4, 4, 4, 4, 4, 4, 4, 6]);
  // Adjacent: the maps s, s+1, … (mod 6) for some start s.
  const adjacent = (inputs: readonly number[]): boolean =>
    [0, 1, 2, 3, 4, 5].some((s) => inputs.every((i) => (i - s + 6) % 6 < inputs.length));
  assert.ok(C3_CONNECTIONS.slice(0, 12).every(adjacent));
  assert.ok(C3_CONNECTIONS.slice(12, 15).every((inputs) => !adjacent(inputs)));
});

test('ConnectionTableConv2d: an output map ignores the input maps its row does not list; only listed kernels train', () => {
  const conv = new ConnectionTableConv2d(6, C3_CONNECTIONS, 5);
  const x = randn([1, 6, 7, 7]);
  const before = conv.call(x).toArray();
  // Change S2 map 5 only: C3 maps not reading it (0, 1, 2, 6, 7, 12) must not move; the others must.
  const changed = x.toArray().map((v, i) => (i >= 5 * 49 ? v + 1 : v));
  const after = conv.call(tensor(changed, x.shape)).toArray();
  const moved = Array.from({ length: 16 }, (_, o) =>
    before.slice(o * 9, o * 9 + 9).some((v, k) => Math.abs(v - after[o * 9 + k]) > 1e-6),
  );
  assert.deepEqual(
    moved,
    C3_CONNECTIONS.map((inputs) => inputs.includes(5)),
  );
  // The full kernel is zero exactly where the table has no connection.
  const full = conv.fullWeight().toArray();
  C3_CONNECTIONS.forEach((inputs, o) => {
    for (let i = 0; i < 6; i++) {
      const kernel = full.slice((o * 6 + i) * 25, (o * 6 + i + 1) * 25);
      assert.equal(
        kernel.some((v) => v !== 0),
        inputs.includes(i),
        `kernel (${o}, ${i})`,
      );
    }
  });
  sum(conv.call(x)).backward();
  assert.deepEqual(conv.weight.grad?.shape, [60, 5, 5]);
  assert.equal(conv.macs([1, 6, 7, 7], [1, 16, 3, 3]), 9 * 60 * 25);
  assert.throws(() => new ConnectionTableConv2d(6, [[0, 6]], 5), ValueError);
});

test('S2/S4 subsampling: the sum of each 2×2 block times the map’s coefficient, plus its bias', () => {
  const layer = new Subsampling(2);
  layer.weight.assign(tensor([0.5, -2]));
  layer.bias.assign(tensor([1, 0.25]));
  const x = tensor([
    [
      [
        [1, 2, 3, 4],
        [5, 6, 7, 8],
      ],
      [
        [1, 1, 0, 0],
        [1, 1, 0, 2],
      ],
    ],
  ]);
  assert.deepEqual(layer.call(x).toArray(), [0.5 * 14 + 1, 0.5 * 22 + 1, -2 * 4 + 0.25, -2 * 2 + 0.25]);
  assert.equal(layer.numParameters(), 4);
});

test('Euclidean RBF output: squared distances to fixed ±1 codes; the nearest code wins, and −distance works as logits', () => {
  const rbf = new EuclideanRBF(84, 10);
  const codes = rbf.centers.toArray();
  assert.ok(codes.every((v) => v === 1 || v === -1));
  assert.equal(rbf.numParameters(), 0);
  // An input equal to code 3 is at distance 0 from it, and at Σ (x_j − w_ij)² from each other code.
  const x = tensor(codes.slice(3 * 84, 4 * 84), [1, 84]);
  const distances = rbf.call(x).toArray();
  assert.equal(distances[3], 0);
  distances.forEach((d, i) => {
    const expected = codes
      .slice(i * 84, (i + 1) * 84)
      .reduce((s, w, j) => s + (codes[3 * 84 + j] - w) ** 2, 0);
    assert.equal(d, expected);
  });
  assert.ok(crossEntropy(neg(rbf.call(x)), tensor(Int32Array.of(3))).item() < 1e-6);
});

test('lenet5-1998 trains: a backward pass reaches every parameter, through the packed C3 weight', () => {
  const net = lenet5_1998({ seed: 3 });
  // −distance as logits: the paper's MAP criterion (eq. 9) without its constant rubbish class.
  const out = net.call(randn([2, 1, 32, 32]));
  crossEntropy(neg(out), tensor(Int32Array.of(1, 7))).backward();
  assert.deepEqual(parametersWithoutGradient(net), []);
});

test('lenet5-1998: subsampling squashed by the scaled tanh by default, or by the logistic function on request', () => {
  const x = randn([1, 1, 32, 32]);
  const paper = lenet5_1998({ seed: 4 }).call(x).toArray();
  const logistic = get('lenet5-1998', { seed: 4, subsamplingActivation: 'sigmoid' }).call(x).toArray();
  assert.notDeepEqual(logistic, paper);
  assert.throws(() => get('lenet5-1998', { subsamplingActivation: 'relu' }), ValueError);
});

test('lenet5-1998 on 28×28 fails at C5, whose 5×5 kernel no longer fits S4’s 4×4 maps', () => {
  // 28 → 24 (C1) → 12 (S2) → 8 (C3) → 4 (S4) → C5 needs 5×5.
  assertFailsAt(() => lenet5_1998().call(randn([1, 1, 28, 28])), 'c5', /kernel larger than the padded input/);
});

test('lenet5-1998 with output scores gives −distance; its loss is eq. 9 worked by hand', () => {
  const x = randn([2, 1, 32, 32]);
  const distances = Array.from(lenet5_1998({ seed: 5 }).call(x).data());
  const scores = Array.from(lenet5_1998({ seed: 5, output: 'scores' }).call(x).data());
  assert.deepEqual(
    scores,
    distances.map((d) => -d),
  );
  assert.throws(() => get('lenet5-1998', { output: 'logits' }), /output must be 'distances' or 'scores'/);
  // E = mean over samples of y_label + log(e^−j + Σ_i e^−y_i), for y = [1, 2, 4] and [0.5, 3, 0.25].
  const y = [
    [1, 2, 4],
    [0.5, 3, 0.25],
  ];
  const labels = [0, 2];
  const eq9 = (j: number) =>
    y.reduce(
      (total, row, p) =>
        total + row[labels[p]] + Math.log(Math.exp(-j) + row.reduce((s, d) => s + Math.exp(-d), 0)),
      0,
    ) / y.length;
  const scoresTensor = tensor(
    y.flat().map((d) => -d),
    [2, 3],
  );
  const loss = lenet1998Loss(scoresTensor, tensor(Int32Array.from(labels)));
  // Float32 kernels against float64 by hand; oneDNN's exp and log are a few ulps further off (1.5e-6 on native).
  const tolerance = getBackend().name === 'native' ? 1e-5 : 1e-6;
  assert.ok(Math.abs(loss.item() - eq9(0.1)) < tolerance, `${loss.item()} vs ${eq9(0.1)}`);
  const far = lenet1998Loss(scoresTensor, tensor(Int32Array.from(labels)), 5);
  assert.ok(Math.abs(far.item() - eq9(5)) < tolerance, `${far.item()} vs ${eq9(5)}`);
  assert.throws(() => lenet1998Loss(scoresTensor, tensor(Int32Array.from(labels)), 0), ValueError);
});
