import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HOSTILE_FILES } from './hostile.js';
import { MUTATIONS_PER_FIXTURE, SEED, assertClean, runIsolated } from './isolated.js';

/**
 * Seeded mutations of every fixture, fed to every reader in a child process with a memory and a time limit on each
 * case: each outcome must be a value or a FormatError — never another error, a crash, a hang or a gigabyte. Then the
 * hostile files, each of which must end in a FormatError naming its field, well under the memory limit.
 */

const FIXTURES = [
  'sequential.pth',
  'sequential-legacy.pth',
  'sequential-protocol4.pth',
  'sequential-deflated.pth',
  'mixed.pth',
  'mixed.safetensors',
  'sequential.safetensors',
  'float32.npy',
  'int64.npy',
  'float32-v3.npy',
];

test('a case that throws another error, hangs, crashes or takes too much memory fails, named', async () => {
  const limits = { caseMs: 1500, rssBytes: 512 * 2 ** 20 };
  const failure = async (how: 'throw' | 'hang' | 'crash' | 'allocate') =>
    (await runIsolated({ kind: 'misbehave', how }, limits)).failures.join('; ');
  assert.match(await failure('throw'), /^case 0 \(misbehave: throw\): TypeError: not a FormatError$/);
  assert.match(await failure('hang'), /^case 0 \(misbehave: hang\): still running after 1500 ms$/);
  assert.match(await failure('crash'), /^case 0 \(misbehave: crash\): the child ended \(SIGSEGV\)/);
  assert.match(
    await failure('allocate'),
    /^case 0 \(misbehave: allocate\): (\d+ MiB resident|peak resident set \d+ MiB), past the limit$/,
  );
});

test('mutated .npy, safetensors and .pth files (zip and legacy) give a value or a FormatError, each case within its limits', async () => {
  const readers = ['pth', 'safetensors', 'npy'] as const;
  const report = await runIsolated({
    kind: 'files',
    seeds: FIXTURES,
    readers: [...readers],
    mutations: MUTATIONS_PER_FIXTURE,
    seed: SEED,
  });
  assertClean(report, [...readers], FIXTURES.length * MUTATIONS_PER_FIXTURE);
});

test('mutated HDF5 files (Keras layout: symbol tables, link messages; chunked datasets) give a value or a FormatError', async () => {
  const seeds = ['small.h5', 'small-latest.h5', 'chunked.h5'];
  const report = await runIsolated({
    kind: 'files',
    seeds,
    readers: ['hdf5'],
    mutations: MUTATIONS_PER_FIXTURE,
    seed: SEED + 2,
  });
  assertClean(report, ['hdf5'], seeds.length * MUTATIONS_PER_FIXTURE);
});

test("mutated Keras application layouts (InceptionV3's numbered layers, ResNet50's) map or give a FormatError", async () => {
  const seeds = ['inception_v3-layout.h5', 'resnet50-layout.h5'];
  const report = await runIsolated({
    kind: 'files',
    seeds,
    readers: ['keras shapes'],
    mutations: MUTATIONS_PER_FIXTURE,
    seed: SEED + 3,
  });
  assertClean(report, ['keras shapes'], seeds.length * MUTATIONS_PER_FIXTURE);
});

test('mutated pickles inside well-formed archives (their CRCs right) give a value or a FormatError', async () => {
  // The zip's CRC-32 check refuses most mutations of data.pkl before the pickle reader sees them; here it sees them.
  const seeds = ['sequential.pth', 'sequential-protocol4.pth', 'mixed.pth'];
  const report = await runIsolated({
    kind: 'pickles',
    seeds,
    readers: ['pth'],
    mutations: MUTATIONS_PER_FIXTURE,
    seed: SEED + 1,
  });
  assertClean(report, ['pth'], seeds.length * MUTATIONS_PER_FIXTURE);
});

test('hostile files end in a FormatError naming the field before allocating what they claim', async (t) => {
  for (const [index, file] of HOSTILE_FILES.entries()) {
    const report = await runIsolated({ kind: 'hostile', file: index });
    assert.deepEqual(report.failures, [], file.name);
    const [end] = report.ends;
    assert.equal(end?.outcome, 'FormatError', `${file.name}: ${end?.message}`);
    assert.match(end.message ?? '', file.refusal, file.name);
    const { size, rssBeforeReading } = report.started[0];
    const mib = (bytes = 0) => Math.round(bytes / 2 ** 20);
    t.diagnostic(
      `${file.name}: ${size} bytes; peak resident ${mib(end.peakRss)} MiB ` +
        `(${mib(rssBeforeReading)} MiB once built): ${end.message}`,
    );
  }
});
