import { ValueError } from '../errors.js';

export interface Bounds {
  /** Inclusive lower bound. */
  min?: number;
  /** Exclusive lower bound. */
  above?: number;
  /** Inclusive upper bound. */
  max?: number;
  /** Exclusive upper bound. */
  below?: number;
  integer?: boolean;
}

function describe(bounds: Bounds): string {
  const parts: string[] = [];
  if (bounds.min !== undefined) parts.push(`>= ${bounds.min}`);
  if (bounds.above !== undefined) parts.push(`> ${bounds.above}`);
  if (bounds.max !== undefined) parts.push(`<= ${bounds.max}`);
  if (bounds.below !== undefined) parts.push(`< ${bounds.below}`);
  return `${bounds.integer ? 'an integer' : 'a finite number'}${parts.length > 0 ? ` ${parts.join(' and ')}` : ''}`;
}

function show(value: unknown): string {
  return Array.isArray(value)
    ? `[${value.map(show).join(', ')}]`
    : typeof value === 'string'
      ? `'${value}'`
      : String(value);
}

/** Returns `value` when it is a number within bounds; otherwise throws a ValueError naming owner, option and value. */
export function checkNumber(owner: string, option: string, value: unknown, bounds: Bounds = {}): number {
  const ok =
    typeof value === 'number' &&
    Number.isFinite(value) &&
    (!bounds.integer || Number.isInteger(value)) &&
    (bounds.min === undefined || value >= bounds.min) &&
    (bounds.above === undefined || value > bounds.above) &&
    (bounds.max === undefined || value <= bounds.max) &&
    (bounds.below === undefined || value < bounds.below);
  if (!ok) throw new ValueError(`${owner}: ${option} must be ${describe(bounds)}, got ${show(value)}`);
  return value as number;
}

export function checkBoolean(owner: string, option: string, value: unknown): boolean {
  if (typeof value !== 'boolean')
    throw new ValueError(`${owner}: ${option} must be true or false, got ${show(value)}`);
  return value;
}

export function checkChoice<T extends string>(
  owner: string,
  option: string,
  value: unknown,
  choices: readonly T[],
): T {
  if (!choices.includes(value as T)) {
    throw new ValueError(
      `${owner}: ${option} must be one of ${choices.map(show).join(', ')}, got ${show(value)}`,
    );
  }
  return value as T;
}
