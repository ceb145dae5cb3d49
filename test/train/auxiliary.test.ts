// The auxiliary-output protocol (nn/auxiliary.ts) as train.fit uses it, on a model that is not GoogLeNet: two
// linear heads on one input, the second auxiliary with loss weight 0.5, checked against a hand computation.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setBackend } from '../../src/backend/registry.js';
import { arrayDataset, loader } from '../../src/data/index.js';
import { googlenet, googlenetLoss } from '../../src/models/index.js';
import * as nn from '../../src/nn/index.js';
import * as optim from '../../src/optim/index.js';
import { crossEntropy, flatten, noGrad, randn, tensor, type Tensor } from '../../src/tensor/index.js';
import { fit } from '../../src/train/index.js';

setBackend('reference');

/** A main head with the identity as weights and an auxiliary head that swaps the two classes, neither with bias. */
class TwoHeads extends nn.Module implements nn.WithAuxiliaryOutputs {
  readonly main = new nn.Linear(2, 2, { bias: false });
  readonly early = new nn.Linear(2, 2, { bias: false });

  constructor() {
    super();
    this.main.weight.assign(tensor(Float32Array.of(1, 0, 0, 1), [2, 2]));
    this.early.weight.assign(tensor(Float32Array.of(0, 1, 1, 0), [2, 2]));
  }

  forward(x: Tensor): Tensor {
    return this.main.call(flatten(x, 1));
  }

  callWithAuxiliary(x: Tensor): nn.OutputsWithAuxiliary {
    const logits = this.call(x);
    if (!this.training) return { logits, auxiliary: [] };
    const early = this.early.call(flatten(x, 1));
    return { logits, auxiliary: [{ name: 'early', logits: early, lossWeight: 0.5 }] };
  }
}

/** −log softmax(z)[label] of two logits, written out. */
const crossEntropyOfTwo = (z: [number, number], label: number) =>
  Math.log(Math.exp(z[0]) + Math.exp(z[1])) - z[label];
const softmaxOfTwo = (z: [number, number]) => z.map((v) => Math.exp(v) / (Math.exp(z[0]) + Math.exp(z[1])));

test('fit adds each auxiliary loss times its weight to the main loss, and trains the auxiliary head with it', async () => {
  const model = new TwoHeads();
  assert.ok(nn.hasAuxiliaryOutputs(model));
  // Two images of two pixels: x = (2, 0) of class 0 and x = (0, 1) of class 1; one step of plain SGD, lr 1.
  const data = loader(arrayDataset(Float32Array.of(2, 0, 0, 1), [0, 1], [1, 1, 2]), { batchSize: 2 });
  const history = await fit(model, data, {
    epochs: 1,
    optimizer: optim.sgd(model.parameters(), { lr: 1 }),
  });

  // Main logits are x itself, the auxiliary head's are x swapped.
  const inputs: [number, number][] = [
    [2, 0],
    [0, 1],
  ];
  const labels = [0, 1];
  const swapped = inputs.map(([a, b]): [number, number] => [b, a]);
  const mean = (values: number[]) => values.reduce((a, b) => a + b) / values.length;
  const mainLoss = mean(inputs.map((z, n) => crossEntropyOfTwo(z, labels[n])));
  const earlyLoss = mean(swapped.map((z, n) => crossEntropyOfTwo(z, labels[n])));
  assert.ok(Math.abs(mainLoss - 0.2200948) < 1e-6 && Math.abs(earlyLoss - 1.7200948) < 1e-6);
  assert.ok(Math.abs(history[0].trainLoss - (mainLoss + 0.5 * earlyLoss)) < 1e-6, `${history[0].trainLoss}`);

  // dLoss/dW of the auxiliary head: 0.5 · mean over the batch of (softmax(z) − onehot(label)) ⊗ x.
  const expected = [0, 1, 1, 0].map((w, index) => {
    const [row, column] = [Math.floor(index / 2), index % 2];
    const gradient = mean(
      swapped.map((z, n) => (softmaxOfTwo(z)[row] - (labels[n] === row ? 1 : 0)) * inputs[n][column]),
    );
    return w - 0.5 * gradient;
  });
  const updated = Array.from(model.early.weight.data());
  assert.ok(
    updated.every((w, i) => Math.abs(w - expected[i]) < 1e-6),
    `${updated} vs ${expected}`,
  );
});

test('a module without the protocol gives its logits and no auxiliary output', () => {
  const plain = new nn.Linear(2, 3);
  assert.equal(nn.hasAuxiliaryOutputs(plain), false);
  const x = randn([4, 2]);
  const outputs = nn.callWithAuxiliary(plain, x);
  assert.deepEqual(outputs.auxiliary, []);
  assert.deepEqual(Array.from(outputs.logits.data()), Array.from(plain.call(x).data()));
});

test("GoogLeNet offers its two heads through the protocol, weighted 0.3, and googlenetLoss is the protocol's loss", () => {
  const net = googlenet({ seed: 4, numClasses: 5 }).train();
  assert.ok(nn.hasAuxiliaryOutputs(net));
  const labels = tensor(Int32Array.of(1, 4), [2]);
  noGrad(() => {
    const x = randn([2, 3, 32, 32]);
    const outputs = net.callWithAuxiliary(x);
    assert.deepEqual(
      outputs.auxiliary.map((output) => [output.name, output.lossWeight, output.logits.shape]),
      [
        ['aux1', 0.3, [2, 5]],
        ['aux2', 0.3, [2, 5]],
      ],
    );
    const [main, aux1, aux2] = [outputs.logits, ...outputs.auxiliary.map((o) => o.logits)].map((logits) =>
      crossEntropy(logits, labels).item(),
    );
    const total = nn.lossWithAuxiliary(outputs, labels, crossEntropy).item();
    assert.ok(Math.abs(total - (main + 0.3 * aux1 + 0.3 * aux2)) < 1e-5, `${total}`);
    const [logits, first, second] = [outputs.logits, ...outputs.auxiliary.map((o) => o.logits)];
    const viaLoss = googlenetLoss({ logits, aux1: first, aux2: second }, labels).item();
    assert.equal(viaLoss, total);
    net.eval();
    assert.deepEqual(net.callWithAuxiliary(x).auxiliary, []);
  });
});
