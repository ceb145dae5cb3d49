import type { Backend } from './backend.js';
import { MetaBackend } from './meta.js';
import { NativeBackend } from './native/index.js';
import { nativeUnavailableReason } from './native/addon.js';
import { ReferenceBackend } from './reference/index.js';
import { ValueError } from '../errors.js';

const factories: Record<string, () => Backend> = {
  reference: () => new ReferenceBackend(),
  meta: () => new MetaBackend(),
  native: () => new NativeBackend(),
};

let active: Backend | null = null;

/** The backend every new tensor uses: `CONVNETS_BACKEND` picks it, or the fastest one that loads. */
export function getBackend(): Backend {
  if (active === null) active = createBackend(process.env.CONVNETS_BACKEND ?? defaultBackendName());
  return active;
}

/** native when the oneDNN addon loads, else reference, saying once on stderr why. */
function defaultBackendName(): string {
  const reason = nativeUnavailableReason();
  if (reason === null) return 'native';
  process.stderr.write(`convnets: native backend unavailable (${reason}); using the reference backend\n`);
  return 'reference';
}

export function setBackend(name: string): Backend {
  active = createBackend(name);
  return active;
}

/** One instance per name for withBackend, so that tensors made in two of its calls share a backend. */
const borrowed = new Map<string, Backend>();

/**
 * Runs fn with another backend active (by name, or an instance), restoring the previous one afterwards, also
 * when fn throws: `withBackend('meta', () => models.get('vgg16'))` builds a model of shapes only. fn must be
 * synchronous: the previous backend is back as soon as fn returns.
 */
export function withBackend<T>(backend: string | Backend, fn: () => T): T {
  const previous = getBackend();
  let next: Backend;
  if (typeof backend !== 'string') next = backend;
  else if (previous.name === backend) next = previous;
  else {
    next = borrowed.get(backend) ?? createBackend(backend);
    borrowed.set(backend, next);
  }
  active = next;
  try {
    return fn();
  } finally {
    active = previous;
  }
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
