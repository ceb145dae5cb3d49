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
  validate(bytes: ArrayBuffer | ArrayBufferView): boolean;
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

/** Compiled kernels, and whether they are the relaxed-SIMD build (f32x4.relaxed_madd: fused multiply-adds). */
export interface WasmKernels {
  module: WasmModule;
  relaxedSimd: boolean;
}

/**
 * The smallest module that uses f32x4.relaxed_madd (opcode 0xfd 0x105): one function of a v128 local that returns
 * relaxed_madd(l, l, l). A runtime that validates it runs the relaxed-SIMD kernels.
 */
// prettier-ignore
const RELAXED_MADD_PROBE = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // magic, version 1
  0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7b, // types: () → v128
  0x03, 0x02, 0x01, 0x00, // functions: one of type 0
  0x0a, 0x0f, 0x01, 0x0d, 0x01, 0x01, 0x7b, // code: one body of 13 bytes, one v128 local
  0x20, 0x00, 0x20, 0x00, 0x20, 0x00, 0xfd, 0x85, 0x02, 0x0b, // local.get 0 (×3), f32x4.relaxed_madd, end
]);

/** Whether this runtime accepts WebAssembly relaxed SIMD (Chromium 114 on; Node 20 behind a flag). */
export function relaxedSimdValidates(): boolean {
  return webAssembly()?.validate(RELAXED_MADD_PROBE) ?? false;
}

/** The runtime's WebAssembly, or null where it has none. */
export function webAssembly(): WebAssemblyApi | null {
  return scope.WebAssembly ?? null;
}

export function fetchFunction(): ((url: string) => Promise<FetchResponse>) | null {
  return scope.fetch ?? null;
}
