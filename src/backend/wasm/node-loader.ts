/**
 * The wasm kernels for Node: dist/wasm/convnets.wasm, beside dist/src/ in the checkout and in the package, read and
 * compiled synchronously. Only the Node entry imports this file.
 */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { BackendError } from '../../errors.js';
import { type WasmModule, webAssembly } from './webassembly.js';

const wasmFile = fileURLToPath(new URL('../../../wasm/convnets.wasm', import.meta.url));

let module: WasmModule | null = null;
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
  try {
    module = new api.Module(readFileSync(wasmFile));
    return null;
  } catch (error) {
    failure = `${wasmFile} does not compile here (${(error as Error).message}): this runtime may lack WebAssembly SIMD`;
    return failure;
  }
}

export function loadWasmModule(): WasmModule {
  const reason = wasmUnavailableReason();
  if (reason !== null) throw new BackendError(`wasm backend unavailable: ${reason}`);
  return module!;
}
