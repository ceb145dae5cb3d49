export {
  OnnxModel,
  OnnxScope,
  unsupportedOperators,
  IntValues,
  OnnxUnsupportedError,
  DataType,
  compareOutput,
  onnxTolerance,
  buildOnnxModel,
  optimizeForInference,
  CONVNETS_DOMAIN,
  optimizeGraph,
  type ImportOnnxOptions,
  type OnnxValueInfo,
  type OnnxValue,
  type ModelProto,
  type TensorProto,
  type OnnxArray,
  type BackendTestSummary,
  type CaseResult,
  type Tolerance,
  type ExportOnnxOptions,
} from '../../graph/index.js';
export { decodeOnnx, importOnnx } from './import.js';
export { decodeModelProto, decodeTensorProto } from './proto.js';
export { encodeModelProto, encodeTensorProto } from './proto-encode.js';
export { decodeTensorData, type TensorRecord } from './tensor-data.js';
export { findCases, runBackendTests, runCase } from './backend-test.js';
export { encodeOnnx, exportOnnx, type OnnxSignature } from './export.js';
