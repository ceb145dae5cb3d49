export {
  summary,
  batchedInputShape,
  ModelSummary,
  type ModelSummaryJSON,
  type SummaryRow,
  type SummaryTotals,
  type SummaryMemory,
  type UncalledModule,
} from './summary.js';
export { formatSummary, formatTable, formatCount, formatScaled, formatMiB, type Align } from './format.js';
export { withStandIns } from './stand-ins.js';
export { findLayer, lastConvolution } from './layers.js';
export {
  gradCam,
  gradCamPlusPlus,
  saliency,
  occlusion,
  type Explanation,
  type CamOptions,
  type OcclusionOptions,
} from './explain.js';
export {
  featureMaps,
  filters,
  topActivations,
  type ImageSource,
  type TopActivation,
  type TopActivationsOptions,
} from './features.js';
export {
  receptiveField,
  receptiveFields,
  receptiveFieldOf,
  receptiveBox,
  compose as composeReceptiveField,
  layerGeometry,
  PIXEL,
  type ReceptiveField,
  type LayerGeometry,
} from './receptive-field.js';
export { encodePng, deflate, zlibCompress, crc32, adler32, type Picture } from './png.js';
export {
  COLOUR_MAPS,
  colourOf,
  imagePicture,
  heatMap,
  overlay,
  toRgb,
  enlarge,
  crop,
  drawBox,
  grid,
  filterPictures,
  featureMapPictures,
  type ColourMap,
  type Range,
  type HeatMapOptions,
  type Box,
  type GridOptions,
} from './picture.js';
