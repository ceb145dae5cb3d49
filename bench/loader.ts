/**
 * How fast the augmented loader feeds training: Fashion-MNIST with random 28×28 crops of the 2-pixel-padded
 * image and horizontal flips, batches of 128, inline (workers 0) and on 1 and 2 worker threads.
 *
 * 1. Throughput: images/s when the consumer does nothing but take batches.
 * 2. Overlap: a simulated training step (the main thread busy for `stepMs` per batch; ResNet-20 at ~600
 *    images/s takes ~210 ms per batch of 128) and the time the step spent waiting for data.
 *
 * Build with the project (`npx tsc -p tsconfig.json`, bench/ included) and run `node dist/bench/loader.js
 * [batches] [stepMs]`. Needs Debian's dataset-fashion-mnist. Prints figures; asserts nothing.
 */
import { fashionMnist, loader, transforms } from '../src/data/index.js';

const batches = Number(process.argv[2] ?? 200);
const stepMs = Number(process.argv[3] ?? 50);

const dataset = fashionMnist({ split: 'train' });
const transform = transforms.compose([
  transforms.randomCrop(28, { padding: 2 }),
  transforms.randomHorizontalFlip(),
]);

function busy(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end);
}

async function run(
  workers: number,
  step: number,
): Promise<{ imagesPerSecond: number; waitMsPerBatch: number }> {
  const data = loader(dataset, { batchSize: 128, shuffle: true, seed: 1, transform, workers, prefetch: 2 });
  let images = 0;
  let count = 0;
  let waiting = 0;
  // One warm-up batch starts the workers and compiles the hot paths.
  for await (const batch of data) {
    batch.images.dispose();
    batch.labels.dispose();
    break;
  }
  const start = performance.now();
  let asked = performance.now();
  for await (const batch of data) {
    // The first batch of an iteration is always a cold start; count waits from the second on.
    if (count > 0) waiting += performance.now() - asked;
    images += batch.labels.shape[0];
    batch.images.dispose();
    batch.labels.dispose();
    busy(step);
    if (++count === batches) break;
    asked = performance.now();
  }
  const seconds = (performance.now() - start) / 1000;
  await data.close();
  return { imagesPerSecond: images / seconds, waitMsPerBatch: waiting / Math.max(1, count - 1) };
}

console.log(
  `Fashion-MNIST train, randomCrop(28, padding 2) + horizontal flip, batch 128, ${batches} batches`,
);
for (const workers of [0, 1, 2]) {
  const { imagesPerSecond } = await run(workers, 0);
  console.log(
    `  workers ${workers}: ${Math.round(imagesPerSecond).toLocaleString('en')} images/s (loader alone)`,
  );
}
for (const workers of [0, 1, 2]) {
  const { imagesPerSecond, waitMsPerBatch } = await run(workers, stepMs);
  console.log(
    `  workers ${workers}, ${stepMs} ms training step per batch: ${Math.round(imagesPerSecond).toLocaleString('en')} ` +
      `images/s, waiting ${waitMsPerBatch.toFixed(2)} ms per batch for data`,
  );
}
