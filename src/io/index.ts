export { decodeNpy, encodeNpy, parseNpyHeader, readNpy, writeNpy, type NpyHeader } from './npy.js';
export {
  decodeSafetensors,
  encodeSafetensors,
  loadSafetensors,
  saveSafetensors,
  type Safetensors,
} from './safetensors.js';
export { decodePth, loadPth } from './pth/index.js';
export {
  detectFormat,
  loadWeights,
  readWeights,
  readWeightsFile,
  saveWeights,
  type LoadWeightsOptions,
  type WeightsFile,
  type WeightsFormat,
} from './weights.js';
export {
  caffeStateDict,
  decodeCaffe,
  decodeCaffeZooWeights,
  decodeCaffemodel,
  resnet50CaffeTable,
  type CaffeModuleSource,
  loadCaffe,
  parsePrototxt,
  type CaffeBlob,
  type CaffeLayerBlobs,
  type CaffeWeights,
  type TextMessage,
  type TextValue,
} from './caffe/index.js';
export {
  decodeKeras,
  decodeKerasLayers,
  loadKeras,
  type KerasLayerWeights,
  type KerasWeight,
  type KerasWeights,
} from './keras/index.js';
export { Hdf5Dataset, Hdf5File, Hdf5Group, type AttributeValue } from './hdf5/index.js';
export type { Source } from './common.js';
export {
  OnnxModel,
  OnnxUnsupportedError,
  IntValues,
  decodeOnnx,
  encodeOnnx,
  exportOnnx,
  importOnnx,
  optimizeForInference,
  optimizeGraph,
  runBackendTests,
  type ExportOnnxOptions,
  type OnnxSignature,
  type ImportOnnxOptions,
  type OnnxValue,
} from './onnx/index.js';
export {
  cachePath,
  cachedDownload,
  convnetsHome,
  type CachedDownloadOptions,
  type DownloadSpec,
  type ProgressFn,
} from './download.js';
