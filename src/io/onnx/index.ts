export {
  OnnxModel,
  OnnxScope,
  decodeOnnx,
  importOnnx,
  unsupportedOperators,
  type ImportOnnxOptions,
  type OnnxValueInfo,
} from './model.js';
export { IntValues, OnnxUnsupportedError, type Value as OnnxValue } from './values.js';
export { decodeModelProto, decodeTensorProto, DataType, type ModelProto, type TensorProto } from './proto.js';
export { encodeModelProto, encodeTensorProto } from './proto-encode.js';
export { decodeTensorData, type OnnxArray } from './tensor-data.js';
export {
  compareOutput,
  findCases,
  onnxTolerance,
  runBackendTests,
  runCase,
  type BackendTestSummary,
  type CaseResult,
  type Tolerance,
} from './backend-test.js';
export { buildOnnxModel, encodeOnnx, exportOnnx, type ExportOnnxOptions } from './export.js';
export { optimizeForInference } from './inference.js';
export { CONVNETS_DOMAIN, optimizeGraph } from './optimize.js';
