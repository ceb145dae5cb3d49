#!/usr/bin/env node
/* global process, console */
// convnets against its peers on this machine, in one run, one measurement at a time (docs: bench/README.md).
//
//   node bench/bench.mjs [--json] [--threads N] [--seconds S] [--only conv,train,infer,train224]
//                        [--models resnet18,...] [--train-size SIDE] [--train-batch N]
//   node bench/bench.mjs --table saved.json   (the table of a saved --json run)
//
// Workloads (issue 3): 1. training steps at batch 128, LeNet-5 (1×32×32) and CIFAR ResNet-20 (3×32×32), images/s
// and peak memory; 2. inference at 224×224×3 of ResNet-18/50, VGG-16 and GoogLeNet, batch 1 latency (ms) and batch 8 images/s
// (bench/inference.mjs); 3. one 3×3 64→64 convolution on 128×64×32×32, forward, backward-data and backward-weights,
// GFLOP/s and % of the FMA peak that bench/peak/fma-peak.c measures; 4. training steps at 224×224 of ResNet-18/50,
// VGG-16 and GoogLeNet and fine-tuning ResNet-50's layer4 and fc, images/s and peak memory (bench/train224.mjs).
// Peers on the same threads: PyTorch (Debian's python3-torch and python3-torchvision) and, for workload 2,
// onnxruntime-node (bench/package.json) on convnets' own ONNX exports. Needs `make build` first (it reads dist/ and the addon).
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { availableParallelism, cpus } from 'node:os';
import { dirname, join } from 'node:path';
import {
  asJson,
  bestOfRounds,
  inferenceFigure,
  inferenceModels,
  log,
  only,
  root,
  seconds,
  stepSeconds,
  tableOf,
  threads,
  timed,
} from './common.mjs';
import { BATCHES, inference } from './inference.mjs';
import { convnetsPeakBytes, train224, trainingStep } from './train224.mjs';

/** bench/peak/fma-peak.c, compiled on first use. */
function fmaPeak() {
  const binary = join(root, 'build', 'fma-peak');
  if (!existsSync(binary)) {
    mkdirSync(dirname(binary), { recursive: true });
    execFileSync('cc', ['-O3', '-fopenmp', join(root, 'bench/peak/fma-peak.c'), '-o', binary]);
  }
  const out = execFileSync(binary, [String(threads), '1'], { encoding: 'utf8' })
    .trim()
    .split('\n');
  return JSON.parse(out[out.length - 1]);
}

const CONV = { x: [128, 64, 32, 32], w: [64, 64, 3, 3] };
const CONV_FLOPS = 2 * 128 * 64 * 32 * 32 * 64 * 9;

/**
 * Workload 3 on the native backend's kernels, activations in the blocked layout a previous layer leaves: a function
 * measuring each case for at least the seconds it is given.
 */
async function convnetsConv() {
  const { NativeBackend } = await import(join(root, 'dist/src/backend/native/index.js'));
  const backend = new NativeBackend();
  const attrs = { stride: [1, 1], padding: [1, 1, 1, 1], dilation: [1, 1], groups: 1 };
  const random = (n) => Float32Array.from({ length: n }, () => Math.random() - 0.5);
  const plain = backend.upload(random(128 * 64 * 32 * 32), CONV.x);
  const w = backend.upload(random(64 * 64 * 9), CONV.w);
  // Outputs of a convolution: the layout the next layer receives.
  const x = backend.conv2d(plain, CONV.x, w, CONV.w, null, attrs);
  const dy = backend.conv2d(x, CONV.x, w, CONV.w, null, attrs);
  const cases = {
    forward: () => backend.release(backend.conv2d(x, CONV.x, w, CONV.w, null, attrs)),
    'backward-data': () => backend.release(backend.conv2dBackwardData(dy, CONV.x, w, CONV.w, CONV.x, attrs)),
    'backward-weights': () =>
      backend.release(backend.conv2dBackwardFilter(x, CONV.x, dy, CONV.x, CONV.w, attrs)),
  };
  return async (blockSeconds) => {
    const results = {};
    for (const [name, fn] of Object.entries(cases)) {
      const { seconds: s, median, reps } = await timed(fn, 5, 2, blockSeconds);
      results[name] = { seconds: s, median, reps, gflops: CONV_FLOPS / s / 1e9 };
      log(`  convnets conv ${name}: ${results[name].gflops.toFixed(1)} GFLOP/s`);
    }
    return results;
  };
}

/**
 * Workload 1: full training steps (forward, cross-entropy, backward, SGD with momentum) at batch 128: a function
 * measuring them for at least the seconds it is given.
 */
async function convnetsTrain(modelName) {
  const { convnets, step } = await trainingStep({ model: modelName, batch: 128, size: 32 });
  // A training step does 3 × the forward MACs (forward, backward-data, backward-weights).
  const macsPerImage = 3 * convnets.models.info(modelName).macs;
  return async (blockSeconds) => {
    const { seconds: s, median, reps } = await timed(step, 5, 3, blockSeconds);
    log(`  convnets train ${modelName}: ${(128 / s).toFixed(0)} images/s`);
    return { seconds: s, median, reps, imagesPerSecond: 128 / s, gflops: (2 * macsPerImage * 128) / s / 1e9 };
  };
}

/** PyTorch's figures from bench/peers/torch_peer.py (at least `blockSeconds` each), or why it could not run. */
function pytorch(workloads, macsOf, blockSeconds = seconds) {
  const python = '/usr/bin/python3';
  if (!existsSync(python)) return { skipped: 'no /usr/bin/python3' };
  const probe = spawnSync(python, ['-c', 'import torch'], { encoding: 'utf8' });
  if (probe.status !== 0) return { skipped: 'PyTorch not installed (apt-get install python3-torch)' };
  log(`  running PyTorch (${workloads.join(', ')})…`);
  const run = spawnSync(
    python,
    [join(root, 'bench/peers/torch_peer.py'), String(threads), String(blockSeconds), ...workloads],
    {
      encoding: 'utf8',
      env: {
        ...process.env,
        OPENBLAS_CORETYPE: 'SkylakeX',
        OPENBLAS_NUM_THREADS: '1',
        OMP_NUM_THREADS: String(threads),
      },
      maxBuffer: 1 << 20,
    },
  );
  if (run.status !== 0) return { skipped: `torch_peer.py failed: ${run.stderr.trim().split('\n').pop()}` };
  const lines = run.stdout
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line));
  const result = { version: lines[0].version, threads: lines[0].threads, conv: {}, train: {}, infer: {} };
  result.peak = {};
  for (const line of lines.slice(1)) {
    const [kind, name] = line.workload.split(':');
    if (kind === 'conv') result.conv[line.case] = line;
    else if (kind === 'train') result.train[name] = line;
    else if (kind === 'train224') result.train[name] = line;
    else if (kind === 'peak') result.peak[name] = line;
    else if (line.skipped) result.infer[name] = { skipped: line.skipped };
    else (result.infer[name] ??= {})[`batch${line.batch}`] = inferenceFigure(line, line.batch, macsOf(name));
  }
  return result;
}

/** Alternating blocks of workloads 1 and 3 (PyTorch runs in its own process): host noise falls on both alike. */
const STEP_ROUNDS = 3;

/** Workloads 3 and 1 for convnets and PyTorch, in STEP_ROUNDS turns each of `stepSeconds / STEP_ROUNDS`, best kept. */
async function stepRounds(macsOf) {
  const wanted = (w) => only.includes(w);
  const measureConv = wanted('conv') ? await convnetsConv() : null;
  const measureTrain = {};
  if (wanted('train'))
    for (const model of ['lenet5', 'resnet20']) measureTrain[model] = await convnetsTrain(model);
  const peerWorkloads = [
    ...(wanted('conv') ? ['conv'] : []),
    ...(wanted('train') ? Object.keys(measureTrain).map((model) => `train:${model}`) : []),
  ];
  const convnetsRounds = [];
  const torchRounds = [];
  if (peerWorkloads.length === 0) return { convnets: { conv: {}, train: {} }, pytorch: null };
  for (let round = 1; round <= STEP_ROUNDS; round++) {
    log(`round ${round} of ${STEP_ROUNDS} (convolution and training steps)`);
    const mine = {
      conv: measureConv === null ? {} : await measureConv(stepSeconds / STEP_ROUNDS),
      train: {},
    };
    for (const [model, measure] of Object.entries(measureTrain))
      mine.train[model] = await measure(stepSeconds / STEP_ROUNDS);
    convnetsRounds.push(mine);
    torchRounds.push(pytorch(peerWorkloads, macsOf, stepSeconds / STEP_ROUNDS));
  }
  const best = (rounds, kind) => {
    const names = Object.keys(rounds[0][kind] ?? {});
    return Object.fromEntries(names.map((name) => [name, bestOfRounds(rounds.map((r) => r[kind][name]))]));
  };
  // The best round's figure keeps its own rate (images/s, GFLOP/s), which goes with its seconds.
  const convnets = { conv: best(convnetsRounds, 'conv'), train: best(convnetsRounds, 'train') };
  const skipped = torchRounds.find((r) => r.skipped)?.skipped;
  if (skipped) return { convnets, pytorch: { skipped } };
  const { version, threads: torchThreads } = torchRounds[0];
  return {
    convnets,
    pytorch: {
      version,
      threads: torchThreads,
      conv: best(torchRounds, 'conv'),
      train: best(torchRounds, 'train'),
    },
  };
}

/**
 * Workload 1's peak memory: each model's training step at batch 128 in a process doing only that, convnets then
 * PyTorch (bench/train-peak.mjs and torch_peer.py's peak:), added to the steps' figures as `peakBytes`.
 */
function addTrainPeaks(steps) {
  for (const [model, figures] of Object.entries(steps.convnets.train)) {
    const workload = { model, size: 32, batch: 128 };
    Object.assign(figures, convnetsPeakBytes(workload));
    log(
      `  convnets ${model} peak resident memory: ${figures.peakSkipped ?? `${mebibytes(figures.peakBytes).toFixed(0)} MiB`}`,
    );
    const theirs = steps.pytorch?.train?.[model];
    if (theirs === undefined) continue;
    const peer = pytorch([`peak:${model}:${model}:32:128:`]);
    Object.assign(
      theirs,
      peer.skipped ? { peakSkipped: peer.skipped } : { peakBytes: peer.peak[model].peakBytes },
    );
  }
}

const ratio = (a, b) => (a === undefined || b === undefined ? '—' : `${(a / b).toFixed(2)}×`);
const fixed = (v, digits) => (v === undefined ? '—' : v.toFixed(digits));
const percentOf = (v, peak) => (v === undefined || !peak ? '—' : `${((100 * v) / peak).toFixed(0)} %`);
const mebibytes = (bytes) => (bytes === undefined ? undefined : bytes / 2 ** 20);

/** The table's rows: convnets, ORT, PyTorch, convnets ÷ ORT, convnets ÷ PyTorch (higher: convnets faster), % of peak. */
function tableRows(results) {
  const torch = results.pytorch;
  const ort = results.onnxruntime;
  const peak = results.peak?.gflops;
  const rows = [];
  for (const [name, c] of Object.entries(results.convnets.conv)) {
    const p = torch.conv?.[name]?.gflops;
    const label = `conv 3×3 64→64, 128×64×32×32, ${name} (GFLOP/s)`;
    rows.push([
      label,
      fixed(c.gflops, 1),
      '—',
      fixed(p, 1),
      '—',
      ratio(c.gflops, p),
      percentOf(c.gflops, peak),
    ]);
  }
  // Memory, as latency: lower is better, so the ratio is peer ÷ convnets.
  const memoryRow = (label, c, p) => {
    const [cm, pm] = [mebibytes(c.peakBytes), mebibytes(p?.peakBytes)];
    return [`${label}, peak resident memory (MiB)`, fixed(cm, 0), '—', fixed(pm, 0), '—', ratio(pm, cm), '—'];
  };
  const atSide = ([name]) => /^\w+-\d+(-finetune)?$/.test(name);
  const train = Object.entries(results.convnets.train);
  for (const [name, c] of train.filter((entry) => !atSide(entry))) {
    const p = torch.train?.[name];
    const label = `training step, ${name}, batch 128`;
    const [cv, pv] = [c.imagesPerSecond, p?.imagesPerSecond];
    rows.push([
      `${label} (images/s)`,
      fixed(cv, 0),
      '—',
      fixed(pv, 0),
      '—',
      ratio(cv, pv),
      percentOf(c.gflops, peak),
    ]);
    if (c.peakBytes !== undefined) rows.push(memoryRow(label, c, p));
  }
  for (const [name, c] of train.filter(atSide)) {
    const p = torch.train?.[name];
    const [model, side, finetune] = name.split('-');
    const what = finetune === undefined ? 'training step' : 'fine-tuning step (layer4 and fc)';
    const label = `${what}, ${model}, ${side}×${side}, batch ${c.batch}`;
    const [cv, pv] = [c.imagesPerSecond, p?.imagesPerSecond];
    rows.push([
      `${label} (images/s)`,
      fixed(cv, 1),
      '—',
      fixed(pv, 1),
      '—',
      ratio(cv, pv),
      percentOf(c.gflops, peak),
    ]);
    rows.push(memoryRow(label, c, p));
  }
  for (const [name, figures] of Object.entries(results.convnets.infer)) {
    for (const batch of BATCHES) {
      const c = figures[`batch${batch}`];
      const o = ort?.infer?.[name]?.[`batch${batch}`];
      const p = torch.infer?.[name]?.[`batch${batch}`];
      const percent = percentOf(c.gflops, peak);
      // Batch 1 is a latency (lower is better, so peer ÷ convnets), batch 8 a throughput (convnets ÷ peer).
      if (batch === 1) {
        const label = `inference, ${name}, 224×224, batch 1 (ms)`;
        const cells = [
          fixed(c.ms, 1),
          fixed(o?.ms, 1),
          fixed(p?.ms, 1),
          ratio(o?.ms, c.ms),
          ratio(p?.ms, c.ms),
        ];
        rows.push([label, ...cells, percent]);
      } else {
        const label = `inference, ${name}, 224×224, batch ${batch} (images/s)`;
        const [cv, ov, pv] = [c.imagesPerSecond, o?.imagesPerSecond, p?.imagesPerSecond];
        rows.push([label, fixed(cv, 1), fixed(ov, 1), fixed(pv, 1), ratio(cv, ov), ratio(cv, pv), percent]);
      }
    }
  }
  return rows;
}

function printTable(results) {
  const { peak, pytorch: torch, onnxruntime: ort } = results;
  const header = [
    'workload',
    'convnets',
    'ORT',
    'PyTorch',
    'convnets ÷ ORT',
    'convnets ÷ PyTorch',
    'convnets % of peak',
  ];
  const rows = [header, ...tableRows(results)];
  const widths = header.map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  const line = (r) => `| ${r.map((cell, i) => cell.padEnd(widths[i])).join(' | ')} |`;
  console.log(`${results.date}, ${results.machine}, ${results.threads} threads`);
  if (peak?.gflops)
    console.log(
      `FMA peak (bench/peak/fma-peak.c, ${peak.isa}): ${peak.gflops.toFixed(1)} GFLOP/s on ${peak.threads} threads, ${peak.gflopsOneThread.toFixed(1)} on one`,
    );
  if (ort) {
    console.log(
      ort.skipped
        ? `ORT skipped: ${ort.skipped}`
        : `ORT: onnxruntime-node ${ort.version}, ${ort.threads} threads`,
    );
  }
  console.log(
    torch.skipped
      ? `PyTorch skipped: ${torch.skipped}`
      : `PyTorch ${torch.version}, ${torch.threads} threads`,
  );
  // Failures of single figures, which the table shows as '—'.
  for (const [peer, infer] of [
    ['ORT', ort?.infer],
    ['PyTorch', torch.infer],
  ]) {
    for (const [name, figures] of Object.entries(infer ?? {})) {
      if (figures.skipped) console.log(`${peer} ${name} skipped: ${figures.skipped}`);
      for (const [batch, f] of Object.entries(figures)) {
        if (f.skipped) console.log(`${peer} ${name} ${batch} skipped: ${f.skipped}`);
      }
    }
  }
  console.log([line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.slice(1).map(line)].join('\n'));
  if (results.winograd) {
    console.log(
      "% of peak counts the direct algorithm's multiply-accumulates; convnets runs 3×3 convolutions of 32 channels and " +
        "more by Winograd's algorithm, which multiplies 2.25× less, so a figure may pass 100 % (CONVNETS_WINOGRAD=0: direct).",
    );
  }
}

async function main() {
  if (tableOf !== null) {
    printTable(JSON.parse(readFileSync(tableOf, 'utf8')));
    return;
  }
  const results = {
    date: new Date().toISOString(),
    machine: `${cpus()[0]?.model ?? 'unknown CPU'}, ${availableParallelism()} cores`,
    threads,
    winograd: process.env.CONVNETS_WINOGRAD !== '0',
  };
  // One measurement at a time, in this order: the peak, convnets (with onnxruntime-node, interleaved), PyTorch.
  if (['conv', 'train', 'train224'].some((workload) => only.includes(workload))) {
    log('measuring the FMA peak…');
    results.peak = fmaPeak();
  }
  const { nativeUnavailableReason } = await import(join(root, 'dist/src/backend/native/addon.js'));
  const reason = nativeUnavailableReason();
  if (reason !== null) throw new Error(`the native backend is not available: ${reason}`);
  const convnets = await import(join(root, 'dist/src/index.js'));
  const macsOf = (name) => convnets.models.info(name).macs;
  results.convnets = { conv: {}, train: {}, infer: {} };
  const steps = await stepRounds(macsOf);
  addTrainPeaks(steps);
  results.convnets.conv = steps.convnets.conv;
  results.convnets.train = steps.convnets.train;
  let inferenceByTorch = { infer: {} };
  if (only.includes('infer')) {
    const both = await inference(inferenceModels);
    results.convnets.infer = both.convnets;
    results.onnxruntime = both.onnxruntime;
    inferenceByTorch = pytorch(
      inferenceModels.map((name) => `infer:${name}`),
      macsOf,
    );
  }
  // Workload 4 joins workload 1 under `train`, by names with the side: resnet50-224, resnet50-224-finetune.
  let trainAtSideByTorch = {};
  if (only.includes('train224')) {
    const both = await train224((workloads, blockSeconds) => pytorch(workloads, macsOf, blockSeconds));
    Object.assign(results.convnets.train, both.convnets);
    trainAtSideByTorch = both.pytorch;
  }
  const skipped = steps.pytorch?.skipped ?? inferenceByTorch.skipped ?? trainAtSideByTorch.skipped;
  results.pytorch = skipped
    ? { skipped }
    : {
        ...inferenceByTorch,
        ...trainAtSideByTorch,
        ...steps.pytorch,
        infer: inferenceByTorch.infer,
        train: { ...steps.pytorch?.train, ...trainAtSideByTorch.train },
      };

  if (asJson) console.log(JSON.stringify(results, null, 2));
  else printTable(results);
}

await main();
