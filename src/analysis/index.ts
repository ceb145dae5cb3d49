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
