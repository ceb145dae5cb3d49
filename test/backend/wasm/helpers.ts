import assert from 'node:assert/strict';
import '../../../src/index.js'; // the Node entry: registers the wasm backend for setBackend('wasm')
import type { Backend, Shape, Storage, TypedArray } from '../../../src/backend/backend.js';
import { ReferenceBackend } from '../../../src/backend/reference/index.js';
import { WasmBackend } from '../../../src/backend/wasm/index.js';
import {
  loadWasmModule,
  loadWasmThreading,
  wasmUnavailableReason,
} from '../../../src/backend/wasm/node-loader.js';
import { assertClose } from '../reference/helpers.js';

const reason = wasmUnavailableReason();

/** node:test's `skip` option: false where dist/wasm/convnets.wasm is built, else one line saying why not. */
export const skipWasm: string | false =
  reason === null ? false : `wasm backend not available here (${reason}); its tests are skipped`;

export const reference: Backend = new ReferenceBackend();
let wasmBackend: WasmBackend | null = null;

/** One wasm backend for every test in a file. */
export function wasm(): WasmBackend {
  wasmBackend ??= new WasmBackend(loadWasmModule(), loadWasmThreading());
  return wasmBackend;
}

export interface Input {
  values: TypedArray;
  shape: Shape;
}

/**
 * Runs `kernel` on the reference and the wasm backend with the same inputs and asserts that every output agrees to
 * `tolerance` relative (|a − b| ≤ tolerance · (1 + |b|)); `onWasm` says whether the wasm backend must run it in wasm
 * (true) or hand it to the reference backend (false). Returns the reference outputs.
 */
export function agree(
  what: string,
  inputs: readonly Input[],
  kernel: (backend: Backend, storages: Storage[]) => Storage | (Storage | null)[],
  options: { tolerance?: number; onWasm?: boolean } = {},
): TypedArray[] {
  const run = (backend: Backend): TypedArray[] => {
    const storages = inputs.map((x) => backend.upload(x.values, x.shape));
    const result = kernel(backend, storages);
    const outputs = (Array.isArray(result) ? result : [result]).filter((s): s is Storage => s !== null);
    const values = outputs.map((s) => backend.read(s, [s.size]));
    for (const s of [...outputs, ...storages]) backend.release(s);
    return values;
  };
  const expected = run(reference);
  const before = wasm().referenceCalls;
  const actual = run(wasm());
  const delegated = wasm().referenceCalls > before;
  if (options.onWasm !== undefined && delegated === options.onWasm) {
    assert.fail(`${what}: expected to run ${options.onWasm ? 'in wasm' : 'on the reference backend'}`);
  }
  expected.forEach((e, i) => {
    if (actual[i].constructor !== e.constructor) assert.fail(`${what} output ${i}: dtype differs`);
    // NaN where the reference has NaN, and nowhere else; the rest close.
    const nan = e.findIndex((v, j) => Number.isNaN(v) !== Number.isNaN(actual[i][j]));
    if (nan >= 0) assert.fail(`${what} output ${i}: element ${nan} is ${actual[i][nan]}, expected ${e[nan]}`);
    const numbers = (values: TypedArray) => values.map((v) => (Number.isNaN(v) ? 0 : v));
    assertClose(numbers(actual[i]), numbers(e), options.tolerance ?? 1e-4, `${what} output ${i}`);
  });
  return expected;
}
