// The PyTorch fixtures again, on the wasm backend: every layer's forward and gradients (test/pytorch/layers.test.ts)
// and the 200-step training curve (test/pytorch/training.test.ts), imported after selecting 'wasm' so that every
// tensor they make lives in WebAssembly memory. Skipped with one line where dist/wasm/convnets.wasm is not built.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { getBackend, setBackend } from '../../../src/backend/registry.js';
import { skipWasm } from './helpers.js';

if (skipWasm === false) {
  setBackend('wasm');
  await import('../../pytorch/layers.test.js');
  await import('../../pytorch/training.test.js');
  test('the fixtures above ran on the wasm backend', () => assert.equal(getBackend().name, 'wasm'));
} else {
  test('PyTorch fixtures on the wasm backend', { skip: skipWasm }, () => {});
}
