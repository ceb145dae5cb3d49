import { getBackend } from '../src/backend/registry.js';

/**
 * Storages made and never released: those live, and those the garbage collector freed unreleased. Whenever the
 * collector runs (the native backend frees an unreachable storage during the collection itself, at whatever
 * allocation starts one), this count stays where the program's releases put it, so a test can hold it exactly.
 */
export function unreleased(backend = getBackend()): number {
  const { storages, collected } = backend.memory();
  return storages + collected;
}
