import { record } from '../autograd.js';
import { Tensor } from '../tensor.js';
import { backendOf, normaliseAxis, wrap } from './common.js';

function softmaxOp(x: Tensor, axis: number, log: boolean): Tensor {
  const op = log ? 'logSoftmax' : 'softmax';
  const a = normaliseAxis(axis, x.rank, op);
  const backend = backendOf(op, [x]);
  const y = wrap(backend.softmax(x.storage, x.shape, a, log), x.shape, backend);
  return record(op, y, [x], (dy) => [
    wrap(backend.softmaxBackward(y.storage, dy.storage, x.shape, a, log), x.shape, backend),
  ]);
}

/** exp(x) / Σ exp(x) along an axis (the last by default), computed stably. */
export function softmax(x: Tensor, axis = -1): Tensor {
  return softmaxOp(x, axis, false);
}

/** x − log Σ exp(x) along an axis: the stable way to get log-probabilities. */
export function logSoftmax(x: Tensor, axis = -1): Tensor {
  return softmaxOp(x, axis, true);
}
