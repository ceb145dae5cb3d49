/**
 * The wasm backend's registration, shared by both entry points. The browser entry registers it with no way to load
 * the kernels itself: a page calls loadWasmBackend() with the .wasm's URL or bytes (compiling is asynchronous
 * there). The Node entry registers it with a loader that reads dist/wasm/convnets.wasm from disk (node-loader.ts).
 */
import type { BackendProvider } from '../registry.js';
import { BackendError } from '../../errors.js';
import { WasmBackend } from './index.js';
import { type WasmModule, fetchFunction, webAssembly } from './webassembly.js';

let compiled: WasmModule | null = null;

/** Compiles the kernels from the URL of convnets.wasm, or its bytes; setBackend('wasm') works after it. */
export async function loadWasmBackend(source: string | URL | ArrayBuffer | ArrayBufferView): Promise<void> {
  const api = webAssembly();
  if (api === null) throw new BackendError('wasm backend: this JavaScript runtime has no WebAssembly');
  let bytes: ArrayBuffer | ArrayBufferView;
  if (typeof source === 'string' || source instanceof URL) {
    const fetch = fetchFunction();
    if (fetch === null)
      throw new BackendError(`wasm backend: no fetch here to load ${source}; pass the bytes`);
    const response = await fetch(String(source));
    if (!response.ok) throw new BackendError(`wasm backend: fetching ${source} gave HTTP ${response.status}`);
    bytes = await response.arrayBuffer();
  } else bytes = source;
  compiled = await api.compile(bytes);
}

/** `load` compiles the kernels synchronously or throws a BackendError saying in one line why it cannot. */
export function wasmProvider(load?: () => WasmModule): BackendProvider {
  return {
    create: () => {
      if (compiled === null && load === undefined) {
        throw new BackendError(
          "wasm backend not loaded: call await loadWasmBackend(url of convnets.wasm) before setBackend('wasm')",
        );
      }
      compiled ??= load!();
      return new WasmBackend(compiled);
    },
  };
}
