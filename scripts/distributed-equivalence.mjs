#!/usr/bin/env node
/* global console, process */
// The full equivalence check, too slow for the suite: CIFAR ResNet-20 with frozen BatchNorm (evaluation
// mode, so no running statistics differ between processes), 50 SGD steps, 2 processes × batch 64 against
// 1 process × batch 128, within 1e-5 relative, which float32 rounding does not reach (docs/distributed.md; set
// CONVNETS_BATCH_INVARIANT=1 for batch-invariant weight gradients). Needs `npx tsc -p tsconfig.json` and the Gloo
// binding; takes minutes.
// Usage: node scripts/distributed-equivalence.mjs [steps] [batch per process]
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runRanks } from '../dist/test/distributed/spawn.js';

const steps = Number(process.argv[2] ?? 50);
const batchSize = Number(process.argv[3] ?? 64);
const directory = mkdtempSync(join(tmpdir(), 'convnets-ddp-'));
const job = { model: 'resnet20-bn-eval', batchSize, samples: steps * 2 * batchSize, epochs: 1, lr: 0.01 };
await runRanks(2, { ...job, out: join(directory, 'two.json') });
await runRanks(1, { ...job, batchSize: 2 * batchSize, out: join(directory, 'one.json') });
const read = (name) => JSON.parse(readFileSync(join(directory, name), 'utf8'));
const [two, one] = [read('two.json'), read('one.json')];
let worst = { name: '', difference: 0 };
for (const [name, expected] of Object.entries(one.parameters)) {
  const scale = Math.max(...expected.map(Math.abs));
  const difference = Math.max(...expected.map((e, i) => Math.abs(two.parameters[name][i] - e))) / scale;
  if (difference > worst.difference) worst = { name, difference };
}
console.log(
  `${steps} steps, 2 × ${batchSize} against 1 × ${2 * batchSize}: worst relative difference ${worst.difference.toExponential(2)} (${worst.name}); allreduce ${two.stats.allreduceSeconds.toFixed(2)} s, waited ${two.stats.waitSeconds.toFixed(2)} s after backward, ${two.stats.buckets} bucket(s)`,
);
process.exit(worst.difference <= 1e-5 ? 0 : 1);
