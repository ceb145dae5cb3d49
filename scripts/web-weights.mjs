#!/usr/bin/env node
/* global process, console */
// Writes a training run's current checkpoint as one safetensors file whose metadata carries the checkpoint's meta
// (format convnets-checkpoint, epoch, meta as JSON, and the test accuracy its report.md gives): the form the page
// ships its weights in, and the form `convnets eval` reads as a single file. Needs the library compiled (npx tsc).
//   node scripts/web-weights.mjs /tmp/web-lenet5 src/web/lenet5-fashion-mnist.safetensors
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const [run, output] = process.argv.slice(2);
if (run === undefined || output === undefined) {
  console.error('usage: node scripts/web-weights.mjs <run-dir> <out.safetensors>');
  process.exit(2);
}
const root = resolve(fileURLToPath(import.meta.url), '../..');
const { io, train } = await import(join(root, 'dist/src/index.js'));
const trained = await train.loadTrained(run);
const metadata = {
  format: 'convnets-checkpoint',
  epoch: String(trained.epoch),
  meta: JSON.stringify(trained.meta),
};
const report = join(run, 'report.md');
const accuracy = existsSync(report)
  ? /final test accuracy: ([\d.]+)%/.exec(readFileSync(report, 'utf8'))
  : null;
if (accuracy !== null) metadata.testAccuracy = String(Number(accuracy[1]) / 100);
await io.saveSafetensors(output, trained.model.stateDict(), metadata);
console.log(
  `${output}: ${trained.meta.model}, epoch ${trained.epoch}${accuracy ? `, test accuracy ${accuracy[1]}%` : ''}`,
);
