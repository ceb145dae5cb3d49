// The browser benchmark's page (bench/browser/) in headless Chromium, at a tiny budget: it loads with every runtime
// (convnets on two threads, in its worker), TensorFlow.js builds LeNet-5 with convnets' parameter count, and a
// convnets training step, the wasm SIMD peak and a TensorFlow.js training step each return a positive rate. Never
// a time. Skipped, with a line saying why, where Chromium, the peers (bench/package.json) or the library is not built.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import type { Page } from 'puppeteer-core';

/** What the test uses of bench/browser/site.mjs (plain JavaScript, outside the compiled sources). */
interface Site {
  whyNot(): Promise<string | null>;
  buildSite(options?: { exports?: unknown }): Promise<void>;
  openPage(): Promise<{ page: Page; problems: string[]; close(): Promise<void> }>;
}

/** A runner's figure, as page.mjs's measure returns it. */
interface Figure {
  seconds: number;
  reps: number;
  gflops?: number;
  imagesPerSecond?: number;
}

/** The page's driver hooks, typed here where no DOM types are. */
interface BenchWindow {
  bench: {
    setup(options: { threads: number }): Promise<{ convnets: { backend: string; threads: number } }>;
    prepare(
      id: string,
      warmup?: number,
    ): Promise<{ about: { parameters?: number; backend?: string }; firstCallSeconds: number }>;
    measure(id: string, seconds: number, minReps: number): Promise<Figure>;
    release(id: string): Promise<void>;
  };
}

const siteUrl = new URL('../../../bench/browser/site.mjs', import.meta.url);
const site = (await import(fileURLToPath(siteUrl))) as Site;
const skip = await site.whyNot();
if (skip !== null) console.log(`# browser benchmark test skipped: ${skip}`);

let opened: Awaited<ReturnType<Site['openPage']>>;

before(async () => {
  if (skip !== null) return;
  // No ONNX exports: the workloads here need none.
  await site.buildSite();
  opened = await site.openPage();
});

after(async () => {
  await opened?.close();
});

const bench = (page: Page) => ({
  prepare: (id: string) => page.evaluate((i) => (globalThis as unknown as BenchWindow).bench.prepare(i), id),
  measure: (id: string) =>
    page.evaluate((i) => (globalThis as unknown as BenchWindow).bench.measure(i, 0.01, 1), id),
  release: (id: string) => page.evaluate((i) => (globalThis as unknown as BenchWindow).bench.release(i), id),
});

test(
  'the bench page runs convnets on wasm and measures a training step and the SIMD peak',
  { skip: skip ?? false },
  async () => {
    const { page, problems } = opened;
    const runtimes = await page.evaluate(() =>
      (globalThis as unknown as BenchWindow).bench.setup({ threads: 2 }),
    );
    // Two threads: convnets' runners run in the page's module worker, on the wasm backend's pool.
    assert.deepEqual(runtimes.convnets, { ...runtimes.convnets, backend: 'wasm', threads: 2 });
    const { prepare, measure, release } = bench(page);
    // convnets' registry: LeNet-5 has 61,706 parameters (models/lenet.ts).
    assert.equal((await prepare('train.lenet5:convnets')).about.parameters, 61_706);
    const step = await measure('train.lenet5:convnets');
    assert.ok(step.reps >= 1 && step.seconds > 0 && step.imagesPerSecond! > 0, JSON.stringify(step));
    await release('train.lenet5:convnets');
    await prepare('peak.simd:wasm');
    const peak = await measure('peak.simd:wasm');
    assert.ok(peak.gflops! > 0 && Number.isFinite(peak.gflops), JSON.stringify(peak));
    await release('peak.simd:wasm');
    assert.deepEqual(problems, []);
  },
);

test('TensorFlow.js trains the same LeNet-5 and says on which backend', { skip: skip ?? false }, async () => {
  const { page, problems } = opened;
  const { prepare, measure, release } = bench(page);
  const { about } = await prepare('train.lenet5:tfjs');
  assert.equal(about.parameters, 61_706);
  assert.ok(about.backend === 'wasm' || about.backend === 'cpu', String(about.backend));
  const step = await measure('train.lenet5:tfjs');
  assert.ok(step.imagesPerSecond! > 0, JSON.stringify(step));
  await release('train.lenet5:tfjs');
  assert.deepEqual(problems, []);
});
