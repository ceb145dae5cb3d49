import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { saveWeights, writeNpy } from '../../src/io/index.js';
import * as models from '../../src/models/index.js';
import { rand } from '../../src/tensor/index.js';
import { saveCheckpoint } from '../../src/train/index.js';
import { nativeUnavailableReason } from '../../src/backend/native/addon.js';
import { assertOneLineFailure, assertUsageFailure, cli, cliMain } from './helpers.js';

test('predict: a missing or wrong file is one line naming it', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'convnets-failures-'));
  try {
    const weights = join(dir, 'w.safetensors');
    const input = join(dir, 'x.npy');
    await saveWeights(models.get('lenet5', { seed: 1 }), weights);
    await writeNpy(input, rand([1, 1, 32, 32]));
    const checkpoint = join(dir, 'run');
    await mkdir(checkpoint);
    await saveCheckpoint(checkpoint, {
      model: models.get('lenet5', { seed: 3 }),
      epoch: 1,
      meta: { model: 'lenet5', modelOptions: { seed: 3 }, data: 'fashion-mnist', size: 32 },
    });
    const notImage = join(dir, 'notes.png');
    await writeFile(notImage, 'not an image\n');

    const viaArch = (file: string) => ['predict', '--arch', 'lenet5', '--weights', file, '--input', input];
    assertOneLineFailure(
      viaArch(join(dir, 'missing.safetensors')),
      /--weights .*missing\.safetensors: no such file$/,
    );
    assertOneLineFailure(
      viaArch(dir),
      /--weights .*: is a directory, not a file or a checkpoint \(it has no weights\.safetensors\)$/,
    );
    assertOneLineFailure(
      ['predict', checkpoint, join(dir, 'missing.png')],
      /input .*missing\.png: no such file$/,
    );
    assertOneLineFailure(
      ['predict', checkpoint, join(dir, 'missing.npy')],
      /input .*missing\.npy: no such file$/,
    );
    // Without the optional package sharp the line says so instead.
    assertOneLineFailure(['predict', checkpoint, notImage], /(.*notes\.png: not an image|.*sharp)/);
    assertOneLineFailure(['predict', join(dir, 'no-run'), input], /.*no-run: no such file or directory$/);
    assertOneLineFailure(
      [...viaArch(weights), '--output', join(dir, 'absent', 'y.npy')],
      /--output .*y\.npy: the directory .*absent does not exist$/,
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('train --out: a file, a path through a file or a directory that cannot be created is one line', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'convnets-failures-'));
  try {
    const file = join(dir, 'a-file');
    await writeFile(file, 'not a directory');
    const train = (out: string) => ['train', 'lenet5', '--data', 'fashion-mnist', '--out', out];
    assertOneLineFailure(train(file), /--out .*a-file: exists and is not a directory$/);
    assertOneLineFailure(
      train(join(file, 'run')),
      /--out .*a-file\/run: a parent is a file, not a directory$/,
    );
    // procfs refuses new entries with ENOENT, where Node's recursive mkdir spins forever.
    if (existsSync('/proc/1'))
      assertOneLineFailure(train('/proc/1/x'), /--out \/proc\/1\/x: cannot create the directory/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('onnx test: directories without cases fail, saying so', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'convnets-failures-'));
  try {
    assertOneLineFailure(['onnx', 'test', dir], /no ONNX test cases .* in .*convnets-failures-/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('info, demo and models refuse arguments they do not take', () => {
  for (const verb of ['info', 'demo', 'models']) {
    assertUsageFailure(
      [verb, 'extra'],
      new RegExp(`unexpected argument 'extra': ${verb} takes no arguments$`),
    );
  }
  assertUsageFailure(['info', '--json'], /unknown option '--json'$/);
  assertUsageFailure(['info', '--jsn'], /unknown option '--jsn'$/);
  assertUsageFailure(['models', '--jsn'], /unknown option '--jsn' \(did you mean --json\?\)$/);
});

test('a negative number is an option value, checked as any other', () => {
  assertUsageFailure(['summary', 'lenet5', '--input', '-1'], /--input '-1' must be C,H,W or N,C,H,W/);
  assertUsageFailure(
    ['train', 'lenet5', '--data', 'fashion-mnist', '--epochs', '-1'],
    /--epochs must be an integer ≥ 1, got '-1'$/,
  );
  assertUsageFailure(['summary', 'lenet5', '--input'], /Option '--input <value>' argument missing$/);
});

test(
  'CONVNETS_WINOGRAD: info says how native convolutions run, and a bad value is one line',
  { skip: nativeUnavailableReason() ?? false },
  () => {
    const info = (value?: string) =>
      cli(['info'], cliMain, {
        CONVNETS_BACKEND: 'native',
        ...(value === undefined ? {} : { CONVNETS_WINOGRAD: value }),
      });
    assert.match(info().stdout, /^conv +Winograd's algorithm for 3×3 where faster, else direct$/m);
    assert.match(info('0').stdout, /^conv +direct only$/m);
    const bad = info('yes');
    assert.equal(bad.status, 1);
    assert.equal(bad.stderr, 'convnets info: CONVNETS_WINOGRAD=yes: expected 0 or 1\n');
  },
);
