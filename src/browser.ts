/**
 * `convnets/browser`: the library for browsers and any other JavaScript runtime: tensors and autograd, layers,
 * models, optimizers, summaries, the in-memory part of data/, the graph runtime and the safetensors format as bytes,
 * on the reference backend or the wasm one.
 * Nothing reachable from here imports Node (test/browser.test.ts bundles it for a browser). `convnets` (index.ts)
 * is this and what needs Node: the native backend, file I/O, the loader's worker pool, training with checkpoints.
 */
import { registerBackend } from './backend/registry.js';
import { wasmProvider } from './backend/wasm/provider.js';

// The wasm backend: setBackend('wasm') once loadWasmBackend(url of convnets.wasm) has compiled its kernels.
registerBackend('wasm', wasmProvider());
export {
  loadWasmBackend,
  wasmThreadsUnavailableReason,
  type WasmLoadOptions,
} from './backend/wasm/provider.js';
// The body of a Web Worker of the wasm backend's pool (loadWasmBackend's workerUrl).
export { runPoolThread as runWasmPoolThread, type PoolThreadData } from './backend/wasm/pool.js';
export * from './tensor/index.js';
export * as nn from './nn/index.js';
export * as optim from './optim/index.js';
export {
  summary,
  formatSummary,
  ModelSummary,
  type ModelSummaryJSON,
  type SummaryRow,
  type SummaryTotals,
  type SummaryMemory,
} from './analysis/index.js';
// Looking inside networks: feature maps, filters, Grad-CAM, saliency, occlusion, receptive fields, pictures.
export * as analysis from './analysis/index.js';
export type { Backend, BackendDescription, DType, Shape, Storage } from './backend/backend.js';
export { getBackend, setBackend, withBackend, backendNames } from './backend/registry.js';
export { outputSize, conv2dOutputShape, pool2dOutputShape } from './backend/shapes.js';
export {
  ConvnetsError,
  ShapeError,
  FormatError,
  BackendError,
  ValueError,
  DistributedError,
} from './errors.js';
export { version } from './version.js';
export * as models from './models/index.js';
export * as data from './data/portable.js';
// The graph runtime: tracing, optimisation, replay, the ONNX operator set and OnnxModel, fed ModelProtos (io/ reads
// and writes the files, under Node).
export * as graph from './graph/index.js';
// The safetensors format as bytes (fetched weights in, trained weights out); the Node entry's io adds the files.
export * as io from './io/portable.js';
