#!/usr/bin/env node
/* global process, console, window, Buffer */
// convnets against onnxruntime-web and TensorFlow.js in headless Chromium, on one page, the same threads, one
// measurement at a time (docs: bench/browser/README.md).
//
//   node bench/browser/bench.mjs [--json] [--threads N] [--seconds S] [--only conv,train,infer]
//                                [--train-models lenet5,resnet20]
//
// Workloads (issue 19): ResNet-18 inference at 224×224, batch 1 (ms); LeNet-5 and ResNet-20 training steps at batch
// 64 (images/s); one 3×3 64→64 convolution on 128×64×32×32 (GFLOP/s and % of the WebAssembly SIMD peak that
// simd-peak.c measures as bench/peak measures the CPU's); the bundles' sizes. Needs `make build` and the peers
// (cd bench && ONNXRUNTIME_NODE_INSTALL=skip npm ci).
import { readFileSync } from 'node:fs';
import { availableParallelism, cpus } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { bestOfRounds, inferenceFigure } from '../common.mjs';
import { buildSite, openPage, ortFile, root, tfjsFile, whyNot } from './site.mjs';

const WORKLOADS = ['conv', 'train', 'infer'];
const PEERS = ['onnxruntime-web', 'tfjs'];
/** Each workload's runners: runtime → runner id of page.mjs. */
const RUNNERS = {
  infer: {
    resnet18: {
      convnets: 'infer.resnet18:convnets',
      'onnxruntime-web': 'infer.resnet18:onnxruntime-web',
      tfjs: 'infer.resnet18:tfjs',
    },
  },
  train: {
    lenet5: { convnets: 'train.lenet5:convnets', tfjs: 'train.lenet5:tfjs' },
    resnet20: { convnets: 'train.resnet20:convnets', tfjs: 'train.resnet20:tfjs' },
  },
  conv: {
    forward: {
      convnets: 'conv.forward:convnets',
      'onnxruntime-web': 'conv.forward:onnxruntime-web',
      tfjs: 'conv.forward:tfjs',
    },
    'backward-data': { convnets: 'conv.backward-data:convnets' },
    'backward-weights': { convnets: 'conv.backward-weights:convnets' },
  },
};
/** Turns per workload: each runtime runs a block of seconds / ROUNDS in turn, so host noise falls on all alike. */
const ROUNDS = 3;

function option(name, fallback) {
  const at = process.argv.indexOf(`--${name}`);
  return at === -1 ? fallback : process.argv[at + 1];
}
function positive(name, fallback, integer) {
  const text = option(name, null);
  if (text === null) return fallback;
  const value = Number(text);
  if (!(value > 0) || (integer && !Number.isInteger(value)))
    throw new Error(`--${name}: expected ${integer ? 'an integer ≥ 1' : 'a positive number'}, got '${text}'`);
  return value;
}
const asJson = process.argv.includes('--json');
const seconds = positive('seconds', 3, false);
// Every runtime gets the same count; convnets runs its pool of threads in the page's module worker.
const threads = positive('threads', 1, true);
const only = option('only', WORKLOADS.join(',')).split(',');
for (const name of only)
  if (!WORKLOADS.includes(name)) throw new Error(`--only: unknown ${name} (known: ${WORKLOADS})`);
const TRAIN_MODELS = Object.keys(RUNNERS.train);
const trainModels = option('train-models', TRAIN_MODELS.join(',')).split(',');
for (const name of trainModels)
  if (!TRAIN_MODELS.includes(name))
    throw new Error(`--train-models: unknown ${name} (known: ${TRAIN_MODELS})`);
const log = (line) => {
  if (!asJson) console.error(line);
};

/**
 * Times one workload's runners in ROUNDS alternating blocks; each keeps its best round, with every rep counted. A
 * runner whose untimed first call took longer than the whole `--seconds` (TensorFlow.js's ResNet-20 step on its CPU
 * backend: minutes) is timed in the first round only, one call, and its figure says `rounds: 1`.
 */
async function measureWorkload(page, ids) {
  const about = {};
  const rounds = {};
  for (const [runtime, id] of Object.entries(ids)) {
    const prepared = await page.evaluate((i) => window.bench.prepare(i), id);
    about[runtime] = prepared.about;
    rounds[runtime] = prepared.firstCallSeconds > seconds ? 1 : ROUNDS;
    log(`  ${id}: first call ${prepared.firstCallSeconds.toFixed(2)} s`);
  }
  const figures = Object.fromEntries(Object.keys(ids).map((runtime) => [runtime, []]));
  for (let round = 0; round < ROUNDS; round++) {
    for (const [runtime, id] of Object.entries(ids)) {
      if (round >= rounds[runtime]) continue;
      const figure = await page.evaluate((i, s) => window.bench.measure(i, s, 1), id, seconds / ROUNDS);
      figures[runtime].push(figure);
    }
  }
  for (const id of Object.values(ids)) await page.evaluate((i) => window.bench.release(i), id);
  return Object.fromEntries(
    Object.entries(figures).map(([runtime, mine]) => {
      // Rates are best at the best time, but for the peak, whose calls grow while it finds their length.
      const rates = {};
      for (const key of ['gflops', 'imagesPerSecond'])
        if (mine[0][key] !== undefined) rates[key] = Math.max(...mine.map((f) => f[key]));
      return [runtime, { ...bestOfRounds(mine), ...rates, rounds: rounds[runtime], ...about[runtime] }];
    }),
  );
}

/** A JavaScript bundle's bytes, minified, and gzipped (level 9, as a static host serves it). */
async function bundleSize(entry) {
  const { build } = await import('esbuild');
  const result = await build({
    stdin: { contents: entry, resolveDir: join(root, 'bench/browser'), loader: 'js' },
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    minify: true,
    write: false,
    logLevel: 'silent',
  });
  return sizes(result.outputFiles[0].contents);
}
const sizes = (bytes) => ({ bytes: bytes.length, gzipBytes: gzipSync(bytes, { level: 9 }).length });
const fileSize = (path) => sizes(readFileSync(path));

/** The bundles a page loads: each library's JavaScript (its browser entry alone) and its wasm. */
async function bundles() {
  const app = join(root, 'dist/web/app.js');
  let page;
  try {
    page = fileSize(app);
  } catch {
    page = { skipped: 'dist/web/app.js is not built (make web)' };
  }
  return {
    convnets: {
      page,
      browserEntry: await bundleSize(`export * from ${JSON.stringify(join(root, 'dist/src/browser.js'))};`),
      wasm: fileSize(join(root, 'dist/wasm/convnets.wasm')),
    },
    'onnxruntime-web': {
      javascript: sizes(
        Buffer.concat(
          ['ort.wasm.min.mjs', 'ort-wasm-simd-threaded.mjs'].map((f) => readFileSync(ortFile(f))),
        ),
      ),
      wasm: fileSize(ortFile('ort-wasm-simd-threaded.wasm')),
    },
    tfjs: {
      javascript: await bundleSize(
        "export * from '@tensorflow/tfjs-core'; export * from '@tensorflow/tfjs-backend-wasm';",
      ),
      wasm: fileSize(tfjsFile('tfjs-backend-wasm-threaded-simd.wasm')),
    },
  };
}

/** Fails the run where a peer's network is not convnets' architecture, as far as parameter counts tell. */
function checkParameters(results) {
  const checked = {};
  for (const [kind, workloads] of [
    ['infer', ['resnet18']],
    ['train', ['lenet5', 'resnet20']],
  ]) {
    for (const name of workloads) {
      const mine = results.convnets[kind]?.[name];
      const theirs = results.tfjs[kind]?.[name];
      if (mine === undefined || theirs === undefined) continue;
      const [a, b] = [
        mine.batch1?.parameters ?? mine.parameters,
        theirs.batch1?.parameters ?? theirs.parameters,
      ];
      if (a !== b)
        throw new Error(`tfjs's ${name} has ${b} parameters, convnets' ${a}: not the same architecture`);
      checked[name] = a;
    }
  }
  return checked;
}

async function main() {
  const reason = await whyNot();
  if (reason !== null) {
    console.error(`bench/browser: cannot run: ${reason}`);
    process.exit(1);
  }
  const convnets = await import(join(root, 'dist/src/index.js'));
  log('building the page (build/bench-browser) and exporting the ONNX files…');
  await buildSite({ exports: convnets });
  const { page, close, problems } = await openPage();
  try {
    const runtimes = await page.evaluate((n) => window.bench.setup({ threads: n }), threads);
    // Equal threads or no comparison: the wasm backend says how many it started (one without cross-origin isolation).
    if (runtimes.convnets.threads !== threads)
      throw new Error(
        `--threads ${threads}: convnets' wasm backend runs ${runtimes.convnets.threads} thread(s) here, so the peers would not run on the same threads`,
      );
    const results = {
      date: new Date().toISOString(),
      machine: `${cpus()[0]?.model ?? 'unknown CPU'}, ${availableParallelism()} cores`,
      browser: runtimes.userAgent.match(/(?:Headless)?Chrome\/[\d.]+/)?.[0] ?? runtimes.userAgent,
      crossOriginIsolated: runtimes.crossOriginIsolated,
      threads,
      convnets: { ...runtimes.convnets, conv: {}, train: {}, infer: {} },
      'onnxruntime-web': { ...runtimes['onnxruntime-web'], conv: {}, infer: {} },
      tfjs: { ...runtimes.tfjs, conv: {}, train: {}, infer: {} },
    };
    if (only.includes('conv')) {
      log('measuring the WebAssembly SIMD peak…');
      const { wasm } = await measureWorkload(page, { wasm: 'peak.simd:wasm' });
      // simd-peak.c runs on one thread; the limit of N threads is N times it (bench/peak scales the same way).
      results.peak = { ...wasm, gflopsOneThread: wasm.gflops, gflops: wasm.gflops * threads };
    }
    const macs = convnets.models.info('resnet18').macs;
    for (const kind of WORKLOADS.filter((w) => only.includes(w))) {
      for (const [name, ids] of Object.entries(RUNNERS[kind])) {
        if (kind === 'train' && !trainModels.includes(name)) continue;
        log(`${kind} ${name}`);
        const figures = await measureWorkload(page, ids);
        for (const [runtime, figure] of Object.entries(figures)) {
          results[runtime][kind][name] =
            kind === 'infer' ? { batch1: { ...figure, ...inferenceFigure(figure, 1, macs) } } : figure;
          log(`  ${runtime}: ${describe(kind, results[runtime][kind][name])}`);
        }
      }
    }
    if (only.includes('infer'))
      results.checks = { resnet18Logits: await page.evaluate(() => window.bench.agreement()) };
    results.checks = { ...results.checks, parameters: checkParameters(results) };
    results.bundle = await bundles();
    if (problems.length > 0) throw new Error(`the page reported: ${problems.join('; ')}`);
    if (asJson) console.log(JSON.stringify(results, null, 2));
    else printTable(results);
  } finally {
    await close();
  }
}

function describe(kind, figure) {
  if (kind === 'infer') return `${figure.batch1.ms.toFixed(1)} ms`;
  if (kind === 'train') return `${figure.imagesPerSecond.toFixed(0)} images/s on ${figure.backend ?? 'wasm'}`;
  return `${figure.gflops.toFixed(1)} GFLOP/s`;
}

const fixed = (v, digits) => (v === undefined ? '—' : v.toFixed(digits));
const ratio = (a, b) => (a === undefined || b === undefined ? '—' : `${(a / b).toFixed(2)}×`);
const kib = (size) => (size?.gzipBytes === undefined ? '—' : `${(size.gzipBytes / 1024).toFixed(0)} KiB`);
const mib = (size) => (size?.bytes === undefined ? '—' : `${(size.bytes / 2 ** 20).toFixed(2)} MiB`);

/** The table: convnets and each peer, and convnets ÷ peer (above 1× when convnets is faster or smaller). */
function rows(results) {
  const [c, o, t] = ['convnets', ...PEERS].map((runtime) => results[runtime]);
  const peak = results.peak?.gflops;
  const percent = (v) => (v === undefined || !peak ? '—' : `${((100 * v) / peak).toFixed(0)} %`);
  const out = [];
  const infer = [c.infer.resnet18?.batch1, o.infer.resnet18?.batch1, t.infer.resnet18?.batch1];
  if (infer[0]) {
    const [mine, ort, tfjs] = infer.map((f) => f?.ms);
    out.push([
      'inference, resnet18, 224×224, batch 1 (ms)',
      fixed(mine, 1),
      fixed(ort, 1),
      fixed(tfjs, 1),
      ratio(ort, mine),
      ratio(tfjs, mine),
      percent(infer[0].gflops),
    ]);
  }
  for (const name of ['lenet5', 'resnet20']) {
    const [mine, tfjs] = [c.train[name], t.train[name]];
    if (!mine) continue;
    const label = `training step, ${name}, batch 64 (images/s; tfjs on ${tfjs?.backend ?? '—'})`;
    out.push([
      label,
      fixed(mine.imagesPerSecond, 0),
      '—',
      fixed(tfjs?.imagesPerSecond, 0),
      '—',
      ratio(mine.imagesPerSecond, tfjs?.imagesPerSecond),
      '—',
    ]);
  }
  for (const [name, mine] of Object.entries(c.conv)) {
    const [ort, tfjs] = [o.conv[name]?.gflops, t.conv[name]?.gflops];
    const label = `conv 3×3 64→64, 128×64×32×32, ${name} (GFLOP/s)`;
    out.push([
      label,
      fixed(mine.gflops, 1),
      fixed(ort, 1),
      fixed(tfjs, 1),
      ratio(mine.gflops, ort),
      ratio(mine.gflops, tfjs),
      percent(mine.gflops),
    ]);
  }
  const b = results.bundle;
  out.push([
    'JavaScript, gzipped (browser entry alone)',
    kib(b.convnets.browserEntry),
    kib(b['onnxruntime-web'].javascript),
    kib(b.tfjs.javascript),
    ratio(b['onnxruntime-web'].javascript.gzipBytes, b.convnets.browserEntry.gzipBytes),
    ratio(b.tfjs.javascript.gzipBytes, b.convnets.browserEntry.gzipBytes),
    '—',
  ]);
  out.push([
    'JavaScript, gzipped (the page, dist/web/app.js)',
    kib(b.convnets.page),
    '—',
    '—',
    '—',
    '—',
    '—',
  ]);
  out.push([
    'wasm (uncompressed)',
    mib(b.convnets.wasm),
    mib(b['onnxruntime-web'].wasm),
    mib(b.tfjs.wasm),
    ratio(b['onnxruntime-web'].wasm.bytes, b.convnets.wasm.bytes),
    ratio(b.tfjs.wasm.bytes, b.convnets.wasm.bytes),
    '—',
  ]);
  return out;
}

function printTable(results) {
  const header = [
    'workload',
    'convnets',
    'onnxruntime-web',
    'tfjs',
    'convnets ÷ ORT',
    'convnets ÷ tfjs',
    'convnets % of peak',
  ];
  const all = [header, ...rows(results)];
  const widths = header.map((_, i) => Math.max(...all.map((r) => r[i].length)));
  const line = (r) => `| ${r.map((cell, i) => cell.padEnd(widths[i])).join(' | ')} |`;
  const [o, t] = PEERS.map((runtime) => results[runtime]);
  console.log(`${results.date}, ${results.machine}, ${results.browser}, ${results.threads} thread(s)`);
  console.log(
    `convnets ${results.convnets.version} (${results.convnets.backend}, ${results.convnets.threads} thread), onnxruntime-web ${o.version}, TensorFlow.js ${t.version}`,
  );
  if (results.peak)
    console.log(
      `WebAssembly SIMD peak (bench/browser/simd-peak.c, mul + add): ${results.peak.gflopsOneThread.toFixed(1)} GFLOP/s on 1 thread${threads > 1 ? `, ${results.peak.gflops.toFixed(1)} on ${threads}` : ''}`,
    );
  for (const [name, figure] of Object.entries(t.train))
    if (figure.wasmFailure)
      console.log(
        `tfjs trains ${name} on its ${figure.backend} backend: its wasm backend failed (${figure.wasmFailure})`,
      );
  if (results.checks?.resnet18Logits)
    console.log(
      `ResNet-18 logits, convnets against onnxruntime-web: ${results.checks.resnet18Logits.relative.toExponential(1)} relative`,
    );
  console.log(
    `parameters equal in convnets and tfjs: ${Object.entries(results.checks.parameters)
      .map(([n, p]) => `${n} ${p}`)
      .join(', ')}`,
  );
  console.log([line(header), line(widths.map((w) => '-'.repeat(w))), ...all.slice(1).map(line)].join('\n'));
}

await main();
