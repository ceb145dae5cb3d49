/**
 * The wasm backend's registration, shared by both entry points. The browser entry registers it with no way to load
 * the kernels itself: a page calls loadWasmBackend() with the .wasm's URL or bytes (compiling is asynchronous
 * there). The Node entry registers it with a loader that reads dist/wasm/convnets.wasm from disk (node-loader.ts).
 */
import type { BackendProvider } from '../registry.js';
import { BackendError, ValueError } from '../../errors.js';
import { type OptionKeys, checkOptions } from '../../options.js';
import { WasmBackend, type WasmThreading } from './index.js';
import { type WasmKernels, fetchFunction, relaxedSimdValidates, webAssembly } from './webassembly.js';

let compiled: WasmKernels | null = null;
let threading: WasmThreading | null = null; // set by loadWasmBackend

type WasmSource = string | URL | ArrayBuffer | ArrayBufferView;

/** Options of loadWasmBackend: the pool of threads, where the runtime allows one. */
export interface WasmLoadOptions {
  /** Threads to run the kernels on (default 1): the calling thread and threads − 1 Web Workers. */
  threads?: number;
  /** convnets-threads.wasm (its URL or bytes): the kernels built over shared memory; needed for threads > 1. */
  threadedSource?: WasmSource;
  /** A module worker script that passes the first message it gets to runWasmPoolThread; needed for threads > 1. */
  workerUrl?: string | URL;
  /**
   * convnets-relaxed.wasm (its URL or bytes): the kernels built with relaxed SIMD's fused multiply-add, loaded
   * instead of `source` where the runtime validates relaxed SIMD (Chromium 114 on); `source` is never fetched then.
   */
  relaxedSource?: WasmSource;
  /** convnets-relaxed-threads.wasm: the same for `threadedSource`. */
  relaxedThreadedSource?: WasmSource;
}

const loadOptionKeys: OptionKeys<WasmLoadOptions> = {
  threads: true,
  threadedSource: true,
  workerUrl: true,
  relaxedSource: true,
  relaxedThreadedSource: true,
};

async function bytesOf(source: WasmSource): Promise<ArrayBuffer | ArrayBufferView> {
  if (!(typeof source === 'string' || source instanceof URL)) return source;
  const fetch = fetchFunction();
  if (fetch === null) throw new BackendError(`wasm backend: no fetch here to load ${source}; pass the bytes`);
  const response = await fetch(String(source));
  if (!response.ok) throw new BackendError(`wasm backend: fetching ${source} gave HTTP ${response.status}`);
  return response.arrayBuffer();
}

interface ThreadingScope {
  SharedArrayBuffer?: unknown;
  crossOriginIsolated?: boolean;
  document?: unknown;
  Worker?: new (url: string | URL, options: { type: 'module' }) => { postMessage(message: unknown): void };
}

/**
 * Why this runtime cannot run the pool, or null where it can: it needs SharedArrayBuffer (a page served
 * cross-origin isolated, with the COOP and COEP headers), Web Workers, and a thread that may block (Atomics.wait):
 * a worker, not a page's main thread.
 */
export function wasmThreadsUnavailableReason(): string | null {
  const scope = globalThis as ThreadingScope;
  if (scope.SharedArrayBuffer === undefined || scope.crossOriginIsolated === false)
    return 'no SharedArrayBuffer: the page is not cross-origin isolated (COOP and COEP headers)';
  if (scope.Worker === undefined) return 'no Web Workers here';
  if (scope.document !== undefined) return "a page's main thread may not block on Atomics.wait";
  return null;
}

/**
 * Compiles the kernels from the URL of convnets.wasm, or its bytes; setBackend('wasm') works after it. With
 * `threads` above 1 it compiles the threaded kernels too, and each backend made afterwards runs on that many threads
 * where wasmThreadsUnavailableReason() is null, on one otherwise (`getBackend().threads` says which). Given the
 * relaxed-SIMD builds, it compiles those instead where the runtime validates relaxed SIMD
 * (`getBackend().describe()` says which kernels run).
 */
export async function loadWasmBackend(source: WasmSource, options: WasmLoadOptions = {}): Promise<void> {
  checkOptions('loadWasmBackend', options, loadOptionKeys);
  const threads = options.threads ?? 1;
  if (!Number.isInteger(threads) || threads < 1 || threads > 64)
    throw new ValueError(`loadWasmBackend: threads must be an integer from 1 to 64, got ${threads}`);
  if (threads > 1 && (options.threadedSource === undefined || options.workerUrl === undefined))
    throw new ValueError('loadWasmBackend: threads above 1 need threadedSource and workerUrl');
  const api = webAssembly();
  if (api === null) throw new BackendError('wasm backend: this JavaScript runtime has no WebAssembly');
  const relaxed = relaxedSimdValidates();
  // The relaxed build where the runtime validates relaxed SIMD; the baseline one where it does not, and where the
  // relaxed one cannot be had (a build without it: the page then runs as it would without relaxed SIMD).
  const compile = async (plain: WasmSource, relaxedSource: WasmSource | undefined): Promise<WasmKernels> => {
    if (relaxed && relaxedSource !== undefined) {
      try {
        return { module: await api.compile(await bytesOf(relaxedSource)), relaxedSimd: true };
      } catch {
        // fall through to the baseline build
      }
    }
    return { module: await api.compile(await bytesOf(plain)), relaxedSimd: false };
  };
  compiled = await compile(source, options.relaxedSource);
  threading = null;
  if (threads === 1 || wasmThreadsUnavailableReason() !== null) return;
  const { module, relaxedSimd } = await compile(options.threadedSource!, options.relaxedThreadedSource);
  const Worker = (globalThis as ThreadingScope).Worker!;
  const workerUrl = options.workerUrl!;
  threading = {
    module,
    relaxedSimd,
    threads,
    startThread: (data) => new Worker(workerUrl, { type: 'module' }).postMessage(data),
  };
}

/** `load` compiles the kernels synchronously or throws a BackendError saying in one line why it cannot. */
export function wasmProvider(
  load?: () => WasmKernels,
  loadThreading?: () => WasmThreading | null,
): BackendProvider {
  return {
    create: () => {
      if (compiled === null && load === undefined) {
        throw new BackendError(
          "wasm backend not loaded: call await loadWasmBackend(url of convnets.wasm) before setBackend('wasm')",
        );
      }
      compiled ??= load!();
      return new WasmBackend(compiled, loadThreading === undefined ? threading : loadThreading());
    },
  };
}
