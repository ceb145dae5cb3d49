// The browser page (src/web/) in headless Chromium, served by `convnets serve`'s server: its LeNet-5 logits against
// Node's, training in its worker, the downloaded weights in `convnets eval`, the im2col view against the backend's
// im2col, the bottleneck costs against the library's summary, no console error; a screenshot of each view in
// out/web/. Skipped, with a line saying why, where Chromium, puppeteer-core or the built page (make web) is missing.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Server } from 'node:http';
import type { Browser, Page } from 'puppeteer-core';
import { getBackend, preferredBackends, setBackend } from '../../src/backend/registry.js';
import { WEB_DIR, startServer } from '../../src/cli/serve.js';
import { fashionMnist } from '../../src/data/index.js';
import { Generator, noGrad, tensor } from '../../src/tensor/index.js';
import { loadTrained } from '../../src/train/index.js';
import { summarize } from '../../src/cli/summary.js';
import { transforms, toBatch } from '../../src/data/index.js';
import '../../src/index.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const screenshots = join(root, 'out/web');
const main = join(root, 'dist/src/cli/main.js');

async function whyNot(): Promise<string | null> {
  if (!existsSync(CHROMIUM)) return `no Chromium at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM)`;
  if (!existsSync(join(WEB_DIR, 'index.html')))
    return `the page is not built (no ${WEB_DIR}index.html): make web`;
  if (!existsSync(join(WEB_DIR, 'fashion-mnist/train-images.u8')))
    return 'the page was built without Fashion-MNIST (apt-get install dataset-fashion-mnist, then make web)';
  return import('puppeteer-core').then(
    () => null,
    () => 'puppeteer-core is not installed (npm ci)',
  );
}

const skip = await whyNot();
if (skip !== null) console.log(`# browser tests skipped: ${skip}`);

/** What the tests read of the page's window (the test hook, main.ts), typed here where no DOM types are. */
interface PageWindow {
  document: { body: { dataset: { ready?: string } } };
  crossOriginIsolated: boolean;
  convnetsPage: {
    backend(): { name: string; threads: number };
    select(name: string): Promise<void>;
    logits(n: number): number[][];
    train(steps: number): Promise<{ losses: number[]; steps: number }>;
    im2col(): {
      input: number[];
      inputShape: number[];
      kernel: [number, number];
      attrs: Parameters<ReturnType<typeof getBackend>['im2col']>[3];
      rows: number[];
      columns: number[];
    };
    bottleneck(): { direct: number; bottleneck: number };
  };
}

let server: Server;
let url: string;
let browser: Browser;
let page: Page;
const problems: string[] = [];

before(async () => {
  if (skip !== null) return;
  ({ server, url } = await startServer(WEB_DIR, 0, '127.0.0.1'));
  const { default: puppeteer } = await import('puppeteer-core');
  browser = await puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: process.getuid?.() === 0 ? ['--no-sandbox'] : [],
  });
  page = await browser.newPage();
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(`console: ${message.text()}`);
  });
  page.on('pageerror', (error) => problems.push(`page error: ${(error as Error).message}`));
  await page.setViewport({ width: 1200, height: 900 });
  await page.goto(url);
  await page.waitForFunction(
    () => (globalThis as unknown as PageWindow).document.body.dataset.ready !== undefined,
    { timeout: 120_000 },
  );
  mkdirSync(screenshots, { recursive: true });
});

after(async () => {
  await browser?.close();
  server?.closeAllConnections();
  await new Promise((done) => (server ? server.close(done) : done(undefined)));
});

async function screenshot(selector: string, name: string): Promise<void> {
  const section = await page.$(selector);
  assert.ok(section, `${selector} is on the page`);
  await section.screenshot({ path: join(screenshots, `${name}.png`) as `${string}.png` });
}

test('the page starts on the wasm backend, one thread, and says so', { skip: skip ?? false }, async () => {
  assert.equal(
    await page.evaluate(() => (globalThis as unknown as PageWindow).document.body.dataset.ready),
    'true',
  );
  const line = await page.$eval('#backend', (node) => node.textContent);
  // Chromium 114 on runs WebAssembly relaxed SIMD, so the page loads the relaxed kernels (fused multiply-adds) where
  // the build made them; an older browser runs the baseline ones.
  const userAgent = await page.evaluate(
    () => (globalThis as unknown as { navigator: { userAgent: string } }).navigator.userAgent,
  );
  const chromium = Number(/Chrome\/(\d+)/.exec(userAgent)?.[1] ?? 0);
  const relaxed = chromium >= 114 && existsSync(join(root, 'dist/wasm/convnets-relaxed.wasm'));
  const kernels = relaxed ? 'WebAssembly relaxed SIMD, FMA' : 'WebAssembly SIMD128';
  assert.equal(line, `backend: wasm (${kernels}), 1 thread`);
  assert.deepEqual(await page.evaluate(() => (globalThis as unknown as PageWindow).convnetsPage.backend()), {
    name: 'wasm',
    threads: 1,
  });
  // The server's COOP/COEP headers make the page cross-origin isolated, so training may use threads.
  assert.equal(await page.evaluate(() => (globalThis as unknown as PageWindow).crossOriginIsolated), true);
  const trainingLine = await page.$eval('#training-backend', (node) => node.textContent);
  assert.match(trainingLine ?? '', /^training: in a worker, up to \d threads?$/);
});

for (const [choice, file] of [
  ['lenet5 (trained)', 'lenet5-fashion-mnist.safetensors'],
  ['resnet20 (trained)', 'resnet20-fashion-mnist.safetensors'],
]) {
  test(`the shipped ${file}: logits for 100 test images equal Node's`, { skip: skip ?? false }, async () => {
    const inPage = await page.evaluate(async (name) => {
      const hook = (globalThis as unknown as PageWindow).convnetsPage;
      await hook.select(name);
      return hook.logits(100);
    }, choice);
    // Node's native backend where its addon loads, else the reference backend.
    const nodeBackend = preferredBackends().some((b) => b.name === 'native' && b.unavailableReason === null)
      ? 'native'
      : 'reference';
    setBackend(nodeBackend);
    try {
      const trained = await loadTrained(join(root, 'src/web', file));
      const test = fashionMnist({ split: 'test' });
      const transform = transforms.makeTransform(trained.transform);
      const images = Array.from({ length: 100 }, (_, i) => {
        const image = test.get(i).image;
        return transform(
          { data: Float32Array.from(image), channels: 1, height: 28, width: 28 },
          new Generator(0),
        )[0];
      });
      const expected = Array.from(noGrad(() => trained.model.call(toBatch(images))).data());
      const largest = Math.max(...expected.map(Math.abs));
      let worst = 0;
      inPage.flat().forEach((value, i) => (worst = Math.max(worst, Math.abs(value - expected[i]))));
      assert.equal(inPage.flat().length, 1000);
      assert.ok(
        worst <= 1e-4 * largest,
        `largest difference ${worst} against ${nodeBackend}, largest logit ${largest}`,
      );
      // Trained networks: most of the 100 are right (LeNet-5 90 %, ResNet-20 91 % on the whole test set).
      const labels = Array.from({ length: 100 }, (_, i) => test.get(i).label);
      const right = inPage.filter((row, i) => row.indexOf(Math.max(...row)) === labels[i]).length;
      assert.ok(right >= 80, `${right} of 100 right`);
    } finally {
      setBackend('reference');
      await page.evaluate(() =>
        (globalThis as unknown as PageWindow).convnetsPage.select('lenet5 (trained)'),
      );
    }
  });
}

test("the im2col view shows the backend's im2col of the input", { skip: skip ?? false }, async () => {
  const view = await page.evaluate(() => (globalThis as unknown as PageWindow).convnetsPage.im2col());
  const shown = await page.$$eval('.im2col-value', (cells) => cells.map((cell) => Number(cell.textContent)));
  const backend = getBackend();
  const x = tensor(Float32Array.from(view.input), view.inputShape);
  const [, channels] = view.inputShape;
  const patch = channels * view.kernel[0] * view.kernel[1];
  const storage = backend.im2col(x.storage, x.shape, view.kernel, view.attrs);
  const positions = storage.size / patch;
  const columns = backend.read(storage, [1, patch, positions]);
  backend.release(storage);
  assert.equal(shown.length, view.rows.length * view.columns.length);
  let at = 0;
  for (const row of view.rows)
    for (const column of view.columns) {
      const expected = columns[row * positions + column];
      assert.ok(
        Math.abs(shown[at] - expected) <= 5e-4,
        `row ${row}, column ${column}: ${shown[at]} vs ${expected}`,
      );
      at++;
    }
  // The window is not all padding: the numbers vary.
  assert.ok(new Set(shown).size > 5);
  await screenshot('#explorer', 'explorer');
});

test("the bottleneck costs are the summary's and follow the inputs", { skip: skip ?? false }, async () => {
  assert.deepEqual(
    await page.evaluate(() => (globalThis as unknown as PageWindow).convnetsPage.bottleneck()),
    {
      direct: 120_422_400,
      bottleneck: 12_443_648,
    },
  );
  await page.$eval('#bottleneck-in', (input) => ((input as unknown as { value: string }).value = ''));
  await page.type('#bottleneck-in', '256');
  const shown = await page.$eval('#bottleneck-reduced', (node) => node.textContent);
  const expected = summarize('conv2d', '{"inChannels":256,"outChannels":32,"kernelSize":5,"bottleneck":16}')
    .totals.macs;
  assert.equal(shown, `${expected.toLocaleString('en-US')} MACs`);
  await page.$eval('#bottleneck-in', (input) => ((input as unknown as { value: string }).value = ''));
  await page.type('#bottleneck-in', '192');
  await screenshot('#bottleneck', 'bottleneck');
});

test(
  '200 training steps in the page lower the loss, and convnets eval reads the download',
  { skip: skip ?? false },
  async () => {
    const { losses, steps } = await page.evaluate(() =>
      (globalThis as unknown as PageWindow).convnetsPage.train(200),
    );
    assert.equal(steps, 200);
    // The training worker ran the wasm kernels on a pool of workers, one per core up to 4 (the page is isolated).
    const cores = await page.evaluate(() =>
      Math.min(
        4,
        (globalThis as unknown as { navigator: { hardwareConcurrency: number } }).navigator
          .hardwareConcurrency || 1,
      ),
    );
    const trainingLine = await page.$eval('#training-backend', (node) => node.textContent);
    assert.equal(trainingLine, cores === 1 ? 'training: wasm, 1 thread' : `training: wasm, ${cores} threads`);
    const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length;
    const first = mean(losses.slice(0, 20));
    const last = mean(losses.slice(-20));
    assert.ok(
      last < 0.7 * first,
      `loss ${first.toFixed(3)} over the first 20 steps, ${last.toFixed(3)} over the last 20`,
    );
    await screenshot('#training', 'training');

    // The download link's bytes, as a user would save them.
    const base64 = await page.$eval('#train-download', async (link) => {
      const bytes = new Uint8Array(
        await (await fetch((link as unknown as { href: string }).href)).arrayBuffer(),
      );
      let text = '';
      for (const byte of bytes) text += String.fromCharCode(byte);
      return btoa(text);
    });
    const dir = mkdtempSync(join(tmpdir(), 'convnets-page-'));
    try {
      const file = join(dir, 'lenet5-page.safetensors');
      writeFileSync(file, Buffer.from(base64, 'base64'));
      const run = spawnSync(process.execPath, [main, 'eval', file, '--limit', '1000', '--json'], {
        encoding: 'utf8',
        env: { ...process.env, CONVNETS_BACKEND: 'reference' },
      });
      assert.equal(run.status, 0, run.stderr);
      const report = JSON.parse(run.stdout) as { model: string; top1: number };
      assert.equal(report.model, 'lenet5');
      // 200 steps of 32 images: far from the shipped 90 %, far above chance (10 %).
      assert.ok(report.top1 > 0.5, `test accuracy ${report.top1}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);

test('no console error and no page error', { skip: skip ?? false }, () => {
  assert.deepEqual(problems, []);
});
