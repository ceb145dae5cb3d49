/**
 * Checks the keys of the options objects the public API takes, so that a misspelt option (`num_classes`,
 * `trainable`) is an error naming it instead of a default silently used. Node-free and importing only errors.ts, so
 * every layer may use it.
 */
import { ValueError } from './errors.js';

/**
 * Every key an options type accepts, as `{ key: true }`. Written as an object literal annotated with this type, the
 * compiler keeps the list complete: a key missing from it or not in the type fails to compile.
 */
export type OptionKeys<Options> = { readonly [Key in keyof Required<Options>]: true };

/**
 * Throws a ValueError when `options` is not an object or has a key outside `known`, naming `where` (the function
 * the user called), the key and the nearest known one. Keys whose value is undefined are checked too: `{ sed:
 * undefined }` is as much a typo as `{ sed: 1 }`.
 */
export function checkOptions<Options extends object>(
  where: string,
  options: Options | undefined,
  known: OptionKeys<NoInfer<Options>>,
): void {
  if (options === undefined) return;
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new ValueError(`${where}: options must be an object, not ${describe(options)}`);
  }
  for (const key of Object.keys(options)) {
    if (!Object.hasOwn(known, key))
      throw new ValueError(`${where}: ${unknownOption(key, Object.keys(known))}`);
  }
}

/** "unknown option 'x'" with the nearest of `known` when one is close enough to be a likely typo, else all of them. */
export function unknownOption(key: string, known: readonly string[], noun = 'option'): string {
  const nearest = nearestName(key, known);
  if (nearest !== undefined) return `unknown ${noun} '${key}' (did you mean ${nearest}?)`;
  if (known.length === 0) return `unknown ${noun} '${key}' (it takes none)`;
  return `unknown ${noun} '${key}' (known: ${known.join(', ')})`;
}

/**
 * The name in `candidates` closest to `name` by edit distance, compared without case, '_' or '-' (so `num_classes`
 * finds numClasses), if it is within a third of the name's length (at least 2 edits) or one contains the other.
 */
export function nearestName(name: string, candidates: readonly string[]): string | undefined {
  const plain = (text: string) => text.toLowerCase().replace(/[-_]/g, '');
  const target = plain(name);
  let best: { name: string; distance: number } | undefined;
  for (const candidate of candidates) {
    const other = plain(candidate);
    const contained = target.length >= 3 && (other.includes(target) || target.includes(other));
    const distance = contained ? 0.5 : editDistance(target, other);
    if (best === undefined || distance < best.distance) best = { name: candidate, distance };
  }
  if (best === undefined) return undefined;
  return best.distance <= Math.max(2, Math.floor(target.length / 3)) ? best.name : undefined;
}

/** Levenshtein distance: insertions, deletions and substitutions, one row at a time. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1);
      current.push(Math.min(previous[j] + 1, current[j - 1] + 1, substitution));
    }
    previous = current;
  }
  return previous[b.length];
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return `${typeof value} ${String(value)}`;
}
