/**
 * The part of io/ that needs no Node, for the browser entry: the safetensors format as bytes (a page fetches
 * weights and decodes them, and encodes trained weights for a download). The Node entry's `io` is all of io/.
 */
export {
  decodeSafetensors,
  encodeSafetensors,
  type Safetensors,
  type TensorMap,
} from './safetensors-format.js';
