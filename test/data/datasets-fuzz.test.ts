import { test } from 'node:test';
import { MUTATIONS_PER_FIXTURE, SEED, assertClean, runIsolated } from '../io/isolated.js';

test('mutated IDX files (plain and gzipped) and CIFAR batches give a value or a FormatError, each case within its limits', async () => {
  const seeds = [
    'images.idx',
    'labels.idx',
    'images.idx.gz',
    'labels.idx.gz',
    'cifar-10.bin',
    'cifar-10.bin.gz',
    'cifar-100.bin',
  ];
  const readers = ['idx images', 'idx labels', 'cifar-10', 'cifar-100'] as const;
  const report = await runIsolated({
    kind: 'files',
    seeds,
    readers: [...readers],
    mutations: MUTATIONS_PER_FIXTURE,
    seed: SEED + 2,
  });
  assertClean(report, [...readers], seeds.length * MUTATIONS_PER_FIXTURE);
});
