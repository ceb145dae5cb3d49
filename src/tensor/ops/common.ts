import type { Backend, Shape, Storage } from '../../backend/backend.js';
import { BackendError, ValueError, formatShape } from '../../errors.js';
import { Tensor } from '../tensor.js';

/** The backend all inputs share; float32 is required unless `allowInt`. */
export function backendOf(op: string, inputs: readonly Tensor[], allowInt = false): Backend {
  const backend = inputs[0].backend;
  for (const t of inputs) {
    if (t.backend !== backend) throw new BackendError(`${op}: inputs live on different backends`);
    if (!allowInt && t.dtype !== 'float32') {
      throw new ValueError(`${op}: expected float32 input, got ${t.dtype} ${formatShape(t.shape)}`);
    }
  }
  return backend;
}

export function wrap(storage: Storage, shape: Shape, backend: Backend): Tensor {
  return new Tensor(storage, shape, 'float32', backend);
}

/** Normalises a possibly negative axis against a rank. */
export function normaliseAxis(axis: number, rank: number, op: string): number {
  const a = axis < 0 ? axis + rank : axis;
  if (!Number.isInteger(a) || a < 0 || a >= rank) {
    throw new ValueError(`${op}: axis ${axis} is out of range for rank ${rank}`);
  }
  return a;
}

/** [v, v] for a number, the pair itself for a pair. */
export function pair(value: number | readonly [number, number]): [number, number] {
  return typeof value === 'number' ? [value, value] : [value[0], value[1]];
}
