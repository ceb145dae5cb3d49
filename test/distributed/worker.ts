/**
 * One rank of the distributed tests, run in a child process (CONVNETS_DISTRIBUTED_WORKER=1) with torchrun's
 * variables: trains a model with SGD on a seeded synthetic dataset through data.loader, train.fit and
 * DistributedDataParallel, printing `step N` after each step, and writes the final parameters as JSON.
 */
import { writeFileSync } from 'node:fs';
import { Generator, data, distributed, manualSeed, models, nn, optim, train } from '../../src/index.js';

export const WORKER_FLAG = 'CONVNETS_DISTRIBUTED_WORKER';

/** What a worker trains, from CONVNETS_DISTRIBUTED_JOB. */
export interface WorkerJob {
  model: 'lenet5' | 'resnet20-bn-eval';
  /** Per process. */
  batchSize: number;
  samples: number;
  epochs: number;
  /** Where the final parameters go (JSON: name → values), written by rank 0. */
  out?: string;
  timeoutSeconds?: number;
  bucketMegabytes?: number;
  /** SGD's learning rate (default 0.05; momentum 0.9). */
  lr?: number;
}

function makeModel(job: WorkerJob): nn.Module {
  if (job.model === 'lenet5') return models.get('lenet5', { numClasses: 10 });
  // Frozen BatchNorm normalises with its running statistics, the same on every rank, so that B and N·B agree.
  const net = models.get('resnet20', { numClasses: 10 });
  for (const module of net.modules()) if (module instanceof nn.BatchNorm2d) module.freeze();
  return net;
}

async function main(): Promise<void> {
  const job = JSON.parse(process.env.CONVNETS_DISTRIBUTED_JOB ?? '{}') as WorkerJob;
  const group = await distributed.initProcessGroup({ timeoutSeconds: job.timeoutSeconds ?? 60 });
  // Different initial weights on each rank: the broadcast from rank 0 must make them equal.
  manualSeed(1 + 1000 * group.rank);
  const net = makeModel(job);
  const ddp = await distributed.distributedDataParallel(net, group, { bucketMegabytes: job.bucketMegabytes });
  const [channels, size] = job.model === 'lenet5' ? [1, 32] : [3, 32];
  const generator = new Generator(5);
  const images = Float32Array.from({ length: job.samples * channels * size * size }, () =>
    generator.normal(),
  );
  const labels = Int32Array.from({ length: job.samples }, () => Math.floor(generator.uniform() * 10));
  const dataset = data.arrayDataset(images, labels, [channels, size, size]);
  const sampler =
    group.worldSize > 1
      ? distributed.distributedSampler({ rank: group.rank, worldSize: group.worldSize })
      : undefined;
  const loader = data.loader(dataset, { batchSize: job.batchSize, shuffle: true, seed: 7, sampler });
  let steps = 0;
  await train.fit(net, loader, {
    epochs: job.epochs,
    optimizer: optim.sgd(net.parameters(), { lr: job.lr ?? 0.05, momentum: 0.9 }),
    callbacks: [ddp, { onStep: () => console.log(`step ${++steps}`) }],
  });
  if (group.rank === 0 && job.out !== undefined) {
    const values = Object.fromEntries(net.namedParameters().map(([name, p]) => [name, Array.from(p.data())]));
    writeFileSync(job.out, JSON.stringify({ parameters: values, stats: ddp.stats() }));
  }
}

if (process.env[WORKER_FLAG] === '1') {
  main().catch((error: unknown) => {
    console.error(`rank ${process.env.RANK ?? 0}: ${(error as Error).message}`);
    process.exit(1);
  });
}
