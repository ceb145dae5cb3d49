import type { Backend } from './backend.js';
import { ReferenceBackend } from './reference/index.js';
import { ValueError } from '../errors.js';

const factories: Record<string, () => Backend> = {
  reference: () => new ReferenceBackend(),
};

let active: Backend | null = null;

/** The backend every new tensor uses: `CONVNETS_BACKEND` picks it, or the fastest one that loads. */
export function getBackend(): Backend {
  if (active === null) active = createBackend(process.env.CONVNETS_BACKEND ?? 'reference');
  return active;
}

export function setBackend(name: string): Backend {
  active = createBackend(name);
  return active;
}

export function backendNames(): string[] {
  return Object.keys(factories);
}

function createBackend(name: string): Backend {
  const factory = factories[name];
  if (factory === undefined) {
    throw new ValueError(`unknown backend '${name}'; available: ${backendNames().join(', ')}`);
  }
  return factory();
}
