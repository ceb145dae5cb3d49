/* global self, URL */
// convnets' side of the benchmark page, in a module worker: the wasm backend's pool of threads needs a thread that
// may block on Atomics.wait, which a page's main thread may not. page.mjs posts { call, op, id, threads } and gets
// { call, value } or { call, error } back; `run` answers when the runner's call has finished.
import * as convnets from '../../dist/src/browser.js';
import { convnetsBuilders } from './convnets-runners.mjs';

const base = new URL('./', self.location.href);
const runners = new Map();

const operations = {
  /** Loads the backend at `threads` threads; returns what it runs on. */
  async setup({ threads }) {
    await convnets.loadWasmBackend(new URL('convnets.wasm', base), {
      threads,
      threadedSource: new URL('convnets-threads.wasm', base),
      workerUrl: new URL('wasm-thread.js', base),
    });
    convnets.setBackend('wasm');
    const described = convnets.getBackend().describe();
    return { version: convnets.version, backend: described.name, threads: described.threads };
  },
  prepare({ id }) {
    const runner = convnetsBuilders[id](convnets);
    runners.set(id, runner);
    return { about: runner.about ?? {}, images: runner.images, flops: runner.flops };
  },
  run({ id }) {
    runners.get(id).run();
    return null;
  },
  dispose({ id }) {
    runners.get(id)?.dispose();
    runners.delete(id);
    return null;
  },
};

self.onmessage = async ({ data }) => {
  try {
    self.postMessage({ call: data.call, value: await operations[data.op](data) });
  } catch (error) {
    self.postMessage({ call: data.call, error: error.message });
  }
};
