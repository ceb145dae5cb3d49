import type { Storage } from '../../backend/backend.js';
import { ValueError, formatShape } from '../../errors.js';
import type { Tensor } from '../tensor.js';

/**
 * For each labels storage checked, one more than its largest label: checked once and not read again, since a
 * recorded training step (train/step-replay.ts) may read no value. Storages never change their values.
 */
const bounds = new WeakMap<Storage, number>();

/** Labels must be 1-D int32 class indices in [0, numClasses); `op` names the caller in the error. */
export function checkLabels(op: string, labels: Tensor, numClasses: number): void {
  if (labels.dtype !== 'int32' || labels.rank !== 1) {
    throw new ValueError(
      `${op}: labels must be a 1-D int32 tensor of class indices, ` +
        `got ${labels.dtype} ${formatShape(labels.shape)}`,
    );
  }
  const known = bounds.get(labels.storage);
  if (known !== undefined && known <= numClasses) return;
  const values = labels.data();
  const bad = values.findIndex((v) => v < 0 || v >= numClasses);
  if (bad >= 0) {
    throw new ValueError(`${op}: label ${values[bad]} at index ${bad} is outside [0, ${numClasses})`);
  }
  let bound = 0;
  for (const v of values) bound = Math.max(bound, v + 1);
  bounds.set(labels.storage, bound);
}
