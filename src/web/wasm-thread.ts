/**
 * A Web Worker of the wasm backend's pool: the training worker starts one per extra thread (loadWasmBackend's
 * workerUrl) and posts it the shared memory and the threaded kernels; it then runs kernel parts until the page closes.
 */
import { type PoolThreadData, runWasmPoolThread } from '../browser.js';

self.onmessage = (event: MessageEvent<PoolThreadData>) => runWasmPoolThread(event.data);
