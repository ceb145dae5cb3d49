import type { ReduceOp } from '../../backend/backend.js';
import { record } from '../autograd.js';
import { Tensor } from '../tensor.js';
import { div, equal, mul } from './arithmetic.js';
import { backendOf, normaliseAxis, wrap } from './common.js';
import { broadcastTo, reshape } from './shape.js';

/** Every axis when `axes` is undefined; negative axes count from the end. */
function resolveAxes(x: Tensor, axes: number | readonly number[] | undefined, op: string): number[] {
  if (axes === undefined) return x.shape.map((_, i) => i);
  const list = typeof axes === 'number' ? [axes] : axes;
  return [...new Set(list.map((a) => normaliseAxis(a, x.rank, op)))].sort((a, b) => a - b);
}

function reduceOp(op: ReduceOp, x: Tensor, axes: number[], keepDims: boolean): Tensor {
  const backend = backendOf(op, [x]);
  const keptShape = x.shape.map((d, i) => (axes.includes(i) ? 1 : d));
  const kept = wrap(backend.reduce(op, x.storage, x.shape, axes), keptShape, backend);
  const y = keepDims
    ? kept
    : reshape(
        kept,
        x.shape.filter((_, i) => !axes.includes(i)),
      );
  if (op === 'sum') return record('sum', y, [x], (dy) => [broadcastTo(reshape(dy, keptShape), x.shape)]);
  // Ties share the gradient equally, as PyTorch's amax/amin do.
  return record(
    op,
    y,
    [x],
    (dy) => {
      const mask = equal(x, kept);
      const count = sumAxes(mask, axes);
      return [mul(broadcastTo(reshape(dy, keptShape), x.shape), div(mask, count))];
    },
    [kept],
  );
}

function sumAxes(x: Tensor, axes: number[]): Tensor {
  return reduceOp('sum', x, axes, true);
}

/** The sum over `axes` (all when absent). */
export function sum(x: Tensor, axes?: number | readonly number[], keepDims = false): Tensor {
  return reduceOp('sum', x, resolveAxes(x, axes, 'sum'), keepDims);
}

/** The largest element over `axes` (all when absent). */
export function max(x: Tensor, axes?: number | readonly number[], keepDims = false): Tensor {
  return reduceOp('max', x, resolveAxes(x, axes, 'max'), keepDims);
}

/** The smallest element over `axes` (all when absent). */
export function min(x: Tensor, axes?: number | readonly number[], keepDims = false): Tensor {
  return reduceOp('min', x, resolveAxes(x, axes, 'min'), keepDims);
}

/** The mean over `axes` (all when absent). */
export function mean(x: Tensor, axes?: number | readonly number[], keepDims = false): Tensor {
  const resolved = resolveAxes(x, axes, 'mean');
  const count = resolved.reduce((n, a) => n * x.shape[a], 1);
  return div(reduceOp('sum', x, resolved, keepDims), count);
}
