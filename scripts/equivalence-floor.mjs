#!/usr/bin/env node
/* global console, process */
// How far float32 rounding alone moves CIFAR ResNet-20 (frozen BatchNorm) in SGD, in one process: the weights of
// batch 128 against (a) the average of the gradients of its two interleaved halves of 64, what two data-parallel
// processes compute; (b) the same batch in reverse order, which changes only the order of summation; (c) the same
// run with the first step's gradients nudged by one float32 rounding (× (1 + 2^-23)). Prints the worst relative
// difference ‖a − b‖∞ / ‖b‖∞ over the parameters after 1, 5, 10, 20 and 50 steps. Needs `npx tsc -p tsconfig.json`;
// CONVNETS_BATCH_INVARIANT=1 sums the convolutions' weight gradients batch-invariantly; takes minutes.
// Usage: CONVNETS_THREADS=1 node scripts/equivalence-floor.mjs [steps]
import {
  Generator,
  crossEntropy,
  keep,
  manualSeed,
  models,
  nn,
  noGrad,
  optim,
  scope,
  tensor,
} from '../dist/src/index.js';

const steps = Number(process.argv[2] ?? 50);
const batchSize = 128;
const imageSize = 3 * 32 * 32;
const generator = new Generator(5);
const images = Float32Array.from({ length: steps * batchSize * imageSize }, () => generator.normal());
const labels = Int32Array.from({ length: steps * batchSize }, () => Math.floor(generator.uniform() * 10));

function gradients(net, indices) {
  const parameters = net.parameters().filter((p) => p.requiresGrad);
  for (const p of parameters) p.grad = null;
  return scope(() => {
    const x = new Float32Array(indices.length * imageSize);
    indices.forEach((j, i) => x.set(images.subarray(j * imageSize, (j + 1) * imageSize), i * imageSize));
    const y = Int32Array.from(indices, (j) => labels[j]);
    const loss = crossEntropy(
      net.forward(tensor(x, [indices.length, 3, 32, 32])),
      tensor(y, [indices.length], { dtype: 'int32' }),
    );
    loss.backward();
    return parameters.map((p) => Float32Array.from(p.grad.data()));
  });
}

// A rank of two takes every other index of the global batch (DistributedSampler); allreduce sums, then halves.
const half = (batch, parity) => batch.filter((_, i) => i % 2 === parity);
const average = (a, b) => a.map((g, i) => g.map((v, j) => Math.fround(Math.fround(v + b[i][j]) * 0.5)));
const variants = {
  'batch 128': (net, batch) => gradients(net, batch),
  '2 × 64 averaged': (net, batch) => average(gradients(net, half(batch, 0)), gradients(net, half(batch, 1))),
  'batch 128 reversed': (net, batch) => gradients(net, [...batch].reverse()),
  'batch 128, step 1 nudged': (net, batch, step) => {
    const g = gradients(net, batch);
    return step > 0 ? g : g.map((values) => values.map((v) => Math.fround(v * (1 + 2 ** -23))));
  },
};
const checkpoints = [1, 5, 10, 20, 50].filter((s) => s <= steps);

function run(gradientsOf) {
  manualSeed(1);
  const net = models.get('resnet20', { numClasses: 10 });
  for (const module of net.modules()) if (module instanceof nn.BatchNorm2d) module.freeze();
  net.train();
  const parameters = net.parameters().filter((p) => p.requiresGrad);
  const optimizer = optim.sgd(parameters, { lr: 0.01, momentum: 0.9 });
  const weights = new Map();
  for (let step = 0; step < steps; step++) {
    const batch = Array.from({ length: batchSize }, (_, i) => step * batchSize + i);
    const g = gradientsOf(net, batch, step);
    noGrad(() => parameters.forEach((p, i) => (p.grad = keep(tensor(g[i], p.shape)))));
    optimizer.step();
    if (checkpoints.includes(step + 1))
      weights.set(
        step + 1,
        parameters.map((p) => Float32Array.from(p.data())),
      );
  }
  return weights;
}

function worstRelativeDifference(a, b) {
  let worst = 0;
  b.forEach((expected, i) => {
    let scale = 0;
    let difference = 0;
    for (let j = 0; j < expected.length; j++) {
      scale = Math.max(scale, Math.abs(expected[j]));
      difference = Math.max(difference, Math.abs(a[i][j] - expected[j]));
    }
    worst = Math.max(worst, difference / scale);
  });
  return worst;
}

const [baseline, ...others] = Object.entries(variants).map(([name, gradientsOf]) => [name, run(gradientsOf)]);
console.log(`against ${baseline[0]}, after ${checkpoints.join(' / ')} steps:`);
for (const [name, weights] of others) {
  const figures = checkpoints.map((s) =>
    worstRelativeDifference(weights.get(s), baseline[1].get(s)).toExponential(2),
  );
  console.log(`  ${name}: ${figures.join(' / ')}`);
}
