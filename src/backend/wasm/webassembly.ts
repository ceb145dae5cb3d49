/**
 * The part of the WebAssembly JavaScript API this backend uses, typed here: the project compiles against ES2022 and
 * Node's types, neither of which declares it, and a global declaration would clash with a browser project's DOM lib.
 */
export interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}

/** A compiled WebAssembly.Module (opaque here: only instantiated). */
export type WasmModule = object;

interface WebAssemblyApi {
  Memory: new (descriptor: { initial: number; maximum?: number; shared?: boolean }) => WasmMemory;
  Module: new (bytes: ArrayBuffer | ArrayBufferView) => WasmModule;
  Instance: new (module: WasmModule, imports: object) => { exports: Record<string, unknown> };
  compile(bytes: ArrayBuffer | ArrayBufferView): Promise<WasmModule>;
}

interface FetchResponse {
  ok: boolean;
  status: number;
  arrayBuffer(): Promise<ArrayBuffer>;
}

const scope = globalThis as unknown as {
  WebAssembly?: WebAssemblyApi;
  fetch?: (url: string) => Promise<FetchResponse>;
};

/** The runtime's WebAssembly, or null where it has none. */
export function webAssembly(): WebAssemblyApi | null {
  return scope.WebAssembly ?? null;
}

export function fetchFunction(): ((url: string) => Promise<FetchResponse>) | null {
  return scope.fetch ?? null;
}
