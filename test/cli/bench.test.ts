import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as convnets from '../../src/index.js';
import { withBackend } from '../../src/backend/registry.js';
import { BENCH_MODELS, BENCH_WORKLOADS, benchScript } from '../../src/cli/bench.js';
import type { Module } from '../../src/nn/index.js';
import { assertOneLineFailure, assertUsageFailure, cli, withTempDir } from './helpers.js';

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
const distSrc = join(repoRoot, 'dist', 'src');

/** The package as npm installs it: package.json and dist/src, no bench/ (package.json "files"). */
async function installedPackage(dir: string): Promise<string> {
  await writeFile(join(dir, 'package.json'), JSON.stringify({ name: 'convnets', type: 'module' }));
  await cp(distSrc, join(dir, 'dist', 'src'), { recursive: true, filter: (path) => !path.endsWith('.map') });
  return join(dir, 'dist', 'src', 'cli', 'main.js');
}

test('bench runs bench/bench.mjs of the checkout it was built in', () => {
  assert.equal(benchScript(), join(repoRoot, 'bench', 'bench.mjs'));
  assert.ok(existsSync(benchScript()));
});

test('bench from an installed package, where bench/ is absent, says so in one line', async () => {
  await withTempDir(async (dir) => {
    const main = await installedPackage(dir);
    assertOneLineFailure(
      ['bench', '--only', 'conv'],
      new RegExp(`no benchmark at ${join(dir, 'bench', 'bench.mjs')}: bench/ ships with the repository`),
      main,
    );
  });
});

test('bench hands its options to the benchmark as make bench does, and returns its exit status', async () => {
  await withTempDir(async (dir) => {
    const main = await installedPackage(dir);
    // A stand-in benchmark that prints what it was given: the real one is never run by the tests.
    await mkdir(join(dir, 'bench'));
    await writeFile(
      join(dir, 'bench', 'bench.mjs'),
      'console.log(JSON.stringify(process.argv.slice(2)));\nprocess.exitCode = 3;\n',
    );
    const all = cli(
      [
        'bench',
        '--threads',
        '1',
        '--seconds',
        '0.5',
        '--only',
        'conv,train224',
        '--models',
        'resnet18',
        '--train-size',
        '64',
        '--train-batch',
        '2',
        '--json',
      ],
      main,
    );
    assert.equal(all.status, 3, all.stderr);
    assert.deepEqual(JSON.parse(all.stdout), [
      '--threads',
      '1',
      '--seconds',
      '0.5',
      '--only',
      'conv,train224',
      '--models',
      'resnet18',
      '--train-size',
      '64',
      '--train-batch',
      '2',
      '--json',
    ]);
    const none = cli(['bench'], main);
    assert.equal(none.status, 3, none.stderr);
    assert.deepEqual(JSON.parse(none.stdout), []);
  });
});

test('bench: a wrong option value is one line, before anything runs', () => {
  assertUsageFailure(['bench', '--threads', '0'], /--threads must be an integer ≥ 1, got '0'$/);
  assertUsageFailure(['bench', '--threads', '100000'], /--threads must be at most \d+ \(the cores/);
  for (const seconds of ['0', '-1', 'soon'])
    assertUsageFailure(
      ['bench', `--seconds=${seconds}`],
      new RegExp(`--seconds must be a number > 0, got '${seconds}'$`),
    );
  assertUsageFailure(
    ['bench', '--only', 'conv,fit'],
    /--only takes a comma-separated list of conv, train, infer, train224, got 'conv,fit'$/,
  );
  for (const [name, value] of [
    ['train-size', '0'],
    ['train-batch', '2.5'],
    ['train-batch', 'all'],
  ])
    assertUsageFailure(
      ['bench', `--${name}`, value],
      new RegExp(`--${name} must be an integer ≥ 1, got '${value}'$`),
    );
  assertUsageFailure(
    ['bench', '--models', 'vgg19'],
    /--models takes a comma-separated list of .*, got 'vgg19'$/,
  );
  assertUsageFailure(['bench', '--table', 'saved.json'], /unknown option '--table'$/);
  assertUsageFailure(['bench', 'conv'], /unexpected argument 'conv': bench takes no arguments$/);
});

test('bench checks the workloads and models that bench/common.mjs measures', async () => {
  const threads = process.env.CONVNETS_THREADS;
  // common.mjs reads the command line and sets CONVNETS_THREADS as it loads; neither matters here, and it is put back.
  const common = (await import(join(repoRoot, 'bench', 'common.mjs'))) as {
    WORKLOADS: string[];
    INFERENCE_MODELS: string[];
  };
  if (threads === undefined) delete process.env.CONVNETS_THREADS;
  else process.env.CONVNETS_THREADS = threads;
  assert.deepEqual([...BENCH_WORKLOADS], common.WORKLOADS);
  assert.deepEqual([...BENCH_MODELS], common.INFERENCE_MODELS);
});

test("bench's 224×224 training figures count the MACs a step does: 3 × forward, aux heads in; fine-tuning less", async () => {
  const threads = process.env.CONVNETS_THREADS;
  const { macsPerImage } = (await import(join(repoRoot, 'bench', 'train224.mjs'))) as {
    macsPerImage: (
      library: typeof convnets,
      net: Module,
      workload: { model: string; size: number; trainFrom?: string },
    ) => number;
  };
  if (threads === undefined) delete process.env.CONVNETS_THREADS;
  else process.env.CONVNETS_THREADS = threads;
  const macs = (model: string, trainFrom?: string) =>
    macsPerImage(
      convnets,
      withBackend('meta', () => convnets.models.get(model)),
      { model, size: 224, trainFrom },
    );
  assert.equal(macs('resnet50'), 3 * 4_089_184_256);
  // torchvision's GoogLeNet: 1,498,376,192 MACs on the main path, 8,372,224 in the two aux heads that train.
  assert.equal(macs('googlenet'), 3 * (1_498_376_192 + 8_372_224));
  // Fine-tuning: ResNet-50's forward pass, and backward-weights and backward-data of layer4 and fc, except the
  // backward-data of the two convolutions reading layer3's 1024×14×14 output.
  const conv = (cin: number, cout: number, k: number, side: number) => cin * cout * k * k * side * side;
  const block0 = [
    conv(1024, 512, 1, 14),
    conv(512, 512, 3, 7),
    conv(512, 2048, 1, 7),
    conv(1024, 2048, 1, 7),
  ];
  const block = [conv(2048, 512, 1, 7), conv(512, 512, 3, 7), conv(512, 2048, 1, 7)];
  const trainable = [...block0, ...block, ...block, 2048 * 1000].reduce((a, b) => a + b, 0);
  const readingFrozen = conv(1024, 512, 1, 14) + conv(1024, 2048, 1, 7);
  assert.equal(macs('resnet50', 'layer4'), 4_089_184_256 + 2 * trainable - readingFrozen);
});

test("bench's table prints each training step's peak memory below its speed, with PyTorch ÷ convnets", async () => {
  await withTempDir(async (dir) => {
    const mebibyte = 2 ** 20;
    const step = (imagesPerSecond: number, peakMiB: number) => ({
      imagesPerSecond,
      peakBytes: peakMiB * mebibyte,
    });
    const saved = {
      date: '2026-12-06T00:00:00.000Z',
      machine: 'test machine',
      threads: 2,
      convnets: {
        conv: {},
        train: { resnet20: step(900, 345), lenet5: { imagesPerSecond: 9000 } },
        infer: {},
      },
      pytorch: { version: '1.13', threads: 2, conv: {}, infer: {}, train: { resnet20: step(600, 540) } },
    };
    const file = join(dir, 'saved.json');
    await writeFile(file, JSON.stringify(saved));
    const run = spawnSync(process.execPath, [join(repoRoot, 'bench', 'bench.mjs'), '--table', file], {
      encoding: 'utf8',
    });
    assert.equal(run.status, 0, run.stderr);
    const row = (label: string) => {
      const line = run.stdout.split('\n').find((l) => l.startsWith(`| ${label} `));
      assert.ok(line !== undefined, `no row "${label}" in:\n${run.stdout}`);
      return line.split('|').map((cell) => cell.trim());
    };
    assert.deepEqual(row('training step, resnet20, batch 128 (images/s)').slice(2, 7), [
      '900',
      '—',
      '600',
      '—',
      '1.50×',
    ]);
    assert.deepEqual(row('training step, resnet20, batch 128, peak resident memory (MiB)').slice(2, 7), [
      '345',
      '—',
      '540',
      '—',
      '1.57×',
    ]);
    // A step measured without its peak (an older saved run) has no memory row.
    assert.ok(!run.stdout.includes('lenet5, batch 128, peak'));
  });
});
