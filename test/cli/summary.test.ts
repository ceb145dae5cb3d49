import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { ModelSummaryJSON } from '../../src/analysis/index.js';
import { parseInputShape } from '../../src/cli/summary.js';
import * as models from '../../src/models/index.js';
import { assertUsageFailure, cli } from './helpers.js';

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

test("convnets summary --depth 1 lists a network's modules with their shapes, costing everything inside them", () => {
  const text = convnets('summary', 'inception_v4', '--depth', '1');
  assert.match(text, /^stem\s+InceptionStem\s+\[1, 384, 35, 35\]\s+605,728\s+2,289,943,648$/m);
  assert.match(text, /^reduction_b\s+ReductionV4B\s+\[1, 1536, 8, 8\]/m);
  assert.doesNotMatch(text, /^stem\.conv1/m);
  assertUsageFailure(['summary', 'lenet5', '--depth', '0'], /--depth must be an integer ≥ 1, got '0'/);
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

test("summary of a single module: the course's Inception cost, 120,422,400 MACs against 12,443,648, each one command", () => {
  const totalMacs = (args: string[]) => {
    const result = cli(['summary', ...args]);
    assert.equal(result.status, 0, result.stderr);
    return result.stdout.match(/^Total MACs:\s+([\d,]+)/m)?.[1];
  };
  // 28·28·32 outputs × 5·5·192 products.
  assert.equal(totalMacs(['conv2d']), '120,422,400');
  // 28·28·16·192 = 2,408,448 for the 1×1, then 28·28·32·5·5·16 = 10,035,200.
  assert.equal(totalMacs(['conv2d', '--options', '{"bottleneck":16}']), '12,443,648');
  // Inception 3a with the paper's 5×5: 784 · (192·64 + 192·96 + 96·128·9 + 192·16 + 16·32·25 + 192·32).
  assert.equal(totalMacs(['inception-module']), '128,049,152');
  assert.equal(784 * (192 * 64 + 192 * 96 + 96 * 128 * 9 + 192 * 16 + 16 * 32 * 25 + 192 * 32), 128_049_152);
});

test('summary --options passes builder options: resnet18 with 3 classes has a 512·3 + 3 classifier', () => {
  const result = cli(['summary', 'resnet18', '--options', '{"numClasses":3}']);
  assert.equal(result.status, 0, result.stderr);
  assert.match(result.stdout, /^fc\s+Linear\s+\[1, 3\]\s+1,539\s+1,536$/m);
  assertUsageFailure(
    ['summary', 'resnet18', '--options', '{numClasses:3}'],
    /--options '\{numClasses:3\}' is not JSON/,
  );
  assertUsageFailure(
    ['summary', 'conv2d', '--options', '{"bottleneck":0}'],
    /--options: bottleneck must be a positive integer, got 0/,
  );
});
