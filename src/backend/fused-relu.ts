/**
 * A ReLU after a training BatchNorm (batchNormTraining's `relu`), for backends that run the two one after the other
 * with their own kernels: no mask is kept, the backward pass reads the output.
 */
import { BackendError } from '../errors.js';
import type {
  Backend,
  BatchNormGradients,
  BatchNormTrainingResult,
  FusedRelu,
  Shape,
  Storage,
} from './backend.js';

/** The training result with the ReLU applied to its output, where asked for. */
export function reluAfterBatchNorm(
  backend: Backend,
  result: Omit<BatchNormTrainingResult, 'reluMask'>,
  shape: Shape,
  relu: boolean,
): BatchNormTrainingResult {
  if (!relu) return { ...result, reluMask: null };
  const y = backend.unary('relu', result.y, shape);
  backend.release(result.y);
  return { ...result, y, reluMask: null };
}

/** The BatchNorm's backward pass on dy, first masked by the ReLU's output where one was fused. */
export function backwardThroughRelu(
  backend: Backend,
  dy: Storage,
  shape: Shape,
  relu: FusedRelu | null,
  backward: (dy: Storage) => BatchNormGradients,
): BatchNormGradients {
  if (relu === null) return backward(dy);
  if (!('y' in relu))
    throw new BackendError(
      `batchNormBackward: backend '${backend.name}' keeps no ReLU mask; give the output`,
    );
  const masked = backend.activationBackward('relu', relu.y, relu.y, dy, shape);
  try {
    return backward(masked);
  } finally {
    backend.release(masked);
  }
}
