// A training BatchNorm and the ReLU after it run as one op (batchNorm's `relu`; on native, oneDNN's fused kernels
// with the ReLU's mask kept for backward; elsewhere the two kernels in turn): the same values and gradients as the
// two ops one after the other.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withBackend } from '../../src/backend/registry.js';
import { BasicBlock } from '../../src/models/resnet.js';
import { BatchNorm2d, Conv2d, ReLU, Sequential } from '../../src/nn/index.js';
import {
  Generator,
  abs,
  batchNorm,
  mul,
  randn,
  relu,
  setRecompute,
  sum,
  type Tensor,
} from '../../src/tensor/index.js';
import { skipNative } from '../backend/native/helpers.js';
import { skipWasm } from '../backend/wasm/helpers.js';

const backends = [
  'reference',
  ...(skipNative === false ? ['native'] : []),
  ...(skipWasm === false ? ['wasm'] : []),
];

/** Values and gradients as plain arrays, compared exactly on the reference backend, elsewhere to 1e-5. */
function assertSame(actual: number[][], expected: number[][], backend: string, what: string): void {
  if (backend === 'reference') return assert.deepEqual(actual, expected, what);
  actual.forEach((values, i) =>
    values.forEach((v, j) =>
      assert.ok(
        Math.abs(v - expected[i][j]) <= 1e-5 * (1 + Math.abs(expected[i][j])),
        `${what} [${i}][${j}]`,
      ),
    ),
  );
}

for (const backend of backends) {
  test(`batchNorm with relu equals relu(batchNorm), forward and backward [${backend}]`, () =>
    withBackend(backend, () => {
      const generator = new Generator(3);
      const x = randn([4, 6, 5, 5], { generator }).requireGrad();
      const gamma = randn([6], { generator }).requireGrad();
      const beta = randn([6], { generator }).requireGrad();
      const weights = randn([4, 6, 5, 5], { generator });
      const run = (fused: boolean) => {
        for (const t of [x, gamma, beta]) t.grad = null;
        const y = fused
          ? batchNorm(x, gamma, beta, null, null, { training: true, relu: true })
          : relu(batchNorm(x, gamma, beta, null, null, { training: true }));
        assert.equal(y.node?.op, fused ? 'batchNormRelu' : 'relu');
        sum(mul(y, weights)).backward();
        return [y, x.grad!, gamma.grad!, beta.grad!].map((t) => t.toArray());
      };
      const separate = run(false);
      assert.ok(separate[0].some((v) => v === 0) && separate[0].some((v) => v > 0), 'the ReLU clips some');
      assertSame(run(true), separate, backend, 'fused');
      // Evaluation mode has nothing to fuse: the ReLU after the affine map.
      const mean = randn([6], { generator });
      const variance = abs(randn([6], { generator }));
      const evaluated = batchNorm(x, gamma, beta, mean, variance, { training: false, relu: true });
      const expected = relu(batchNorm(x, gamma, beta, mean, variance, { training: false }));
      assert.deepEqual(evaluated.toArray(), expected.toArray());
    }));

  test(`a chain of modules runs a training BatchNorm and its ReLU as one call, not where watched [${backend}]`, () =>
    withBackend(backend, () => {
      const generator = new Generator(4);
      const net = new Sequential(
        new Conv2d(3, 4, 3, { padding: 1, generator }),
        new BatchNorm2d(4),
        new ReLU(),
        new Conv2d(4, 2, 3, { padding: 1, generator }),
      );
      const x = randn([2, 3, 6, 6], { generator });
      /** The op that made the last convolution's input, and the gradients of every parameter. */
      const step = () => {
        let made: string | undefined;
        const remove = net.at(3).registerForwardHook((_module, input: Tensor) => {
          made = input.node?.op;
        });
        net.zeroGrad();
        const y = net.call(x);
        remove();
        sum(mul(y, y)).backward();
        return { made, values: [y.toArray(), ...net.parameters().map((p) => p.grad!.toArray())] };
      };
      const fused = step();
      assert.equal(fused.made, 'batchNormRelu');
      // A hook on the ReLU sees its own call: nothing fused.
      const remove = net.at(2).registerForwardHook(() => undefined);
      const separate = step();
      remove();
      assert.equal(separate.made, 'relu');
      assertSame(fused.values, separate.values, backend, 'fused');
      net.eval();
      assert.equal(step().made, 'relu', 'evaluation: the ReLU module runs');
    }));

  test(`a residual block trains the same fused, with and without recomputing [${backend}]`, () =>
    withBackend(backend, () => {
      const generator = new Generator(5);
      const block = new BasicBlock(4, 4);
      for (const p of block.parameters()) p.assign(mul(randn(p.shape, { generator }), 0.3));
      const x = randn([2, 4, 6, 6], { generator });
      const gradients = () => {
        block.zeroGrad();
        const y = block.call(x);
        sum(mul(y, y)).backward();
        return [y.toArray(), ...block.parameters().map((p) => p.grad!.toArray())];
      };
      const fused = gradients();
      const remove = block.relu.registerForwardHook(() => undefined);
      const separate = gradients();
      remove();
      assertSame(fused, separate, backend, 'fused');
      setRecompute(true);
      try {
        assertSame(gradients(), fused, backend, 'fused and recomputed');
      } finally {
        setRecompute(false);
      }
    }));
}
