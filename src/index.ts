/**
 * `convnets`, the entry point for Node: the library, file I/O and the loader's worker pool, with the native
 * backend registered, so that it is the default wherever its addon loads. `convnets/browser` (browser.ts) is the
 * same library without what needs Node.
 */
import { nativeUnavailableReason } from './backend/native/addon.js';
import { NativeBackend } from './backend/native/index.js';
import { registerBackend } from './backend/registry.js';

registerBackend('native', { create: () => new NativeBackend(), unavailableReason: nativeUnavailableReason });

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
export type { Backend, DType, Shape, Storage } from './backend/backend.js';
export { getBackend, setBackend, withBackend, backendNames } from './backend/registry.js';
export { outputSize, conv2dOutputShape, pool2dOutputShape } from './backend/shapes.js';
export { ConvnetsError, ShapeError, FormatError, BackendError, ValueError } from './errors.js';
export { version } from './version.js';
export * as models from './models/index.js';
export * as data from './data/index.js';
export * as io from './io/index.js';
export { optimizeForInference } from './io/index.js';
export * as train from './train/index.js';
