/* global window, document, fetch, performance, navigator, URL, WebAssembly, Worker */
// The benchmark page (docs: bench/browser/README.md): every runner of every runtime on one page, driven by
// bench/browser/bench.mjs through `window.bench`. A runner is one workload on one runtime ('infer.resnet18:tfjs');
// `prepare` builds it and runs it once untimed, `measure` times it for a block of seconds, so that the driver can
// alternate the runtimes of one workload in rounds, as bench/bench.mjs does. Bundled by esbuild (bench.mjs) from the
// library's browser entry and TensorFlow.js; onnxruntime-web is loaded as its own files, as a page deploys it.
import * as convnets from '../../dist/src/browser.js';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import '@tensorflow/tfjs-backend-cpu';
import { setThreadsCount, setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { tfjsResnet18, tfjsTrainingModel } from './tfjs-models.mjs';
import { CONV, CONV_FLOPS, convnetsBuilders, random, size, TRAIN_BATCH } from './convnets-runners.mjs';

const base = new URL('./', document.baseURI);
const PAD_1 = [
  [0, 0],
  [1, 1],
  [1, 1],
  [0, 0],
];

let ort = null;
let settings = null;
/** id → { run() (sync or async), flops?, images?, dispose(), about: what the driver records beside the time }. */
const runners = new Map();

/** Loads every runtime at `threads` threads; returns their versions and what each runs on. */
async function setup(options) {
  settings = options;
  // convnets on this thread (one thread) only for agreement(); its runners run in the worker, at options.threads.
  await convnets.loadWasmBackend(new URL('convnets.wasm', base));
  convnets.setBackend('wasm');
  const inWorker = await callWorker('setup', { threads: options.threads });
  ort = await import(/* @vite-ignore */ new URL('ort/ort.wasm.min.mjs', base).href);
  ort.env.wasm.wasmPaths = new URL('ort/', base).href;
  ort.env.wasm.numThreads = options.threads;
  setWasmPaths(new URL('tfjs/', base).href);
  setThreadsCount(options.threads);
  await tf.setBackend('wasm');
  return {
    userAgent: navigator.userAgent,
    crossOriginIsolated: window.crossOriginIsolated,
    convnets: inWorker,
    'onnxruntime-web': { version: ort.env.versions?.web ?? 'unknown', threads: options.threads },
    tfjs: { version: tf.version_core, threads: options.threads },
  };
}

// ---- convnets, in its module worker (convnets-worker.mjs) ----

let worker = null;
let calls = 0;
const pending = new Map();

/** Posts operation `op` to the worker; resolves with its answer, rejects with its error message. */
function callWorker(op, fields = {}) {
  if (worker === null) {
    worker = new Worker(new URL('convnets-worker.js', base), { type: 'module' });
    worker.onmessage = ({ data }) => {
      const { resolve, reject } = pending.get(data.call);
      pending.delete(data.call);
      if ('error' in data) reject(new Error(`convnets worker: ${data.error}`));
      else resolve(data.value);
    };
  }
  const call = ++calls;
  return new Promise((resolve, reject) => {
    pending.set(call, { resolve, reject });
    worker.postMessage({ call, op, ...fields });
  });
}

/** A runner whose calls run in the worker: each timed call includes the message there and back. */
async function inConvnetsWorker(id) {
  const { about, images, flops } = await callWorker('prepare', { id });
  return {
    run: () => callWorker('run', { id }),
    images,
    flops,
    about,
    dispose: () => callWorker('dispose', { id }),
  };
}

// ---- onnxruntime-web, on the ONNX files bench.mjs exported from the same models ----

async function ortSession(file, shape, flops) {
  const bytes = new Uint8Array(await (await fetch(new URL(file, base))).arrayBuffer());
  const session = await ort.InferenceSession.create(bytes, {
    executionProviders: ['wasm'],
    intraOpNumThreads: settings.threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  });
  const feeds = { [session.inputNames[0]]: new ort.Tensor('float32', random(size(shape)), shape) };
  return {
    run: async () => {
      const outputs = await session.run(feeds);
      for (const output of Object.values(outputs)) output.dispose?.();
    },
    flops,
    dispose: () => session.release(),
  };
}

// ---- TensorFlow.js ----

/** Runs `fn` on TensorFlow.js backend `name`, switching to it first (runners of both backends share the page). */
async function onTfjs(name, fn) {
  if (tf.getBackend() !== name) await tf.setBackend(name);
  return fn();
}

async function tfjsInference() {
  await onTfjs('wasm', () => undefined);
  const model = tfjsResnet18(tf);
  const x = tf.randomNormal([1, 224, 224, 3]);
  return {
    run: () => onTfjs('wasm', () => tf.tidy(() => model.predict(x).dataSync())),
    about: { backend: 'wasm', parameters: model.parameters, layout: 'NHWC', batchNormFolded: true },
    dispose: () => [...model.variables, x].forEach((t) => t.dispose()),
  };
}

/**
 * A training step of `name` on TensorFlow.js's wasm backend where it can run one, else on its CPU backend (the wasm
 * backend has no Conv2DBackpropFilter kernel, tfjs issue 8474); `about` says which and why.
 */
async function tfjsTraining(name) {
  let wasmFailure = null;
  for (const backend of ['wasm', 'cpu']) {
    await onTfjs(backend, () => undefined);
    const model = tfjsTrainingModel(tf, name, TRAIN_BATCH);
    const step = () => onTfjs(backend, () => model.step());
    try {
      await step();
    } catch (error) {
      model.dispose();
      wasmFailure = error.message.split('\n')[0];
      continue;
    }
    const about = { backend, parameters: model.parameters, batch: TRAIN_BATCH, layout: 'NHWC' };
    if (wasmFailure !== null) about.wasmFailure = wasmFailure;
    return { run: step, images: TRAIN_BATCH, about, dispose: () => model.dispose() };
  }
  throw new Error(`TensorFlow.js could not train ${name}: ${wasmFailure}`);
}

async function tfjsConvolution() {
  await onTfjs('wasm', () => undefined);
  const [n, c, h, w] = CONV.x;
  const x = tf.randomNormal([n, h, w, c]);
  const filter = tf.randomNormal([3, 3, 64, 64]);
  return {
    // The fused convolution with explicit padding: the path its ResNet-18 takes, XNNPACK's.
    run: () =>
      onTfjs('wasm', () => tf.tidy(() => tf.fused.conv2d({ x, filter, strides: 1, pad: PAD_1 }).dataSync())),
    flops: CONV_FLOPS,
    about: { backend: 'wasm', layout: 'NHWC' },
    dispose: () => [x, filter].forEach((t) => t.dispose()),
  };
}

// ---- the WebAssembly SIMD peak (simd-peak.c) ----

async function simdPeak() {
  const { instance } = await WebAssembly.instantiate(
    await (await fetch(new URL('simd-peak.wasm', base))).arrayBuffer(),
  );
  const { run, multiplyAddsPerRound } = instance.exports;
  let rounds = 100000;
  return {
    // Grows the rounds until one call takes 50 ms, as fma-peak.c grows its work, so the call's overhead vanishes.
    run: () => {
      for (;;) {
        const start = performance.now();
        run(rounds);
        const elapsed = performance.now() - start;
        if (elapsed >= 50) return;
        rounds = Math.ceil(rounds * (elapsed > 5 ? (50 / elapsed) * 1.1 : 10));
      }
    },
    flopsOfRun: () => 2 * multiplyAddsPerRound() * rounds,
    about: { isa: 'wasm-simd128 (f32x4.mul + f32x4.add)', threads: 1 },
    dispose: () => undefined,
  };
}

const builders = {
  ...Object.fromEntries(Object.keys(convnetsBuilders).map((id) => [id, () => inConvnetsWorker(id)])),
  'infer.resnet18:onnxruntime-web': () => ortSession('onnx/resnet18-batch1.onnx', [1, 3, 224, 224]),
  'infer.resnet18:tfjs': tfjsInference,
  'train.lenet5:tfjs': () => tfjsTraining('lenet5'),
  'train.resnet20:tfjs': () => tfjsTraining('resnet20'),
  'conv.forward:onnxruntime-web': () => ortSession('onnx/conv.onnx', CONV.x, CONV_FLOPS),
  'conv.forward:tfjs': tfjsConvolution,
  'peak.simd:wasm': simdPeak,
};

/**
 * Builds runner `id` and runs it `warmup` times untimed; returns what it records beside its times, and how long its
 * last untimed call took (the driver times a runner slower than its whole budget once, not in every round).
 */
async function prepare(id, warmup = 1) {
  const runner = await builders[id]();
  runners.set(id, runner);
  let firstCallSeconds = 0;
  for (let i = 0; i < warmup; i++) {
    const start = performance.now();
    await runner.run();
    firstCallSeconds = (performance.now() - start) / 1000;
  }
  return { about: runner.about ?? {}, firstCallSeconds };
}

/** Times runner `id` for at least `seconds` and `minReps` calls: best and median seconds of one call, and rates. */
async function measure(id, seconds, minReps) {
  const runner = runners.get(id);
  const times = [];
  const rates = [];
  const start = performance.now();
  while (times.length < minReps || performance.now() - start < seconds * 1000) {
    const t = performance.now();
    await runner.run();
    const elapsed = (performance.now() - t) / 1000;
    times.push(elapsed);
    if (runner.flopsOfRun) rates.push(runner.flopsOfRun() / elapsed / 1e9);
  }
  const sorted = [...times].sort((a, b) => a - b);
  const figure = { seconds: sorted[0], median: sorted[Math.floor(sorted.length / 2)], reps: times.length };
  if (runner.images) figure.imagesPerSecond = runner.images / figure.seconds;
  if (runner.flops) figure.gflops = runner.flops / figure.seconds / 1e9;
  // The peak's calls differ in length while its rounds grow: its figure is the best rate, not the best time.
  if (runner.flopsOfRun) figure.gflops = Math.max(...rates);
  return figure;
}

async function release(id) {
  await runners.get(id)?.dispose();
  runners.delete(id);
}

/** The largest difference between convnets' ResNet-18 logits and onnxruntime-web's on one input, over their largest. */
async function agreement() {
  const shape = [1, 3, 224, 224];
  const values = random(size(shape));
  const net = convnets.models.get('resnet18', { seed: 1 }).eval();
  const mine = convnets.noGrad(() => net.call(convnets.tensor(values, shape)).data());
  const session = await ort.InferenceSession.create(
    new Uint8Array(await (await fetch(new URL('onnx/resnet18-batch1.onnx', base))).arrayBuffer()),
    { executionProviders: ['wasm'] },
  );
  const outputs = await session.run({ [session.inputNames[0]]: new ort.Tensor('float32', values, shape) });
  const theirs = Object.values(outputs)[0].data;
  await session.release();
  let largest = 0;
  let difference = 0;
  for (let i = 0; i < mine.length; i++) {
    largest = Math.max(largest, Math.abs(theirs[i]));
    difference = Math.max(difference, Math.abs(mine[i] - theirs[i]));
  }
  return { maxAbsoluteDifference: difference, relative: difference / largest };
}

window.bench = { setup, prepare, measure, release, agreement };
document.body.dataset.ready = 'true';
