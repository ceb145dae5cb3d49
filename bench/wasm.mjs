#!/usr/bin/env node
/* global process, console, performance */
// Training steps of LeNet-5 and CIFAR ResNet-20 on the wasm backend (on each of --threads: its pool of threads
// over shared memory) beside the reference and native backends on one thread: images/s of forward, cross-entropy,
// backward and SGD (momentum 0.9) at batch 64, the batch of the browser benchmark (issue 19). Not a test; prints one
// line per model and backend, or the figures with --json (wasm on t threads as `wasm` for 1, `wasm-t` otherwise).
//   node bench/wasm.mjs [--json] [--seconds S] [--batch B] [--backends wasm,reference,native] [--models lenet5,resnet20]
//     [--threads 1,2]
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

const option = (name, fallback) => {
  const at = process.argv.indexOf(`--${name}`);
  return at === -1 ? fallback : process.argv[at + 1];
};
const seconds = Number(option('seconds', '3'));
const batch = Number(option('batch', '64'));
const backends = option('backends', 'wasm,reference,native').split(',');
const modelNames = option('models', 'lenet5,resnet20').split(',');
const threadCounts = option('threads', '1,2').split(',').map(Number);
// Each backend is made when selected, reading CONVNETS_THREADS then: one thread but for wasm's --threads.
process.env.CONVNETS_THREADS = '1';
const runs = backends.flatMap((name) =>
  name === 'wasm' ? threadCounts.map((threads) => ({ name, threads })) : [{ name, threads: 1 }],
);
const label = ({ name, threads }) => (threads === 1 ? name : `${name}-${threads}`);

const convnets = await import(join(root, 'dist/src/index.js'));
const lenet = await import(join(root, 'dist/src/models/lenet.js'));
const cifar = await import(join(root, 'dist/src/models/cifar-resnet.js'));

/** Best images/s over steps run for at least `seconds` (at least 3 steps) after one warm-up step. */
function imagesPerSecond(backendName, threads, modelName) {
  process.env.CONVNETS_THREADS = String(threads);
  convnets.setBackend(backendName);
  process.env.CONVNETS_THREADS = '1';
  const net = modelName === 'lenet5' ? lenet.lenet5({ seed: 1 }) : cifar.resnet20({ seed: 1 });
  const channels = modelName === 'lenet5' ? 1 : 3;
  const x = convnets.randn([batch, channels, 32, 32]);
  const labels = convnets.tensor(
    Int32Array.from({ length: batch }, (_, i) => i % 10),
    [batch],
    { dtype: 'int32' },
  );
  const optimizer = convnets.optim.sgd(net.parameters(), { lr: 0.01, momentum: 0.9 });
  const step = () =>
    convnets.scope(() => {
      optimizer.zeroGrad();
      const loss = convnets.crossEntropy(net.call(x), labels);
      loss.backward();
      optimizer.step();
      return loss.item();
    });
  step();
  let best = Infinity;
  const started = performance.now();
  for (let steps = 0; steps < 3 || performance.now() - started < seconds * 1000; steps++) {
    const start = performance.now();
    step();
    best = Math.min(best, (performance.now() - start) / 1000);
  }
  return batch / best;
}

const results = {};
for (const modelName of modelNames) {
  results[modelName] = {};
  for (const run of runs) {
    try {
      results[modelName][label(run)] = { imagesPerSecond: imagesPerSecond(run.name, run.threads, modelName) };
    } catch (error) {
      results[modelName][label(run)] = { skipped: error.message.split('\n')[0] };
    }
  }
  if (process.argv.includes('--json')) continue;
  const cells = Object.entries(results[modelName]).map(([name, r]) =>
    r.skipped ? `${name} skipped (${r.skipped})` : `${name} ${r.imagesPerSecond.toFixed(1)}`,
  );
  const wasm = results[modelName].wasm?.imagesPerSecond;
  const reference = results[modelName].reference?.imagesPerSecond;
  const ratio = wasm && reference ? `; wasm ÷ reference ${(wasm / reference).toFixed(1)}×` : '';
  const pooled = threadCounts
    .filter((t) => t > 1 && results[modelName][`wasm-${t}`]?.imagesPerSecond && wasm)
    .map((t) => `; wasm-${t} ÷ wasm ${(results[modelName][`wasm-${t}`].imagesPerSecond / wasm).toFixed(2)}×`);
  console.log(`train ${modelName} batch ${batch}, images/s: ${cells.join(', ')}${ratio}${pooled.join('')}`);
}
if (process.argv.includes('--json')) console.log(JSON.stringify({ batch, train: results }, null, 2));
