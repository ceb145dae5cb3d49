/**
 * A module rewritten for inference: traced like an ONNX export, then optimised as ONNX Runtime optimises a graph.
 */
import type { Module } from '../nn/index.js';
import { buildOnnxModel } from './export.js';
import { OnnxModel } from './model.js';
import { optimizeGraph } from './optimize.js';

/**
 * `module` as a faster module for inference: traced once in evaluation mode at `inputShape` (batch included, as
 * exportOnnx does), BatchNorm folded into the convolutions before it and residual sums and ReLUs fused into the
 * convolutions (optimizeGraph), then run as an OnnxModel in evaluation mode whose weights are buffers. Its outputs
 * equal the module's in evaluation mode up to float rounding. It is a snapshot: later changes to `module`'s
 * weights do not reach it. Shapes the trace recorded (a Reshape to the traced batch size) hold for that input.
 */
export function optimizeForInference(module: Module, inputShape: readonly number[]): OnnxModel {
  const model = new OnnxModel(optimizeGraph(buildOnnxModel(module, inputShape)), { trainable: false });
  model.eval();
  return model;
}
