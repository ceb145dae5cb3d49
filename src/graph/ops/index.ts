/** Every operator the importer runs, by ONNX op_type (default domain). */
import type { OpFactory } from './context.js';
import { controlOps } from './control.js';
import { elementwiseOps } from './elementwise.js';
import { extraOps } from './extra.js';
import { nnOps } from './nn.js';
import { resizeOps } from './resize.js';
import { shapeOps } from './shape.js';

export const operators: Readonly<Record<string, OpFactory>> = {
  ...elementwiseOps,
  ...nnOps,
  ...shapeOps,
  ...extraOps,
  ...controlOps,
  ...resizeOps,
};

export type { Kernel, OpContext, OpFactory, Subgraph } from './context.js';
