// What the model tests share: a trace of module calls with their shapes and multiply-accumulates, state_dict
// listings, gradient and error checks, and small statistics.
import assert from 'node:assert/strict';
import { ConvnetsError } from '../../src/errors.js';
import { observeCalls, type Module } from '../../src/nn/index.js';
import type { Tensor } from '../../src/tensor/index.js';
import { loadFixture } from '../pytorch/helpers.js';

/** One Module.call made during a trace. */
export interface Call {
  /** torchvision's dotted path from the outermost module called ('' for that one). */
  path: string;
  type: string;
  input: readonly number[];
  output: readonly number[];
  /** What module.macs() reports for these shapes. */
  macs: number;
}

export interface Trace<T> {
  /** Every call, children before their parent (the order they return in). */
  calls: Call[];
  /** Multiply-accumulates of all the calls together. */
  macs: number;
  result: T;
}

/**
 * Runs `run` and records every Module.call it makes (through observeCalls, the hook summary() uses), with the
 * multiply-accumulates each module reports for the shapes it saw. Unlike summary() it runs on real values, so
 * `result` can be checked and back-propagated; on the meta backend it counts at no cost.
 */
export function traceCalls<T>(run: () => T): Trace<T> {
  const calls: Call[] = [];
  const stop = observeCalls(({ module, path, input, output }) => {
    calls.push({
      path,
      type: module.typeName,
      input: input.shape,
      output: output.shape,
      macs: module.macs(input.shape, output.shape),
    });
  });
  try {
    const result = run();
    return { calls, macs: calls.reduce((n, c) => n + c.macs, 0), result };
  } finally {
    stop();
  }
}

/** Output shape of the call at `path`; fails when that module did not run. */
export function outputOf(calls: readonly Call[], path: string): readonly number[] {
  const call = calls.find((c) => c.path === path);
  assert.ok(call !== undefined, `no call to '${path}'`);
  return call.output;
}

export type KeysAndShapes = [string, number[]][];

/** [key, shape] pairs of a state_dict, in order, as the fixtures list them. */
export function keysAndShapes(model: Module): KeysAndShapes {
  return [...model.stateDict()].map(([key, t]) => [key, [...t.shape]]);
}

/** A model's figures in test/fixtures/model-keys-classic.json (scripts/fixtures/model_keys_classic.py). */
export interface ClassicFigures {
  parameters: number;
  macs: number;
  stateDict: KeysAndShapes;
}

export function classicFixture(): Record<string, ClassicFigures> {
  return loadFixture<Record<string, ClassicFigures>>('model-keys-classic.json');
}

/** Parameters of each direct child holding any, e.g. { c1: 156, s2: 12 }. */
export function parametersByChild(model: Module): Record<string, number> {
  return Object.fromEntries(
    model
      .namedChildren()
      .map(([name, child]): [string, number] => [name, child.numParameters()])
      .filter(([, n]) => n > 0),
  );
}

/**
 * Names of parameters whose gradient is missing, misshapen, not finite, or all zero: every parameter, or those
 * named (a name the model lacks counts as missing).
 */
export function parametersWithoutGradient(model: Module, names?: readonly string[]): string[] {
  const parameters =
    names?.map((name) => [name, model.getParameter(name)] as const) ?? model.namedParameters();
  return parameters.flatMap(([name, p]) => {
    const grad = p?.grad ?? null;
    if (p === null || grad === null || grad.shape.join() !== p.shape.join()) return [name];
    const values = grad.data();
    return values.every(Number.isFinite) && values.some((v) => v !== 0) ? [] : [name];
  });
}

type ErrorClass = abstract new (...args: never[]) => ConvnetsError;

/** Asserts that run() throws `type` (any ConvnetsError by default) at the layer `path`, its message matching. */
export function assertFailsAt(
  run: () => unknown,
  path: string,
  pattern: RegExp,
  type: ErrorClass = ConvnetsError,
): void {
  assert.throws(run, (error: unknown) => {
    assert.ok(error instanceof type, `expected a ${type.name}, got ${String(error)}`);
    assert.equal(error.layerPath, path, error.message);
    assert.match(error.message, pattern);
    return true;
  });
}

/** A value built on first use and dropped by release(), so a file of big models holds one at a time. */
export function lazy<T>(build: () => T): { get: () => T; release: () => void } {
  let value: T | undefined;
  return {
    get: () => (value ??= build()),
    release: () => {
      value = undefined;
    },
  };
}

/** Bitwise equality of two tensors' values (assert.deepEqual walks millions of elements one by one). */
export function sameValues(a: Float32Array | Int32Array, b: Float32Array | Int32Array): boolean {
  const bytes = (t: Float32Array | Int32Array): Buffer => Buffer.from(t.buffer, t.byteOffset, t.byteLength);
  return a.constructor === b.constructor && bytes(a).equals(bytes(b));
}

/** Whether t exists and every value of it is `value` (a constant initialiser's result). */
export function filledWith(t: Tensor | null, value: number): boolean {
  return t !== null && t.data().every((v) => v === value);
}

/** Sample mean and (population) standard deviation, for checking an initialiser's draws. */
export function meanAndStd(values: ArrayLike<number>): { mean: number; std: number } {
  const v = Array.from(values);
  const mean = v.reduce((a, b) => a + b, 0) / v.length;
  return { mean, std: Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / v.length) };
}

/** √(mean of squares): the standard deviation of draws whose mean is known to be 0. */
export function rootMeanSquare(values: ArrayLike<number>): number {
  let squares = 0;
  for (let i = 0; i < values.length; i++) squares += values[i] * values[i];
  return Math.sqrt(squares / values.length);
}
