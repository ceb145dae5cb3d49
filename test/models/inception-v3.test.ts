// Inception v3 against torchvision 0.14 (test/fixtures/inception-v3.json, written by
// scripts/fixtures/inception_fixtures.py): parameter counts, state_dict keys, MACs, one forward and backward pass at
// 75×75 on formula weights, the auxiliary head; and each module kind's MACs against a hand computation.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withBackend } from '../../src/backend/registry.js';
import { summary } from '../../src/analysis/index.js';
import {
  INCEPTION_V3_AUX_LOSS_WEIGHT,
  InceptionV3,
  InceptionV3Aux,
  inception_v3,
  inceptionV3Figures,
  inceptionV3Info,
  inceptionV3Loss,
} from '../../src/models/inception-v3.js';
import * as registry from '../../src/models/registry.js';
import { crossEntropy, mul, noGrad, sum, tensor, zeros } from '../../src/tensor/index.js';
import { loadFixture, mismatch, type FixtureArray } from '../pytorch/helpers.js';
import { keysAndShapes, outputOf, traceCalls, type KeysAndShapes } from './helpers.js';
import {
  formulaTensor,
  forwardBackwardMismatches,
  norm,
  setFormulaWeights,
  type ForwardBackward,
} from './formula-weights.js';

interface Fixture {
  keys: KeysAndShapes;
  parametersWithAux: number;
  parametersWithoutAux: number;
  macs299: number;
  macsTraining299: number;
  transformInputDefault: boolean;
  smallest: ForwardBackward;
  aux: { output: FixtureArray; inputGradNorm: number; gradNorms: Record<string, number> };
}

const fixture = loadFixture<Fixture>('inception-v3.json');

// Shapes and counts on the meta backend, which builds and runs these 27 million parameters at no cost.
const meta = <T>(fn: () => T): T => withBackend('meta', fn);
const withAux = meta(() => inception_v3());
const withoutAux = meta(() => inception_v3({ auxLogits: false }));

test('inception_v3 has 27,161,264 parameters with the auxiliary head and 23,834,568 without, as torchvision', () => {
  assert.equal(withAux.numParameters(), 27_161_264);
  assert.equal(withoutAux.numParameters(), 23_834_568);
  assert.equal(fixture.parametersWithAux, 27_161_264);
  assert.equal(fixture.parametersWithoutAux, 23_834_568);
  assert.equal(inceptionV3Figures.parametersWithAux - inceptionV3Figures.parametersWithoutAux, 3_326_696);
  assert.equal(withAux.AuxLogits?.numParameters(), 3_326_696);
});

test("inception_v3's state_dict keys and shapes are torchvision's, in order (its .pth loads by name)", () => {
  assert.deepEqual(keysAndShapes(withAux), fixture.keys);
  assert.deepEqual(
    keysAndShapes(withoutAux),
    fixture.keys.filter(([name]) => !name.startsWith('AuxLogits.')),
  );
});

/** MACs of the calls under `prefix` in a summary at 299×299. */
function summaryMacs(prefix: string): number {
  return summary(withAux, [3, 299, 299])
    .rows.filter((row) => row.path === prefix || row.path.startsWith(`${prefix}.`))
    .reduce((n, row) => n + row.macs, 0);
}

test('each module kind costs what a hand computation over its layer shapes gives, at 299×299', () => {
  const p35 = 35 * 35;
  const p17 = 17 * 17;
  const p8 = 8 * 8;
  // InceptionA (Mixed_5b, 192 in, pool features 32) on 35×35: 1×1 64; 1×1 48 → 5×5 64; 1×1 64 → 3×3 96 → 3×3 96; 1×1 32.
  const a = p35 * (192 * 64 + 192 * 48 + 48 * 64 * 25 + 192 * 64 + 64 * 96 * 9 + 96 * 96 * 9 + 192 * 32);
  // InceptionB (Mixed_6a, 288 in): 3×3/2 384 on 17×17; 1×1 64 and 3×3 96 on 35×35, then 3×3/2 96.
  const b = p17 * 288 * 384 * 9 + p35 * (288 * 64 + 64 * 96 * 9) + p17 * 96 * 96 * 9;
  // InceptionC (Mixed_6b, 768 in, c7 128) on 17×17: 1×1 192; 1×1 128 → 1×7 128 → 7×1 192; 1×1 128 → four 7-long.
  const c =
    p17 *
    (768 * 192 +
      768 * 128 +
      128 * 128 * 7 +
      128 * 192 * 7 +
      768 * 128 +
      128 * 128 * 7 * 3 +
      128 * 192 * 7 +
      768 * 192);
  // InceptionD (Mixed_7a, 768 in): 1×1 192 → 3×3/2 320; 1×1 192 → 1×7 → 7×1 → 3×3/2 192.
  const d = p17 * 768 * 192 + p8 * 192 * 320 * 9 + p17 * (768 * 192 + 192 * 192 * 7 * 2) + p8 * 192 * 192 * 9;
  // InceptionE (Mixed_7b, 1280 in) on 8×8: 1×1 320; 1×1 384 → (1×3, 3×1) 384; 1×1 448 → 3×3 384 → (1×3, 3×1) 384; 1×1 192.
  const e =
    p8 * (1280 * 320 + 1280 * 384 + 384 * 384 * 6 + 1280 * 448 + 448 * 384 * 9 + 384 * 384 * 6 + 1280 * 192);
  assert.deepEqual(['Mixed_5b', 'Mixed_6a', 'Mixed_6b', 'Mixed_7a', 'Mixed_7b'].map(summaryMacs), [
    a,
    b,
    c,
    d,
    e,
  ]);
  assert.equal(a, 312_345_600);
  // The head on 17×17×768: pooled to 5×5, 1×1 to 128, 5×5 to 768 (one position), fc 768 → 1000.
  const aux = 25 * 768 * 128 + 128 * 768 * 25 + 768 * 1000;
  const head = meta(() =>
    noGrad(() => traceCalls(() => new InceptionV3Aux(768, 1000).eval().call(zeros([1, 768, 17, 17])))),
  );
  assert.equal(head.macs, aux);
  assert.equal(aux, inceptionV3Figures.auxMacs);
  assert.equal(fixture.macsTraining299 - fixture.macs299, aux);
});

test('inception_v3 at 299×299: 5,713,216,096 MACs on the main path, as counted on torchvision', () => {
  const s = summary(withAux, [3, 299, 299]);
  assert.deepEqual(s.outputShape, [1, 1000]);
  assert.equal(s.totals.macs, 5_713_216_096);
  assert.equal(s.totals.macs, fixture.macs299);
  assert.equal(inceptionV3Info.macs, s.totals.macs);
  const { calls } = meta(() => noGrad(() => traceCalls(() => withAux.eval().call(zeros([1, 3, 299, 299])))));
  assert.deepEqual(
    ['Mixed_5d', 'Mixed_6e', 'Mixed_7c'].map((path) => outputOf(calls, path)),
    [
      [1, 288, 35, 35],
      [1, 768, 17, 17],
      [1, 2048, 8, 8],
    ],
  );
});

test('forward and backward at 75×75 (the smallest input) match torchvision on formula weights', () => {
  const net = inception_v3({ auxLogits: false, seed: 1 });
  assert.deepEqual(forwardBackwardMismatches(net, fixture.smallest, 1e-4), []);
});

test("the auxiliary head matches torchvision's InceptionAux on formula weights", () => {
  const head = new InceptionV3Aux(768, 10);
  setFormulaWeights(head);
  head.eval();
  const x = formulaTensor('aux input', [1, 768, 17, 17]).requireGrad();
  const y = head.call(x);
  assert.equal(mismatch(y.data(), y.shape, fixture.aux.output, 1e-4), null);
  sum(mul(y, formulaTensor('r', y.shape))).backward();
  assert.ok(Math.abs(norm(x.grad!.data()) / fixture.aux.inputGradNorm - 1) < 1e-4);
  for (const [name, expected] of Object.entries(fixture.aux.gradNorms))
    assert.ok(Math.abs(norm(head.getParameter(name)!.grad!.data()) / expected - 1) < 1e-4, name);
});

test('the head runs in training through the auxiliary-output protocol, weighted 0.4, and is skipped in evaluation', () => {
  meta(() =>
    noGrad(() => {
      const x = zeros([2, 3, 299, 299]);
      // Training mode for the model, evaluation for its layers: the meta backend holds no batch statistics.
      withAux.train();
      for (const module of withAux.modules()) if (module !== withAux) module.training = false;
      const trained = traceCalls(() => withAux.forwardWithAux(x));
      assert.deepEqual(trained.result.aux?.shape, [2, 1000]);
      assert.equal(trained.macs / 2, fixture.macsTraining299);
      const outputs = withAux.callWithAuxiliary(x);
      assert.deepEqual(
        outputs.auxiliary.map((a) => [a.name, a.lossWeight]),
        [['AuxLogits', 0.4]],
      );
      // A plain call gives the main logits only.
      assert.ok(!traceCalls(() => withAux.call(x)).calls.some((c) => c.path.startsWith('AuxLogits')));
      withAux.eval();
      assert.equal(withAux.forwardWithAux(x).aux, null);
      assert.deepEqual(withAux.callWithAuxiliary(x).auxiliary, []);
      withoutAux.eval().training = true;
      assert.equal(withoutAux.forwardWithAux(x).aux, null);
      withoutAux.eval();
    }),
  );
  assert.equal(INCEPTION_V3_AUX_LOSS_WEIGHT, 0.4);
  const labels = tensor(Int32Array.of(0, 2), [2]);
  const logits = tensor(Float32Array.of(2, 0, 0, 0, 1, 0), [2, 3]);
  const aux = tensor(Float32Array.of(0, 1, 0, 0, 0, 3), [2, 3]);
  const expected = crossEntropy(logits, labels).item() + 0.4 * crossEntropy(aux, labels).item();
  assert.ok(Math.abs(inceptionV3Loss({ logits, aux }, labels).item() - expected) < 1e-6);
});

test("transformInput is off by default, as torchvision's builder without weights (IMAGENET1K_V1 turns it on)", () => {
  assert.equal(withAux.transformInput, false);
  assert.equal(fixture.transformInputDefault, false);
  const net = meta(() => new InceptionV3({ transformInput: true, auxLogits: false }));
  const calls = meta(() => noGrad(() => traceCalls(() => net.eval().call(zeros([1, 3, 75, 75])))));
  assert.deepEqual(calls.result.shape, [1, 1000]);
});

test('inception_v3 is registered with its metadata', () => {
  const info = registry.info('inception_v3');
  assert.equal(info, inceptionV3Info);
  assert.deepEqual(
    [info.family, info.inputShape, info.parameters, info.macs, info.reportedAccuracy?.top1],
    ['inception', [3, 299, 299], 27_161_264, 5_713_216_096, 77.294],
  );
  assert.ok(meta(() => registry.get('inception_v3', { auxLogits: false })) instanceof InceptionV3);
});
