/**
 * Early release of backend storage (DESIGN.md decision 3). Tensors made inside `scope(fn)` are disposed when it
 * returns, except those reachable from its result and those passed to `keep`.
 */
interface Disposable {
  dispose(): void;
}

const stack: Set<Disposable>[] = [];

/** Called by every new tensor. */
export function track(t: Disposable): void {
  stack[stack.length - 1]?.add(t);
}

/** Exempts a tensor from disposal by the scopes it was made in; returns it. */
export function keep<T extends Disposable>(t: T): T {
  for (const tracked of stack) tracked.delete(t);
  return t;
}

export function scope<T>(fn: () => T): T {
  const tracked = new Set<Disposable>();
  stack.push(tracked);
  let result: T;
  try {
    result = fn();
  } finally {
    stack.pop();
  }
  if (result instanceof Promise) {
    throw new TypeError('scope(fn) takes a synchronous function; await inside it would release tensors too early');
  }
  const survivors = new Set<Disposable>();
  collect(result, survivors);
  for (const t of tracked) {
    if (survivors.has(t)) track(t);
    else t.dispose();
  }
  return result;
}

/** Finds the tensors in a result: the value itself, arrays, and plain objects' values. */
function collect(value: unknown, into: Set<Disposable>): void {
  if (value === null || typeof value !== 'object') return;
  if (typeof (value as Disposable).dispose === 'function') {
    into.add(value as Disposable);
    return;
  }
  if (Array.isArray(value)) value.forEach((v) => collect(v, into));
  else if (Object.getPrototypeOf(value) === Object.prototype) Object.values(value).forEach((v) => collect(v, into));
}
