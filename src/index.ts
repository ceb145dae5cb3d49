/**
 * `convnets`, the entry point for Node: the library of `convnets/browser` (browser.ts) and what needs Node: the
 * native backend, registered here so that it is the default wherever its addon loads; file I/O; the loader's worker
 * pool; training with checkpoints.
 */
import { nativeUnavailableReason } from './backend/native/addon.js';
import { NativeBackend } from './backend/native/index.js';
import { registerBackend } from './backend/registry.js';
import { loadWasmModule, loadWasmThreading } from './backend/wasm/node-loader.js';
import { wasmProvider } from './backend/wasm/provider.js';

registerBackend('native', { create: () => new NativeBackend(), unavailableReason: nativeUnavailableReason });
// Chosen by name only (CONVNETS_BACKEND=wasm): its kernels are read from dist/wasm/ when first asked for.
registerBackend('wasm', wasmProvider(loadWasmModule, loadWasmThreading));

export * from './browser.js';
// In place of the browser entry's data: the same, plus the file readers and the loader.
export * as data from './data/index.js';
export * as io from './io/index.js';
export { optimizeForInference } from './io/index.js';
export * as train from './train/index.js';
// Data-parallel training in several processes over Gloo.
export * as distributed from './distributed/index.js';
