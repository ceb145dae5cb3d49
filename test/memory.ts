import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { getBackend } from '../src/backend/registry.js';

// A gc() function without starting node with --expose-gc.
setFlagsFromString('--expose-gc');
export const gc = runInNewContext('gc') as () => void;

/**
 * Collects what earlier tests left to the garbage collector, and lets the finalizers release their native storages
 * (some run in a later turn of the event loop), so that a count of live storages taken next holds only live ones.
 */
export async function collectGarbage(): Promise<void> {
  for (let i = 0; i < 2; i++) {
    gc();
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/**
 * Storages made and never released: those live, and those the garbage collector freed unreleased. Whenever the
 * collector runs (the native backend frees an unreachable storage during the collection itself, at whatever
 * allocation starts one), this count stays where the program's releases put it, so a test can hold it exactly.
 */
export function unreleased(backend = getBackend()): number {
  const { storages, collected } = backend.memory();
  return storages + collected;
}
