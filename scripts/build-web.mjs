#!/usr/bin/env node
/* global process, console */
// Builds the browser page (src/web/) into dist/web/, a static site: index.html and style.css, the app and its
// training worker bundled by esbuild from the TypeScript sources, convnets.wasm, the shipped weights and a subset of
// Fashion-MNIST (2,000 training and 200 test images as raw bytes) read from Debian's dataset with the library's IDX
// reader. Without the dataset the page says so; without the wasm kernels it runs on the reference backend and says
// so. Needs the library compiled (dist/src, `npx tsc`), for the IDX reader.
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const source = join(root, 'src/web');
const out = join(root, 'dist/web');
const TRAIN_IMAGES = 2000;
const TEST_IMAGES = 200;

const check = spawnSync(
  process.execPath,
  [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(source, 'tsconfig.json')],
  {
    stdio: 'inherit',
  },
);
if (check.status !== 0) {
  console.error('convnets: the page does not type-check (src/web/tsconfig.json)');
  process.exit(1);
}

rmSync(out, { recursive: true, force: true });
mkdirSync(join(out, 'weights'), { recursive: true });
await build({
  entryPoints: {
    app: join(source, 'main.ts'),
    'train-worker': join(source, 'train-worker.ts'),
    'wasm-thread': join(source, 'wasm-thread.ts'),
  },
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: 'es2022',
  minify: true,
  // Layer tables show class names (Conv2d, ReLU): minified, they would read as one-letter names.
  keepNames: true,
  sourcemap: true,
  outdir: out,
  logLevel: 'warning',
});
for (const file of ['index.html', 'style.css']) copyFileSync(join(source, file), join(out, file));
// The networks shipped trained (src/web/*.safetensors, made by scripts/web-weights.mjs).
for (const file of readdirSync(source).filter((name) => name.endsWith('.safetensors')))
  copyFileSync(join(source, file), join(out, 'weights', file));
const wasm = join(root, 'dist/wasm/convnets.wasm');
// The threaded kernels too: the training worker runs them on a pool of workers where the page is cross-origin isolated.
// The relaxed-SIMD builds, which the page loads instead where the browser validates relaxed SIMD.
for (const file of ['convnets-threads.wasm', 'convnets-relaxed.wasm', 'convnets-relaxed-threads.wasm'])
  if (existsSync(join(root, 'dist/wasm', file))) copyFileSync(join(root, 'dist/wasm', file), join(out, file));
if (existsSync(wasm)) copyFileSync(wasm, join(out, 'convnets.wasm'));
else
  console.log(
    'convnets: dist/wasm/convnets.wasm is not built (node wasm/build.mjs); the page will run on the reference backend',
  );

const { data } = await import(join(root, 'dist/src/index.js'));
let subsetNote = `${TRAIN_IMAGES} training and ${TEST_IMAGES} test images`;
try {
  const subset = join(out, 'fashion-mnist');
  mkdirSync(subset);
  const splits = { train: TRAIN_IMAGES, test: TEST_IMAGES };
  let classNames = [];
  for (const [split, count] of Object.entries(splits)) {
    const dataset = data.fashionMnist({ split });
    classNames = [...dataset.classNames];
    const images = new Uint8Array(count * 28 * 28);
    const labels = new Uint8Array(count);
    for (let i = 0; i < count; i++) {
      const { image, label } = dataset.get(i);
      images.set(
        Uint8Array.from(image, (v) => Math.round(v * 255)),
        i * 28 * 28,
      );
      labels[i] = label;
    }
    writeFileSync(join(subset, `${split}-images.u8`), images);
    writeFileSync(join(subset, `${split}-labels.u8`), labels);
  }
  const manifest = { ...splits, height: 28, width: 28, classNames, source: data.FASHION_MNIST_DIR };
  writeFileSync(join(subset, 'subset.json'), `${JSON.stringify(manifest, null, 2)}\n`);
} catch (error) {
  // The page reads why from subset.json and says it where the images would be.
  const reason = error.message.split('\n')[0];
  rmSync(join(out, 'fashion-mnist'), { recursive: true, force: true });
  mkdirSync(join(out, 'fashion-mnist'));
  writeFileSync(join(out, 'fashion-mnist/subset.json'), `${JSON.stringify({ missing: reason })}\n`);
  subsetNote = `no Fashion-MNIST subset (${reason}); the page says so`;
}
console.log(`convnets: the page built in dist/web (${subsetNote}); convnets serve shows it`);
