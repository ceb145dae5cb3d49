export * from './tensor/index.js';
export * as nn from './nn/index.js';
export * as optim from './optim/index.js';
export type { Backend, DType, Shape, Storage } from './backend/backend.js';
export { getBackend, setBackend, backendNames } from './backend/registry.js';
export { outputSize, conv2dOutputShape, pool2dOutputShape } from './backend/shapes.js';
export { ConvnetsError, ShapeError, FormatError, BackendError, ValueError } from './errors.js';
export { version } from './version.js';
