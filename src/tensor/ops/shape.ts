import { checkShape, sameShape, sizeOf } from '../../backend/shapes.js';
import { ShapeError, ValueError, formatShape } from '../../errors.js';
import { record } from '../autograd.js';
import { zeros } from '../creation.js';
import { Tensor } from '../tensor.js';
import { add } from './arithmetic.js';
import { backendOf, normaliseAxis } from './common.js';

/** Same values under a new shape; one dimension may be −1 and is inferred. */
export function reshape(x: Tensor, shape: readonly number[]): Tensor {
  const bad = shape.find((d) => d !== -1 && !(Number.isSafeInteger(d) && d >= 0));
  if (bad !== undefined) {
    throw new ShapeError(
      `reshape: cannot view ${formatShape(x.shape)} as ${formatShape(shape)}: dimension ${bad} is not a non-negative integer or −1`,
    );
  }
  const known = shape.filter((d) => d !== -1);
  const inferred = shape.length - known.length;
  const knownSize = sizeOf(known);
  const resolved =
    inferred === 1 && knownSize > 0 && x.size % knownSize === 0
      ? shape.map((d) => (d === -1 ? x.size / knownSize : d))
      : shape;
  if (inferred > 1 || sizeOf(resolved) !== x.size || resolved.some((d) => d < 0)) {
    throw new ShapeError(
      `reshape: cannot view ${formatShape(x.shape)} (${x.size} values) as ${formatShape(shape)}`,
    );
  }
  if (sameShape(resolved, x.shape) && !x.requiresGrad) return x;
  const backend = backendOf('reshape', [x], true);
  const y = new Tensor(backend.reshape(x.storage, x.shape, resolved), resolved, x.dtype, backend);
  return record('reshape', y, [x], (dy) => [reshape(dy, x.shape)]);
}

/** Collapses dimensions startDim…endDim into one (PyTorch's flatten; nn.Flatten uses startDim 1). */
export function flatten(x: Tensor, startDim = 0, endDim = -1): Tensor {
  if (x.rank === 0) return reshape(x, [1]);
  const start = normaliseAxis(startDim, x.rank, 'flatten');
  const end = normaliseAxis(endDim, x.rank, 'flatten');
  const merged = sizeOf(x.shape.slice(start, end + 1));
  return reshape(x, [...x.shape.slice(0, start), merged, ...x.shape.slice(end + 1)]);
}

/** Inserts an axis of size 1 at `axis`. */
export function unsqueeze(x: Tensor, axis: number): Tensor {
  const a = normaliseAxis(axis, x.rank + 1, 'unsqueeze');
  return reshape(x, [...x.shape.slice(0, a), 1, ...x.shape.slice(a)]);
}

/** Reorders the axes: output axis i is input axis perm[i]. */
export function permute(x: Tensor, perm: readonly number[]): Tensor {
  const axes = perm.map((p) => normaliseAxis(p, x.rank, 'permute'));
  if (axes.length !== x.rank || new Set(axes).size !== x.rank) {
    throw new ValueError(`permute: [${perm.join(', ')}] is not a permutation of ${x.rank} axes`);
  }
  const backend = backendOf('permute', [x], true);
  const shape = axes.map((a) => x.shape[a]);
  const y = new Tensor(backend.permute(x.storage, x.shape, axes), shape, x.dtype, backend);
  const inverse = new Array<number>(x.rank);
  axes.forEach((a, i) => (inverse[a] = i));
  return record('permute', y, [x], (dy) => [permute(dy, inverse)]);
}

/** Swaps two axes (the last two by default). */
export function transpose(x: Tensor, axis0 = -2, axis1 = -1): Tensor {
  const perm = x.shape.map((_, i) => i);
  const a = normaliseAxis(axis0, x.rank, 'transpose');
  const b = normaliseAxis(axis1, x.rank, 'transpose');
  [perm[a], perm[b]] = [perm[b], perm[a]];
  return permute(x, perm);
}

/** The block starting at `begin` of extent `size` (−1: to the end). */
export function slice(x: Tensor, begin: readonly number[], size: readonly number[]): Tensor {
  const extent = size.map((s, i) => (s === -1 ? x.shape[i] - begin[i] : s));
  if (
    ![...begin, ...extent].every(Number.isSafeInteger) ||
    begin.length !== x.rank ||
    extent.length !== x.rank ||
    extent.some((s, i) => begin[i] < 0 || s < 0 || begin[i] + s > x.shape[i])
  ) {
    throw new ShapeError(
      `slice: begin ${formatShape(begin)} size ${formatShape(size)} is outside ${formatShape(x.shape)}`,
    );
  }
  const backend = backendOf('slice', [x], true);
  const y = new Tensor(backend.slice(x.storage, x.shape, begin, extent), extent, x.dtype, backend);
  const after = x.shape.map((d, i) => d - begin[i] - extent[i]);
  return record('slice', y, [x], (dy) => [pad(dy, begin, after)]);
}

/** Pads every axis with `before[i]` and `after[i]` elements of `value`. */
export function pad(x: Tensor, before: readonly number[], after: readonly number[], value = 0): Tensor {
  if (
    before.length !== x.rank ||
    after.length !== x.rank ||
    [...before, ...after].some((p) => p < 0 || !Number.isInteger(p))
  ) {
    throw new ValueError(
      `pad: before ${formatShape(before)} and after ${formatShape(after)} must be ${x.rank} non-negative integers each`,
    );
  }
  const backend = backendOf('pad', [x], true);
  const shape = x.shape.map((d, i) => d + before[i] + after[i]);
  const y = new Tensor(backend.pad(x.storage, x.shape, before, after, value), shape, x.dtype, backend);
  return record('pad', y, [x], (dy) => [slice(dy, before, x.shape)]);
}

/** Joins tensors along an axis; every other dimension must agree. */
export function concat(xs: readonly Tensor[], axis = 0): Tensor {
  if (xs.length === 0) throw new ValueError('concat: no tensors given');
  const first = xs[0];
  const a = normaliseAxis(axis, first.rank, 'concat');
  for (const t of xs) {
    if (t.dtype !== first.dtype) {
      const shapes = `${first.dtype} ${formatShape(first.shape)} and ${t.dtype} ${formatShape(t.shape)}`;
      throw new ValueError(`concat: cannot join ${shapes}`);
    }
    if (t.rank !== first.rank || t.shape.some((d, i) => i !== a && d !== first.shape[i])) {
      throw new ShapeError(
        `concat along axis ${a}: shapes ${formatShape(first.shape)} and ${formatShape(t.shape)} differ outside that axis`,
      );
    }
  }
  const backend = backendOf('concat', xs, true);
  const shape = first.shape.map((d, i) => (i === a ? xs.reduce((n, t) => n + t.shape[a], 0) : d));
  const storages = xs.map((t) => t.storage);
  const y = new Tensor(
    backend.concat(
      storages,
      xs.map((t) => t.shape),
      a,
    ),
    shape,
    first.dtype,
    backend,
  );
  // The rule reads the shapes now: the caller may reuse its array afterwards (DenseNet grows one list).
  const inputShapes = xs.map((t) => t.shape);
  return record('concat', y, xs, (dy) => {
    let offset = 0;
    return inputShapes.map((inputShape) => {
      const begin = dy.shape.map((_, i) => (i === a ? offset : 0));
      offset += inputShape[a];
      return slice(dy, begin, inputShape);
    });
  });
}

/** Repeats size-1 dimensions (and adds leading ones) to reach `shape`. */
export function broadcastTo(x: Tensor, shape: readonly number[]): Tensor {
  checkShape(shape, 'broadcastTo');
  if (sameShape(x.shape, shape)) return x;
  if (x.rank > shape.length || x.shape.some((d, i) => d !== 1 && d !== shape[shape.length - x.rank + i])) {
    throw new ShapeError(`broadcastTo: ${formatShape(x.shape)} does not broadcast to ${formatShape(shape)}`);
  }
  // The zeros live where x does, which need not be the active backend.
  return add(x, zeros(shape, { dtype: x.dtype, backend: x.backend }));
}
