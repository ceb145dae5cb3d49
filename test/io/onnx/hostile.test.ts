import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_LIMITS, runIsolated } from '../isolated.js';
import { HOSTILE_MODELS } from './hostile.js';

/**
 * Each hostile .onnx model, imported from a file and run once on its small input in a child process with the
 * default budget: a typed error naming the node, the operator, the attribute and the sizes, with the child's peak
 * resident set under the harness's limit (1 GB). Before these checks, the same files ended in V8's fatal "heap out
 * of memory" (no `try` catches it), an untyped RangeError, or gigabytes allocated.
 */
test('hostile .onnx models end in a typed error naming the node and attribute, each under 1 GB', async (t) => {
  for (const [index, hostile] of HOSTILE_MODELS.entries()) {
    const report = await runIsolated({ kind: 'onnx-hostile', model: index });
    assert.deepEqual(report.failures, [], hostile.name);
    const [end] = report.ends;
    assert.equal(end?.outcome, hostile.error, `${hostile.name}: ${end?.message}`);
    assert.match(end.message ?? '', hostile.refusal, hostile.name);
    assert.ok(end.peakRss < DEFAULT_LIMITS.rssBytes, `${hostile.name}: peak ${end.peakRss} bytes`);
    const mib = (bytes = 0) => Math.round(bytes / 2 ** 20);
    t.diagnostic(
      `${hostile.name}: ${report.started[0].size} bytes; peak resident ${mib(end.peakRss)} MiB ` +
        `(${mib(report.started[0].rssBeforeReading)} MiB before reading): ${end.message}`,
    );
  }
});
