// Every layer against PyTorch: forward output and the gradients of sum(output · r) for a fixed random r, from
// test/fixtures/layers.json (written by scripts/fixtures/layers.py with Debian's PyTorch).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  Tensor,
  adaptiveAvgPool2d,
  avgPool2d,
  batchNorm,
  conv2d,
  crossEntropy,
  interpolate,
  linear,
  localResponseNorm,
  logSoftmax,
  maxPool2d,
  mseLoss,
  mul,
  relu,
  scaledTanh,
  sigmoid,
  softmax,
  sum,
  tanh,
  tensor,
} from '../../src/tensor/index.js';
import type { ResizeMode } from '../../src/backend/backend.js';
import type { Conv2dOptions, Pair, Padding, Pool2dOptions } from '../../src/tensor/index.js';
import { type FixtureArray, loadFixture, mismatch } from './helpers.js';

/** Relative tolerance as defined in helpers.ts: |a − b| ≤ 1e-4 · max(1, |b|), elementwise. */
const TOLERANCE = 1e-4;

type Attrs = Record<string, unknown>;

interface LayerCase {
  name: string;
  op: string;
  attrs: Attrs;
  inputs: Record<string, FixtureArray>;
  requiresGrad: string[];
  r: FixtureArray;
  output: FixtureArray;
  grads: Record<string, FixtureArray>;
  state?: Record<string, FixtureArray>;
}

const fixture = loadFixture<{ torch: string; cases: LayerCase[] }>('layers.json');

/** JSON gives pairs as arrays; convnets takes a number or a readonly [a, b]. */
function pairOf(value: unknown): Pair {
  if (typeof value === 'number') return value;
  const [a, b] = value as number[];
  return [a, b];
}

function paddingOf(value: unknown): Padding {
  return value === 'same' || value === 'valid' ? value : pairOf(value);
}

function number(attrs: Attrs, key: string): number {
  const value = attrs[key];
  assert.equal(typeof value, 'number', `attribute ${key}`);
  return value as number;
}

/** The convnets computation for one case, from tensors named as in the fixture. */
function run(c: LayerCase, t: Record<string, Tensor>): Tensor {
  const a = c.attrs;
  switch (c.op) {
    case 'conv2d': {
      const options: Conv2dOptions = {
        stride: pairOf(a.stride),
        padding: paddingOf(a.padding),
        dilation: pairOf(a.dilation),
        groups: number(a, 'groups'),
      };
      return conv2d(t.x, t.weight, t.bias ?? null, options);
    }
    case 'maxPool2d':
    case 'avgPool2d': {
      const options: Pool2dOptions = { padding: pairOf(a.padding), ceilMode: a.ceilMode as boolean };
      if (a.stride !== undefined) options.stride = pairOf(a.stride);
      if (a.countIncludePad !== undefined) options.countIncludePad = a.countIncludePad as boolean;
      return (c.op === 'maxPool2d' ? maxPool2d : avgPool2d)(t.x, pairOf(a.kernel), options);
    }
    case 'adaptiveAvgPool2d':
      return adaptiveAvgPool2d(t.x, pairOf(a.outputSize));
    case 'interpolate':
      return interpolate(t.x, { size: pairOf(a.size), mode: a.mode as ResizeMode });
    case 'localResponseNorm':
      return localResponseNorm(t.x, number(a, 'size'), {
        alpha: number(a, 'alpha'),
        beta: number(a, 'beta'),
        k: number(a, 'k'),
      });
    case 'batchNorm':
      return batchNorm(t.x, t.weight, t.bias, t.runningMean, t.runningVar, {
        training: a.training as boolean,
        momentum: number(a, 'momentum'),
        eps: number(a, 'eps'),
      });
    case 'linear':
      return linear(t.x, t.weight, t.bias ?? null);
    case 'relu':
      return relu(t.x);
    case 'sigmoid':
      return sigmoid(t.x);
    case 'tanh':
      return tanh(t.x);
    case 'scaledTanh':
      return scaledTanh(t.x);
    case 'softmax':
      return softmax(t.x, number(a, 'axis'));
    case 'logSoftmax':
      return logSoftmax(t.x, number(a, 'axis'));
    case 'crossEntropy':
      return crossEntropy(t.logits, t.labels, { labelSmoothing: number(a, 'labelSmoothing') });
    case 'mseLoss':
      return mseLoss(t.prediction, t.target);
    default:
      throw new Error(`no convnets computation for fixture op '${c.op}'`);
  }
}

function check(what: string, actual: Tensor | null, expected: FixtureArray): void {
  assert.ok(actual !== null, `${what}: convnets computed no value`);
  const message = mismatch(actual.data(), actual.shape, expected, TOLERANCE);
  assert.equal(message, null, `${what}: ${message}`);
}

test('the fixture covers every op the test knows', () => {
  const ops = new Set(fixture.cases.map((c) => c.op));
  for (const op of [
    'conv2d',
    'maxPool2d',
    'avgPool2d',
    'adaptiveAvgPool2d',
    'interpolate',
    'localResponseNorm',
    'batchNorm',
    'linear',
  ]) {
    assert.ok(ops.has(op), `layers.json has no ${op} case`);
  }
  assert.ok(fixture.cases.length >= 50, `only ${fixture.cases.length} cases`);
});

for (const c of fixture.cases) {
  test(`${c.op}: ${c.name} matches PyTorch ${fixture.torch}`, () => {
    const t: Record<string, Tensor> = {};
    for (const [key, value] of Object.entries(c.inputs)) {
      t[key] = tensor(value.dtype === 'int32' ? Int32Array.from(value.data) : value.data, value.shape, {
        requiresGrad: c.requiresGrad.includes(key),
      });
    }
    const output = run(c, t);
    check(`${c.name}: output`, output, c.output);
    sum(mul(output, tensor(c.r.data, c.r.shape))).backward();
    for (const key of c.requiresGrad) check(`${c.name}: gradient of ${key}`, t[key].grad, c.grads[key]);
    for (const [key, expected] of Object.entries(c.state ?? {}))
      check(`${c.name}: ${key} after the step`, t[key], expected);
    // Guard against a fixture that silently lost its gradients.
    assert.equal(Object.keys(c.grads).length, c.requiresGrad.length, `${c.name}: fixture gradients`);
  });
}
