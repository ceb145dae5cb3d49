import type { ActivationOp } from '../../backend/backend.js';
import { ValueError } from '../../errors.js';
import { tensor } from '../creation.js';
import { Generator, globalGenerator } from '../random.js';
import { Tensor } from '../tensor.js';
import { mul, unaryOp } from './arithmetic.js';
import { backendOf, wrap } from './common.js';
import { checkOptions } from '../../options.js';

/** max(x, 0), elementwise. */
export const relu = (x: Tensor): Tensor => unaryOp('relu', x);
/** 1 / (1 + e^−x), elementwise. */
export const sigmoid = (x: Tensor): Tensor => unaryOp('sigmoid', x);
/** The hyperbolic tangent, elementwise. */
export const tanh = (x: Tensor): Tensor => unaryOp('tanh', x);
/** LeCun et al. 1998, appendix A: f(a) = 1.7159 · tanh(2a/3), so that f(±1) = ±1. */
export const scaledTanh = (x: Tensor): Tensor => unaryOp('scaledTanh', x);

/** dL/dx of an activation from its input, output and dL/dy (the backend's fused backward kernel). */
export function activationGradient(op: ActivationOp, x: Tensor, y: Tensor, dy: Tensor): Tensor {
  const backend = backendOf(`${op} backward`, [x, y, dy]);
  return wrap(backend.activationBackward(op, x.storage, y.storage, dy.storage, x.shape), x.shape, backend);
}

/** Options of dropout. */
export interface DropoutOptions {
  training?: boolean;
  generator?: Generator;
}

/**
 * Zeroes each element with probability p and scales the rest by 1/(1 − p) (inverted dropout, as PyTorch), so
 * evaluation needs no rescaling. The mask is drawn in TypeScript so every backend drops the same elements.
 */
export function dropout(x: Tensor, p: number, options: DropoutOptions = {}): Tensor {
  checkOptions('dropout', options, { training: true, generator: true });
  if (!(p >= 0 && p < 1)) throw new ValueError(`dropout: p must be in [0, 1), got ${p}`);
  if (options.training === false || p === 0) return x;
  const generator = options.generator ?? globalGenerator();
  const keepScale = 1 / (1 - p);
  const maskValues = new Float32Array(x.size);
  for (let i = 0; i < maskValues.length; i++) maskValues[i] = generator.uniform() < p ? 0 : keepScale;
  return mul(x, tensor(maskValues, x.shape));
}
