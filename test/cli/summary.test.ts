import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { ModelSummaryJSON } from '../../src/analysis/index.js';
import { parseInputShape } from '../../src/cli/summary.js';
import * as models from '../../src/models/index.js';

const main = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

function convnets(...args: string[]): string {
  return execFileSync(process.execPath, [main, ...args], { encoding: 'utf8' });
}

test('convnets summary <model> --json prints the summary as JSON with the registered figures', () => {
  const info = models.info('lenet5');
  const json = JSON.parse(convnets('summary', 'lenet5', '--json')) as ModelSummaryJSON;
  assert.equal(json.totals.parameters, info.parameters);
  assert.equal(json.totals.macs, info.macs);
  assert.deepEqual(json.inputShape, [1, ...info.inputShape]);
});

test('convnets summary --input sets the input; the text names MACs and FLOPs', () => {
  const text = convnets('summary', 'resnet20', '--input', '4,3,32,32');
  assert.match(text, /input \[4, 3, 32, 32\]/);
  assert.match(text, /Total MACs:\s+162,204,160/);
  assert.match(text, /Total FLOPs \(2 × MACs\):\s+324,408,320/);
});

test('convnets summary: a bad model is a one-line error and exit status 1, a bad command line status 2', () => {
  for (const [status, args] of [
    [1, ['nope']],
    [2, ['lenet5', '--bogus']],
    [2, ['lenet5', '--input', '3,2']],
    [2, []],
  ] as const) {
    const result = spawnSync(process.execPath, [main, 'summary', ...args], { encoding: 'utf8' });
    assert.equal(result.status, status, args.join(' '));
    assert.match(result.stderr, /^convnets summary: /);
    assert.doesNotMatch(result.stderr, /\n\s+at /);
  }
});

test('convnets models lists every registered model with its parameters and MACs', () => {
  const text = convnets('models');
  assert.match(text, /Model\s+Family\s+Params\s+MACs/);
  for (const info of models.list()) {
    assert.match(text, new RegExp(`^${info.name}\\s+${info.family}\\s+[\\d,]+\\s+[\\d,]+`, 'm'));
  }
  assert.deepEqual(JSON.parse(convnets('models', '--json')), JSON.parse(JSON.stringify(models.list())));
});

test('parseInputShape reads C,H,W and N,C,H,W', () => {
  assert.deepEqual(parseInputShape('3,224,224'), [3, 224, 224]);
  assert.deepEqual(parseInputShape('8, 3, 32, 32'), [8, 3, 32, 32]);
  assert.throws(() => parseInputShape('3,224'), /C,H,W/);
  assert.throws(() => parseInputShape('3,0,4'), /positive integers/);
});
