#!/usr/bin/env node
/* global process, console */
// The peak resident memory of a training step of workload 1 or 4 in a process doing nothing else (bench/README.md):
//
//   node bench/train-peak.mjs <model> <side> <batch> [<first trainable stage>] [--recompute]
//
// (--recompute: with convnets.setRecompute(true), what backward() can compute again is not kept; docs/performance.md)
// builds the model, runs STEPS steps (the first allocates the gradients, the second the momentum buffers, from the
// third on the step is in its steady state) and prints {"peakBytes": …}, its resident-set high-water mark.
import { readFileSync } from 'node:fs';
import { trainingStep } from './train224.mjs';

const STEPS = 3;

/**
 * This process's resident-set high-water mark: Linux's VmHWM, which starts afresh at exec. Not getrusage's maxRSS,
 * which Linux carries across fork and exec, so that a child of the benchmark would report the benchmark's own peak
 * when it is higher. Elsewhere maxRSS (kibibytes) is the best there is.
 */
function peakResidentBytes() {
  try {
    const hwm = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync('/proc/self/status', 'utf8'));
    if (hwm !== null) return Number(hwm[1]) * 1024;
  } catch {
    // No /proc: not Linux.
  }
  return process.resourceUsage().maxRSS * 1024;
}

const recompute = process.argv.includes('--recompute');
const [model, side, batch, trainFrom] = process.argv.slice(2).filter((arg) => arg !== '--recompute');
const { convnets, step } = await trainingStep({ model, size: Number(side), batch: Number(batch), trainFrom });
convnets.setRecompute(recompute);
for (let i = 0; i < STEPS; i++) step();
console.log(JSON.stringify({ peakBytes: peakResidentBytes(), steps: STEPS }));
