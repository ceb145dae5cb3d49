/**
 * The wasm kernels for Node: dist/wasm/convnets.wasm (and convnets-threads.wasm for the pool), beside dist/src/ in the
 * checkout and in the package, read and compiled synchronously; the pool's workers are worker_threads. Where this
 * Node validates relaxed SIMD and the relaxed builds are there, convnets-relaxed.wasm (and
 * convnets-relaxed-threads.wasm) instead. Only the Node entry imports this file.
 */
import { existsSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { BackendError, ValueError } from '../../errors.js';
import type { WasmThreading } from './index.js';
import { type WasmKernels, relaxedSimdValidates, webAssembly } from './webassembly.js';

const wasmPath = (name: string) => fileURLToPath(new URL(`../../../wasm/${name}`, import.meta.url));
const wasmFile = wasmPath('convnets.wasm');
const workerFile = new URL('./pool-worker-node.js', import.meta.url);

/** The build to load: the relaxed-SIMD one (`relaxed` true) where it is built and this runtime validates it. */
function chooseBuild(plain: string, relaxed: string): { file: string; relaxedSimd: boolean } {
  const relaxedFile = wasmPath(relaxed);
  return existsSync(relaxedFile) && relaxedSimdValidates()
    ? { file: relaxedFile, relaxedSimd: true }
    : { file: wasmPath(plain), relaxedSimd: false };
}

let module: WasmKernels | null = null;
let failure: string | null = null;

/** Null where the wasm backend can run here, else why not, in one line. */
export function wasmUnavailableReason(): string | null {
  if (module !== null) return null;
  if (failure !== null) return failure;
  if (!existsSync(wasmFile)) {
    failure = `not built: no ${wasmFile} (make build builds it where clang and lld are installed)`;
    return failure;
  }
  const api = webAssembly();
  if (api === null) {
    failure = 'this JavaScript runtime has no WebAssembly';
    return failure;
  }
  const build = chooseBuild('convnets.wasm', 'convnets-relaxed.wasm');
  try {
    module = { module: new api.Module(readFileSync(build.file)), relaxedSimd: build.relaxedSimd };
    return null;
  } catch (error) {
    failure = `${build.file} does not compile here (${(error as Error).message}): this runtime may lack WebAssembly SIMD`;
    return failure;
  }
}

export function loadWasmModule(): WasmKernels {
  const reason = wasmUnavailableReason();
  if (reason !== null) throw new BackendError(`wasm backend unavailable: ${reason}`);
  return module!;
}

/** CONVNETS_THREADS, or every core this process may use (DESIGN.md decision 10), as the native backend reads it. */
export function wasmThreadCount(): number {
  const raw = process.env.CONVNETS_THREADS;
  if (raw === undefined || raw === '') return availableParallelism();
  const threads = Number(raw);
  if (!Number.isInteger(threads) || threads < 1 || threads > 64) {
    throw new ValueError(`CONVNETS_THREADS=${raw}: expected an integer from 1 to 64`);
  }
  return threads;
}

/** The threads a wasm backend made now would run, in words ("one thread", "2 threads"). */
export function wasmThreadsPlanned(): string {
  const threads = existsSync(wasmPath('convnets-threads.wasm')) ? wasmThreadCount() : 1;
  return threads === 1 ? 'one thread' : `${threads} threads`;
}

let threadedModule: WasmKernels | null = null;

/**
 * The pool for a wasm backend: CONVNETS_THREADS threads (default every core) on worker_threads, or null for one
 * thread (one asked for, or convnets-threads.wasm missing: a build from before threads).
 */
export function loadWasmThreading(): WasmThreading | null {
  const threads = wasmThreadCount();
  if (threads === 1 || !existsSync(wasmPath('convnets-threads.wasm'))) return null;
  if (threadedModule === null) {
    const build = chooseBuild('convnets-threads.wasm', 'convnets-relaxed-threads.wasm');
    const module = new (webAssembly()!.Module)(readFileSync(build.file));
    threadedModule = { module, relaxedSimd: build.relaxedSimd };
  }
  return {
    module: threadedModule.module,
    relaxedSimd: threadedModule.relaxedSimd,
    threads,
    // unref: a pool's workers wait for work forever; they must not keep the process alive.
    startThread: (data) => new Worker(workerFile, { workerData: data }).unref(),
  };
}
