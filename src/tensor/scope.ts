/**
 * Early release of backend storage (DESIGN.md decision 3). Tensors made inside `scope(fn)` are disposed when it
 * returns, except those reachable from its result (with the recorded graph behind them, so that backward()
 * can still run after the scope) and those passed to `keep`.
 */
import type { GradNode } from './tensor.js';

interface Disposable {
  dispose(): void;
  readonly node?: GradNode | null;
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

/** Runs fn and releases every tensor made inside it at once, except those it returns or keep() marks. */
export function scope<T>(fn: () => T): T {
  const tracked = new Set<Disposable>();
  stack.push(tracked);
  let result: T;
  try {
    result = fn();
  } catch (error) {
    // Nothing survives a throw: release everything the scope made, as when it returns nothing.
    for (const t of tracked) t.dispose();
    throw error;
  } finally {
    stack.pop();
  }
  if (result instanceof Promise) {
    throw new TypeError(
      'scope(fn) takes a synchronous function; await inside it would release tensors too early',
    );
  }
  const survivors = new Set<Disposable>();
  collect(result, survivors);
  addGraphs(survivors);
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
  else if (Object.getPrototypeOf(value) === Object.prototype)
    Object.values(value).forEach((v) => collect(v, into));
}

/** Adds every tensor the survivors' recorded graphs reach: the inputs and saved tensors of their nodes. */
function addGraphs(survivors: Set<Disposable>): void {
  const pending = [...survivors];
  while (pending.length > 0) {
    const node = pending.pop()!.node;
    if (node === null || node === undefined) continue;
    for (const t of [...node.inputs, ...node.saved]) {
      if (survivors.has(t)) continue;
      survivors.add(t);
      pending.push(t);
    }
  }
}
