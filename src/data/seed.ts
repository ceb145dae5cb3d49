/**
 * Seeds derived from (seed, epoch, index) by hashing, so every sample's augmentation and every epoch's order
 * are fixed by the loader's seed alone, whichever worker computes them and in whatever order.
 */
import { ValueError } from '../errors.js';
import { Generator } from '../tensor/random.js';

/** murmur3's 32-bit finaliser over a running hash: a cheap mix with full avalanche. */
function mix(hash: number, value: number): number {
  let h = Math.imul(hash ^ (value >>> 0), 0x9e3779b1);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

export function checkSeed(seed: number, what: string): number {
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
    throw new ValueError(`${what}: seed must be an integer in 0..2^32-1, got ${seed}`);
  }
  return seed;
}

/** Derives a 32-bit seed from integers (each taken modulo 2^32). */
export function deriveSeed(...values: number[]): number {
  let hash = 0x2545f491;
  for (const value of values) hash = mix(hash, value);
  return mix(hash, values.length);
}

const SAMPLE = 1;
const SHUFFLE = 2;

/** The generator a sample's transform draws from. */
export function sampleGenerator(seed: number, epoch: number, index: number): Generator {
  return new Generator(deriveSeed(SAMPLE, seed, epoch, index));
}

/** The generator that shuffles an epoch. */
export function shuffleGenerator(seed: number, epoch: number): Generator {
  return new Generator(deriveSeed(SHUFFLE, seed, epoch));
}
