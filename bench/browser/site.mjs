/* global process, document */
// The benchmark page as a static site in build/bench-browser/ (the page bundled by esbuild, convnets.wasm, the SIMD
// peak's module, onnxruntime-web's and TensorFlow.js's files, the ONNX exports), served by `convnets serve`'s server
// (COOP/COEP, so the page is cross-origin isolated and peers may start threads) and opened in headless Chromium by
// puppeteer-core, as test/web/page.test.ts does. Used by bench.mjs and by test/bench/browser-bench.test.ts.
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const siteDir = join(root, 'build/bench-browser');
const peers = join(root, 'bench/node_modules');
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const ORT_FILES = ['ort.wasm.min.mjs', 'ort-wasm-simd-threaded.mjs', 'ort-wasm-simd-threaded.wasm'];
const TFJS_FILES = [
  'tfjs-backend-wasm.wasm',
  'tfjs-backend-wasm-simd.wasm',
  'tfjs-backend-wasm-threaded-simd.wasm',
];
export const ortFile = (file) => join(peers, 'onnxruntime-web/dist', file);
export const tfjsFile = (file) => join(peers, '@tensorflow/tfjs-backend-wasm/dist', file);

/** Why the page cannot run here, or null. */
export async function whyNot() {
  if (!existsSync(CHROMIUM)) return `no Chromium at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM)`;
  if (!existsSync(join(root, 'dist/src/browser.js')))
    return 'the library is not built (npx tsc, or make build)';
  for (const file of ['convnets.wasm', 'convnets-threads.wasm'])
    if (!existsSync(join(root, 'dist/wasm', file))) return `dist/wasm/${file} is not built (make build)`;
  for (const file of [...ORT_FILES.map(ortFile), ...TFJS_FILES.map(tfjsFile)])
    if (!existsSync(file))
      return `the peers are not installed (no ${file}): cd bench && ONNXRUNTIME_NODE_INSTALL=skip npm ci`;
  if (spawnSync('clang', ['--version']).status !== 0)
    return 'no clang for the SIMD peak (apt-get install clang lld)';
  return import('puppeteer-core').then(
    () => null,
    () => 'puppeteer-core is not installed (npm ci)',
  );
}

/** bench/browser/simd-peak.c, with the flags of the library's own kernels (wasm/build.mjs). */
function buildPeak(output) {
  const args = ['--target=wasm32', '-O3', '-msimd128', '-nostdlib', '-Wl,--no-entry', '-o', output];
  const result = spawnSync('clang', [...args, join(root, 'bench/browser/simd-peak.c')], { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`clang could not build simd-peak.c: ${result.stderr.trim()}`);
}

/**
 * Builds the site. `exports`, when given, is convnets' Node entry: the ONNX files onnxruntime-web runs are exported
 * from the models the page builds (ResNet-18 with seed 1, the same weights; the convolution's weights are random).
 */
export async function buildSite({ exports = null } = {}) {
  const { build } = await import('esbuild');
  rmSync(siteDir, { recursive: true, force: true });
  for (const dir of ['ort', 'tfjs', 'onnx']) mkdirSync(join(siteDir, dir), { recursive: true });
  await build({
    entryPoints: {
      page: join(root, 'bench/browser/page.mjs'),
      'convnets-worker': join(root, 'bench/browser/convnets-worker.mjs'),
      'wasm-thread': join(root, 'src/web/wasm-thread.ts'),
    },
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    minify: true,
    outdir: siteDir,
    logLevel: 'warning',
  });
  writeFileSync(
    join(siteDir, 'index.html'),
    '<!doctype html>\n<meta charset="utf-8">\n<title>convnets: browser benchmark</title>\n<link rel="icon" href="data:,">\n' +
      '<body>The benchmark runs from node bench/browser/bench.mjs.</body>\n<script type="module" src="page.js"></script>\n',
  );
  for (const file of ['convnets.wasm', 'convnets-threads.wasm'])
    copyFileSync(join(root, 'dist/wasm', file), join(siteDir, file));
  buildPeak(join(siteDir, 'simd-peak.wasm'));
  for (const file of ORT_FILES) copyFileSync(ortFile(file), join(siteDir, 'ort', file));
  for (const file of TFJS_FILES) copyFileSync(tfjsFile(file), join(siteDir, 'tfjs', file));
  if (exports !== null) {
    const net = exports.models.get('resnet18', { seed: 1 }).eval();
    await exports.io.exportOnnx(net, [1, 3, 224, 224], join(siteDir, 'onnx/resnet18-batch1.onnx'));
    const conv = new exports.nn.Conv2d(64, 64, 3, { padding: 1, bias: false });
    await exports.io.exportOnnx(conv, [1, 64, 32, 32], join(siteDir, 'onnx/conv.onnx'), { batch: 'dynamic' });
  }
}

/** Serves the built site and opens it in headless Chromium; `close` ends both. */
export async function openPage() {
  const { startServer } = await import(join(root, 'dist/src/cli/serve.js'));
  const { server, url } = await startServer(siteDir, 0, '127.0.0.1');
  const { default: puppeteer } = await import('puppeteer-core');
  const browser = await puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: process.getuid?.() === 0 ? ['--no-sandbox'] : [],
    // A TensorFlow.js ResNet-20 step on its CPU backend takes minutes on a busy machine.
    protocolTimeout: 3_600_000,
  });
  const problems = [];
  const close = async () => {
    await browser.close();
    server.closeAllConnections();
    await new Promise((done) => server.close(done));
  };
  try {
    const page = await browser.newPage();
    page.on('pageerror', (error) => problems.push(error.message));
    page.on('console', (message) => {
      if (message.type() === 'error') problems.push(message.text());
    });
    await page.goto(url);
    await page.waitForFunction(() => document.body.dataset.ready !== undefined, { timeout: 60_000 });
    return { page, browser, problems, close };
  } catch (error) {
    await close();
    throw new Error(`the benchmark page did not load: ${problems.join('; ') || error.message}`);
  }
}
