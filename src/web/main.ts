/**
 * The page: chooses the backend (the wasm kernels, else plain JavaScript, said at the top), loads the shipped
 * subset and weights, and sets up its three views. `window.convnetsPage` is what the browser tests drive.
 */
import { getBackend, loadWasmBackend, noGrad, setBackend, version } from '../browser.js';
import { imageValues, loadSubset } from './assets.js';
import { setUpBottleneck, updateBottleneck } from './bottleneck.js';
import { TRAINED_LENET5, setUpExplorer } from './explorer.js';
import { byId } from './pictures.js';
import { inputTransform, prepare } from './preprocess.js';
import { setUpTraining } from './training.js';

const base = new URL('./', import.meta.url);

async function chooseBackend(): Promise<void> {
  const line = byId('backend');
  try {
    await loadWasmBackend(new URL('convnets.wasm', base), {
      relaxedSource: new URL('convnets-relaxed.wasm', base),
    });
    // "WebAssembly relaxed SIMD, FMA" where the browser runs the relaxed-SIMD kernels, else "WebAssembly SIMD128".
    const kernels = setBackend('wasm').describe().details.kernels.split(' (')[0];
    line.textContent = `backend: wasm (${kernels}), 1 thread`;
  } catch (error) {
    setBackend('reference');
    line.textContent = `backend: reference (plain JavaScript), 1 thread — the wasm backend did not load: ${(error as Error).message}`;
    line.classList.add('warning');
  }
}

async function start(): Promise<void> {
  byId('version').textContent = `convnets ${version}`;
  await chooseBackend();
  // The training worker may block, so it runs the wasm kernels on a pool of workers where shared memory is allowed;
  // it replaces this line with what it runs on once it starts.
  byId('training-backend').textContent = crossOriginIsolated
    ? `training: in a worker, up to ${Math.min(4, navigator.hardwareConcurrency || 1)} threads`
    : 'training: in a worker, one thread (the page is not cross-origin isolated)';
  const subset = await loadSubset(base);
  const missing = typeof subset === 'string' ? subset : null;
  const explorer = setUpExplorer(base, subset);
  const training = setUpTraining(missing);
  setUpBottleneck();
  await explorer.select(TRAINED_LENET5);
  if (typeof subset !== 'string') explorer.show(imageValues(subset.test, 0));

  // What the browser tests (test/web/) read and drive; nothing on the page uses it.
  Object.assign(window, {
    convnetsPage: {
      backend: () => ({ name: getBackend().name, threads: 1 }),
      /** Chooses the explorer's network, as the picker does. */
      select: (name: string) => explorer.select(name),
      /** The explorer's network's logits for the first `n` test images of the subset, [n][10]. */
      logits(n: number): number[][] {
        if (typeof subset === 'string') throw new Error(subset);
        const network = explorer.network!;
        const x = prepare(
          Array.from({ length: n }, (_, i) => imageValues(subset.test, i)),
          inputTransform(network.inputShape, network.weights?.meta ?? null),
        );
        const values = Array.from(noGrad(() => network.model.call(x)).data() as Float32Array);
        return Array.from({ length: n }, (_, i) => values.slice(i * 10, (i + 1) * 10));
      },
      train: (steps: number) => training.start(steps).finished,
      im2col: () => explorer.im2col,
      bottleneck: () => updateBottleneck(),
    },
  });
  document.body.dataset.ready = 'true';
}

start().catch((error: unknown) => {
  byId('backend').textContent = `the page failed to start: ${(error as Error).message}`;
  document.body.dataset.ready = 'failed';
  throw error;
});
