export { OnnxModel, OnnxScope, defaultOpset, type ImportOnnxOptions, type OnnxValueInfo } from './model.js';
export { unsupportedOperators } from './compile.js';
export { DEFAULT_MAX_BYTES, MAX_HOST_INTEGERS } from './ops/budget.js';
export { MAX_LOOP_ITERATIONS } from './ops/control.js';
export { IntValues, OnnxUnsupportedError, type Value as OnnxValue } from './values.js';
export {
  AttributeType,
  DataType,
  dataTypeName,
  emptyAttribute,
  floatTensorProto,
  int32TensorProto,
  int64TensorProto,
  type AttributeProto,
  type Dimension,
  type GraphProto,
  type ModelProto,
  type NodeProto,
  type OnnxArray,
  type TensorProto,
  type ValueInfoProto,
} from './onnx-ir.js';
export {
  compareOutput,
  onnxTolerance,
  runBackendTestCases,
  runCase,
  type BackendTestCase,
  type BackendTestDataSet,
  type BackendTestSummary,
  type CaseResult,
  type Tolerance,
} from './backend-test.js';
export { buildOnnxModel, type ExportOnnxOptions } from './export.js';
export { optimizeForInference } from './inference.js';
export { CONVNETS_DOMAIN, optimizeGraph } from './optimize.js';
export { traceKernels, type Trace } from './trace.js';
