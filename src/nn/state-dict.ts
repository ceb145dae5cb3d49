import { ShapeError, ValueError, formatShape } from '../errors.js';
import { noGrad, tensor, type Tensor } from '../tensor/index.js';

/** Parameters and buffers by torchvision's dotted keys ('layer1.0.bn1.running_mean'). */
export type StateDict = Map<string, Tensor>;

/** How loadStateDict matches keys. */
export interface LoadStateDictOptions {
  /** Require the keys to match exactly (default true); shapes must match either way. */
  strict?: boolean;
  /** Keys of the model the state dict may leave out even when strict (they keep their values). */
  optional?: (key: string) => boolean;
}

/** The keys loadStateDict found missing from the state and unexpected in it (empty when strict). */
export interface LoadStateDictResult {
  missingKeys: string[];
  unexpectedKeys: string[];
}

/** Keys named in a message; a model of another architecture mismatches in thousands, which a line cannot hold. */
const KEYS_SHOWN = 3;

/** "2 missing keys ('a', 'b')", or "62 missing keys ('a', 'b', 'c', and 59 more)". */
function countKeys(keys: readonly string[], what: string): string {
  const shown = keys.slice(0, KEYS_SHOWN).map((k) => `'${k}'`);
  if (keys.length > KEYS_SHOWN) shown.push(`and ${keys.length - KEYS_SHOWN} more`);
  return `${keys.length} ${what} key${keys.length === 1 ? '' : 's'} (${shown.join(', ')})`;
}

/** What keeps a load from matching, for a message: "2 missing keys ('a', 'b'); 1 unexpected key ('c')", or ''. */
export function keyMismatch({ missingKeys, unexpectedKeys }: LoadStateDictResult): string {
  return [
    ...(missingKeys.length > 0 ? [countKeys(missingKeys, 'missing')] : []),
    ...(unexpectedKeys.length > 0 ? [countKeys(unexpectedKeys, 'unexpected')] : []),
  ].join('; ');
}

/** A copy of source's values with target's dtype, so assign can take it over without touching source. */
function copyFor(target: Tensor, source: Tensor): Tensor {
  if (source.dtype === target.dtype && source.backend === target.backend) return source.detach();
  // PyTorch saves num_batches_tracked as int64; importers may hand it over as float32.
  return tensor(source.data(), source.shape, { dtype: target.dtype });
}

/**
 * Checks every key and shape first and copies nothing unless all pass, so a failed load leaves the model as it was.
 * Values go in with assign, keeping each target tensor's identity.
 */
export function loadStateDictInto(
  target: StateDict,
  state: StateDict | Record<string, Tensor>,
  options: LoadStateDictOptions,
): LoadStateDictResult {
  const source = state instanceof Map ? state : new Map(Object.entries(state));
  const optional = options.optional ?? (() => false);
  const missingKeys = [...target.keys()].filter((k) => !source.has(k) && !optional(k));
  const unexpectedKeys = [...source.keys()].filter((k) => !target.has(k));
  const mismatches: string[] = [];
  for (const [key, to] of target) {
    const from = source.get(key);
    if (from !== undefined && from.shape.join() !== to.shape.join()) {
      mismatches.push(
        `'${key}' is ${formatShape(from.shape)} in the state dict but ${formatShape(to.shape)} in the model`,
      );
    }
  }
  if (mismatches.length > 0) throw new ShapeError(`loadStateDict: size mismatch: ${mismatches.join('; ')}`);
  const mismatch = keyMismatch({ missingKeys, unexpectedKeys });
  if ((options.strict ?? true) && mismatch !== '') {
    throw new ValueError(`loadStateDict: ${mismatch} (pass { strict: false } to load the keys that match)`);
  }
  noGrad(() => {
    for (const [key, to] of target) {
      const from = source.get(key);
      if (from !== undefined && from !== to) to.assign(copyFor(to, from));
    }
  });
  return { missingKeys, unexpectedKeys };
}
