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

/** What each open scope made, innermost last. */
const stack: Set<Disposable>[] = [];
/** The entries of `stack` that module calls opened (callScope), as opposed to a caller's scope(). */
const callScopes = new WeakSet<Set<Disposable>>();
/**
 * Tensors a module call made and did not return, kept because its recorded graph reads them: nothing but that graph
 * can hold them, so backward() may release each once its last rule has read it (isInternal).
 */
const internal = new WeakSet<Disposable>();

/** Whether only the recorded graph holds t: made inside a module call (callScope) that did not return it. */
export function isInternal(t: Disposable): boolean {
  return internal.has(t);
}

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

/**
 * A module call's scope: when fn's result has no recorded graph (the call ran under noGrad, or on frozen weights and
 * an input needing no gradient), everything else fn made is released as it returns, as PyTorch frees what nothing
 * references any more; otherwise all of it goes on to the enclosing scope, as if this one were not there. Only for
 * code that stores no tensor it makes anywhere but in its result.
 */
export function callScope<T extends Disposable>(fn: () => T): T {
  const tracked = new Set<Disposable>();
  callScopes.add(tracked);
  stack.push(tracked);
  let result: T;
  try {
    result = fn();
  } catch (error) {
    for (const t of tracked) t.dispose();
    throw error;
  } finally {
    stack.pop();
  }
  const releaseRest = result.node === null || result.node === undefined;
  for (const t of tracked) {
    if (t !== result && releaseRest) t.dispose();
    else {
      if (t !== result) internal.add(t);
      track(t);
    }
  }
  return result;
}

/**
 * Runs fn with what it makes tracked by the innermost scope a caller opened, outside every module call's scope:
 * for code that may keep a tensor it makes (a forward hook's capture, a layer storing an activation), which a
 * callScope around it must not release.
 */
export function outsideCallScopes<T>(fn: () => T): T {
  if (stack.length === 0 || !callScopes.has(stack[stack.length - 1])) return fn();
  const callers = stack.filter((tracked) => !callScopes.has(tracked));
  // No scope of a caller's: what fn makes is left to garbage collection, as it would be without module calls.
  stack.push(callers[callers.length - 1] ?? new Set());
  try {
    return fn();
  } finally {
    stack.pop();
  }
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
