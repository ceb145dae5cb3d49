#!/usr/bin/env node
/* global process, console, performance */
// The soak run: resident memory over a long run, as a user's process feels it. 10,000 training steps of CIFAR
// ResNet-20 (batch 32, through train.fit and a data loader, as `convnets train` runs them) and then 10,000 inference
// calls (the same model made into optimizeForInference, batch 32, no gradients), printing the resident set every
// 1,000 steps: as it is, and after a full garbage collection. Options: --steps N (default 10000), --every N (1000),
// --threads N. Run with `make soak` (docs: bench/README.md).
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { root } from './common.mjs';

function option(name, fallback) {
  const at = process.argv.indexOf(`--${name}`);
  const value = Number(at === -1 ? fallback : process.argv[at + 1]);
  if (!Number.isInteger(value) || value < 1) throw new Error(`--${name}: expected a positive integer`);
  return value;
}

const steps = option('steps', 10_000);
const every = option('every', 1_000);
process.env.CONVNETS_THREADS = String(
  option('threads', process.env.CONVNETS_THREADS ?? availableParallelism()),
);
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc');

const convnets = await import(join(root, 'dist/src/index.js'));
const { data, models, optim, train, noGrad, optimizeForInference, randn, scope, getBackend } = convnets;

const BATCH = 32;
const BATCHES_PER_EPOCH = 100;
const MiB = 2 ** 20;
const started = performance.now();

function report(phase, count) {
  const rss = process.memoryUsage.rss();
  gc();
  const afterGc = process.memoryUsage.rss();
  const { storages, bytes } = getBackend().memory();
  console.log(
    [
      phase.padEnd(9),
      String(count).padStart(6),
      `${(rss / MiB).toFixed(0).padStart(6)} MiB`,
      `${(afterGc / MiB).toFixed(0).padStart(6)} MiB after gc`,
      `${String(storages).padStart(5)} storages, ${(bytes / MiB).toFixed(1)} MiB live`,
      `${((performance.now() - started) / 1000).toFixed(0).padStart(5)} s`,
    ].join('  '),
  );
}

console.log(
  `convnets soak: backend ${getBackend().name}, ${getBackend().threads} threads; resident set every ${every} steps`,
);
const generator = new convnets.Generator(1);
const images = randn([BATCH * BATCHES_PER_EPOCH, 3, 32, 32], { generator }).data();
const labels = Int32Array.from({ length: BATCH * BATCHES_PER_EPOCH }, (_, i) => i % 10);
const dataset = data.arrayDataset(images, labels, [3, 32, 32]);
const model = models.get('resnet20', { numClasses: 10, seed: 1 });
const loader = data.loader(dataset, { batchSize: BATCH, shuffle: true, seed: 1 });
const optimizer = optim.sgd(model.parameters(), { lr: 0.02, momentum: 0.9, weightDecay: 5e-4 });
report('start', 0);
let trained = 0;
await train.fit(model, loader, {
  epochs: Math.ceil(steps / BATCHES_PER_EPOCH),
  optimizer,
  onStep: () => {
    trained++;
    if (trained % every === 0) report('training', trained);
  },
});

const fast = optimizeForInference(model.eval(), [BATCH, 3, 32, 32]);
const x = randn([BATCH, 3, 32, 32], { generator });
for (let call = 1; call <= steps; call++) {
  noGrad(() => scope(() => fast.call(x).data()));
  if (call % every === 0) report('inference', call);
}
