/**
 * Backends by name. The core registers the ones written in plain TypeScript (reference, meta); an entry point adds
 * the rest when it loads: `convnets` (src/index.ts) registers the native backend, so nothing here imports Node.
 */
import type { Backend } from './backend.js';
import { MetaBackend } from './meta.js';
import { ReferenceBackend } from './reference/index.js';
import { ValueError } from '../errors.js';

export interface BackendProvider {
  create(): Backend;
  /**
   * Given by a backend that is the default wherever it can run (native, once its addon loads): null when it can
   * run in this process, else why not. Backends without it are chosen by name only.
   */
  unavailableReason?(): string | null;
}

const providers = new Map<string, BackendProvider>([
  ['reference', { create: () => new ReferenceBackend() }],
  ['meta', { create: () => new MetaBackend() }],
]);

/** Adds (or replaces) a backend; getBackend() prefers one with `unavailableReason` wherever it can run. */
export function registerBackend(name: string, provider: BackendProvider): void {
  providers.set(name, provider);
}

let active: Backend | null = null;

/** Node's environment; none in a browser. */
function environment(name: string): string | undefined {
  return typeof process === 'undefined' ? undefined : process.env[name];
}

/** The backend every new tensor uses: `CONVNETS_BACKEND` picks it, or the fastest one that can run here. */
export function getBackend(): Backend {
  if (active === null) active = createBackend(environment('CONVNETS_BACKEND') ?? defaultBackendName());
  return active;
}

/** The first backend with `unavailableReason` that can run here, else reference, saying on stderr why not. */
function defaultBackendName(): string {
  const unavailable: string[] = [];
  for (const [name, provider] of providers) {
    const reason = provider.unavailableReason?.();
    if (reason === null) return name;
    if (reason !== undefined) unavailable.push(`${name} backend unavailable (${reason})`);
  }
  for (const line of unavailable) console.warn(`convnets: ${line}; using the reference backend`);
  return 'reference';
}

/** The backends that are the default wherever they can run (native under `convnets`), and why each cannot here. */
export function preferredBackends(): { name: string; unavailableReason: string | null }[] {
  return [...providers]
    .filter(([, provider]) => provider.unavailableReason !== undefined)
    .map(([name, provider]) => ({ name, unavailableReason: provider.unavailableReason!() }));
}

/** Makes the named backend the one new tensors use; an error says why it cannot run here. */
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

/** Names of the registered backends, whether or not they can run here. */
export function backendNames(): string[] {
  return [...providers.keys()];
}

function createBackend(name: string): Backend {
  const provider = providers.get(name);
  if (provider === undefined) {
    throw new ValueError(`unknown backend '${name}'; available: ${backendNames().join(', ')}`);
  }
  return provider.create();
}
