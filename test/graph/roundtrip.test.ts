import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { importOnnx, loadWeights, readNpy } from '../../src/io/index.js';
import * as models from '../../src/models/index.js';
import { noGrad } from '../../src/tensor/index.js';
import { assertClose, repoRoot } from './helpers.js';

/**
 * torchvision's ResNet-18, GoogLeNet (no aux heads) and DenseNet-121 with random weights, exported by PyTorch to
 * .onnx and .pth (scripts/fixtures/onnx_roundtrip.py): convnets must reproduce PyTorch's output from both, to
 * 1e-4 relative. The files (about 200 MB) are made at test time into a cache directory, only where Debian's
 * PyTorch is installed, and reused while the script is unchanged. Batch 1 at 224×224 (CONVNETS_ROUNDTRIP_SIZE
 * changes it): about 10 s to make the files, then 0.2–0.7 s per net and file on the native backend, 1.3–2.2 s on the
 * reference one.
 */
const PYTHON = '/usr/bin/python3';
const SCRIPT = join(repoRoot, 'scripts/fixtures/onnx_roundtrip.py');
const SIZE = Number(process.env.CONVNETS_ROUNDTRIP_SIZE ?? 224);
const CACHE = join(process.env.CONVNETS_FIXTURE_CACHE ?? '/tmp/convnets-fixtures', `onnx-roundtrip-${SIZE}`);
const NETS = ['resnet18', 'googlenet', 'densenet121'] as const;

function torchAvailable(): boolean {
  if (!existsSync(PYTHON)) return false;
  const probe = spawnSync(PYTHON, ['-c', 'import torch, torchvision'], { encoding: 'utf8' });
  return probe.status === 0;
}

/** Runs the script into the cache unless the cache was made by this very script; returns the directory. */
function fixtures(): string {
  const stamp = join(CACHE, 'script.sha256');
  const hash = createHash('sha256').update(readFileSync(SCRIPT)).digest('hex');
  if (existsSync(stamp) && readFileSync(stamp, 'utf8') === hash) return CACHE;
  mkdirSync(CACHE, { recursive: true });
  const run = spawnSync(PYTHON, [SCRIPT, CACHE, String(SIZE)], {
    encoding: 'utf8',
    env: { ...process.env, OPENBLAS_CORETYPE: 'SkylakeX', OPENBLAS_NUM_THREADS: '1' },
  });
  assert.equal(run.status, 0, `${SCRIPT} failed:\n${run.stderr}`);
  writeFileSync(stamp, hash);
  return CACHE;
}

const skip = torchAvailable()
  ? false
  : `${PYTHON} with torch and torchvision not found: apt-get install python3-torch python3-torchvision`;

test(
  `torchvision nets from .onnx and .pth reproduce PyTorch's output (input ${SIZE}×${SIZE})`,
  { skip, timeout: 300_000 },
  async (t) => {
    let started = Date.now();
    const dir = fixtures();
    t.diagnostic(`fixtures ready in ${Date.now() - started} ms (${dir})`);
    const x = await readNpy(join(dir, 'input.npy'));
    for (const name of NETS) {
      const expected = (await readNpy(join(dir, `${name}.output.npy`))).data();

      started = Date.now();
      const imported = await importOnnx(join(dir, `${name}.onnx`));
      const fromOnnx = noGrad(() => imported.call(x)).data();
      assertClose(fromOnnx, expected, 1e-4, `${name}.onnx`);
      const onnxTime = Date.now() - started;

      started = Date.now();
      const zoo = models.get(name, name === 'googlenet' ? { auxLogits: false } : {});
      await loadWeights(zoo, join(dir, `${name}.pth`));
      zoo.eval();
      assertClose(noGrad(() => zoo.call(x)).data(), expected, 1e-4, `${name}.pth into models.get('${name}')`);
      const pthTime = Date.now() - started;

      // The .onnx file's initialisers carry the same state-dict keys (PyTorch exports no num_batches_tracked).
      const fromInitialisers = models.get(name, name === 'googlenet' ? { auxLogits: false } : {});
      const result = await loadWeights(fromInitialisers, join(dir, `${name}.onnx`), { strict: false });
      assert.ok(
        result.missingKeys.every((k) => k.endsWith('num_batches_tracked')),
        `missing: ${result.missingKeys.join(', ')}`,
      );
      assert.deepEqual(result.unexpectedKeys, []);
      fromInitialisers.eval();
      assertClose(
        noGrad(() => fromInitialisers.call(x)).data(),
        expected,
        1e-4,
        `${name}.onnx initialisers into the zoo`,
      );
      t.diagnostic(`${name}: importOnnx + forward ${onnxTime} ms, loadWeights(.pth) + forward ${pthTime} ms`);
    }
  },
);
