// The PyTorch fixtures again, on the native backend: every layer's forward and gradients (test/pytorch/layers.test.ts)
// and the 200-step training curve (test/pytorch/training.test.ts), imported after selecting 'native' so that every
// tensor they make lives in oneDNN memory. The rest of the suite runs on the reference backend (see the Makefile).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { getBackend, setBackend } from '../../../src/backend/registry.js';
import { skipNative } from './helpers.js';

// One thread unless told otherwise: these long loops test values and memory, not parallelism (the kernel tests run
// on every core), and on a loaded machine two OpenMP threads wait on each other at every barrier.
process.env.CONVNETS_THREADS ??= '1';

if (skipNative === false) {
  setBackend('native');
  await import('../../pytorch/layers.test.js');
  await import('../../pytorch/training.test.js');
  test('the fixtures above ran on the native backend', () => assert.equal(getBackend().name, 'native'));
} else {
  test('PyTorch fixtures on the native backend', { skip: skipNative }, () => {});
}
