import { ShapeError, formatShape } from '../../errors.js';
import type { Tensor } from '../../tensor/index.js';

/**
 * Throws a ShapeError unless x has layout's rank and matches its numeric entries, e.g. ['N', 3, 'H', 'W']:
 * "expected input with 3 channels [N, 3, H, W], got [1, 1, 32, 32]". `unit` names what a numeric entry counts.
 */
export function checkInputShape(x: Tensor, layout: readonly (string | number)[], unit = 'channels'): void {
  const expected = `[${layout.join(', ')}]`;
  if (x.rank !== layout.length) {
    throw new ShapeError(`expected a ${layout.length}-D input ${expected}, got ${formatShape(x.shape)}`);
  }
  layout.forEach((entry, axis) => {
    if (typeof entry === 'number' && x.shape[axis] !== entry) {
      throw new ShapeError(`expected input with ${entry} ${unit} ${expected}, got ${formatShape(x.shape)}`);
    }
  });
}

/** [a, b] shown as one number when both agree. */
export function formatPair(value: readonly [number, number]): string {
  return value[0] === value[1] ? `${value[0]}` : `[${value[0]}, ${value[1]}]`;
}
