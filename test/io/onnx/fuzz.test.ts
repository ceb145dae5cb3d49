import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FormatError } from '../../../src/errors.js';
import { DataType } from '../../../src/graph/onnx-ir.js';
import { DEFAULT_MAX_BYTES } from '../../../src/graph/index.js';
import { decodeTensorProto } from '../../../src/io/onnx/proto.js';
import { encodeTensorProto } from '../../../src/io/onnx/proto-encode.js';
import { decodeTensorData, emptyTensor } from '../../../src/io/onnx/tensor-data.js';
import { seeded } from '../helpers.js';
import { runIsolated, type Report } from '../isolated.js';
import { mutate } from './mutate.js';
import { MUTATED_MODELS, attributeCases } from './seeds.js';

/**
 * Seeded mutations of small .onnx files, and small models with their attributes set to boundary values: each model is
 * decoded, imported and, when it imports, run once on a small input, in a child process with a memory and a time
 * limit per case (isolated.ts). Each outcome must be a value, a FormatError (the file is malformed, or asks for what
 * convnets does not run) or a ShapeError (its shapes do not fit each other or the input, or imply a value past the
 * budget); anything else (another error, a crash, a hang, too much memory) fails, naming the case. Serialised tensors
 * are fuzzed in process: decoding them allocates no more than the bytes they hold.
 */
const MUTATIONS = Number(process.env.CONVNETS_FUZZ_MUTATIONS ?? 1000);
const SEED = Number(process.env.CONVNETS_FUZZ_SEED ?? 20240611);
/**
 * The budget mutated files run under: a mutation may ask for any size below the budget and get it, so the default
 * (1 GiB a value) would let a valid but large mutant pass the harness's 1 GB limit; 64 MiB keeps every case far
 * below it while the budget checks are what refuses the large ones.
 */
const FUZZ_MAX_BYTES = 64 * 2 ** 20;

/** Per seed, the cases that gave a value and those that gave each accepted error; fails on any other outcome. */
function assertOutcomes(report: Report, expected: Map<string, number>): void {
  assert.deepEqual(report.failures, []);
  for (const [seed, cases] of expected) {
    const counts = report.outcomes.get(seed) ?? {};
    const { value = 0, FormatError: refused = 0, ShapeError: misfit = 0, ...other } = counts;
    assert.deepEqual(other, {}, `${seed}: ${JSON.stringify(counts)}`);
    assert.equal(value + refused + misfit, cases, `${seed}: ${JSON.stringify(counts)}`);
  }
}

const summary = (report: Report, started: number): string =>
  `${[...report.outcomes].map(([seed, counts]) => `${seed} ${JSON.stringify(counts)}`).join('; ')}; ` +
  `peak resident ${Math.round(report.peakRss / 2 ** 20)} MiB, ${((Date.now() - started) / 1000).toFixed(1)} s`;

test('mutated .onnx files, imported and run once, give a value, a FormatError or a ShapeError', async (t) => {
  const seeds = Object.keys(MUTATED_MODELS);
  const started = Date.now();
  const report = await runIsolated({
    kind: 'onnx-fuzz',
    cases: 'files',
    seeds,
    mutations: MUTATIONS,
    seed: SEED,
    maxBytes: FUZZ_MAX_BYTES,
  });
  assertOutcomes(report, new Map(seeds.map((seed) => [seed, MUTATIONS])));
  for (const seed of seeds) {
    const { value = 0 } = report.outcomes.get(seed) ?? {};
    // Some mutations still run (weights, names), most are refused: both paths are exercised.
    assert.ok(value > 0 && value < MUTATIONS, `${seed}: ${value} of ${MUTATIONS} ran`);
  }
  t.diagnostic(`${seeds.length} × ${MUTATIONS} mutations: ${summary(report, started)}`);
});

test('attributes set to 0, −1, 2^31, 2^32, 2^53, INT64_MAX, NaN, ±Infinity give a value or a typed error', async (t) => {
  const cases = attributeCases();
  const expected = new Map<string, number>();
  for (const c of cases) expected.set(c.seed, (expected.get(c.seed) ?? 0) + 1);
  const started = Date.now();
  // The default budget: every boundary value past 2^31 must be refused before it is allocated.
  const report = await runIsolated({
    kind: 'onnx-fuzz',
    cases: 'attributes',
    seeds: [],
    mutations: 0,
    seed: SEED,
    maxBytes: DEFAULT_MAX_BYTES,
  });
  assertOutcomes(report, expected);
  const refused = [...report.outcomes.values()].reduce(
    (n, { FormatError: f = 0, ShapeError: s = 0 }) => n + f + s,
    0,
  );
  assert.ok(refused > 0 && refused < cases.length, `${refused} of ${cases.length} refused`);
  t.diagnostic(`${cases.length} attribute cases: ${summary(report, started)}`);
});

/** In process: each mutation of `original` read, or refused with a FormatError. */
function fuzzInProcess(
  name: string,
  original: Uint8Array,
  read: (bytes: Uint8Array) => void,
  seed: number,
): string[] {
  const random = seeded(seed);
  const failures: string[] = [];
  for (let m = 0; m < MUTATIONS; m++) {
    const { bytes, how } = mutate(original, random);
    try {
      read(bytes);
    } catch (error) {
      if (!(error instanceof FormatError)) failures.push(`${name}, mutation ${m} (${how}): ${String(error)}`);
    }
  }
  return failures;
}

test('mutated TensorProtos decode or give a FormatError', { timeout: 60_000 }, () => {
  const tensors = [
    encodeTensorProto({
      ...emptyTensor(),
      name: 'f',
      dims: [2, 3],
      dataType: DataType.FLOAT,
      rawData: new Uint8Array(24).fill(0x3f),
    }),
    encodeTensorProto({
      ...emptyTensor(),
      name: 'i',
      dims: [4],
      dataType: DataType.INT64,
      int64Data: [1, -2, 2 ** 40, 0],
    }),
    encodeTensorProto({
      ...emptyTensor(),
      name: 'h',
      dims: [2],
      dataType: DataType.FLOAT16,
      int32Data: [0x3c00, 0x7c00],
    }),
  ];
  tensors.forEach((bytes, i) => {
    const failures = fuzzInProcess(
      `tensor ${i}`,
      bytes,
      (b) => void decodeTensorData(decodeTensorProto(b), 'fuzzed'),
      SEED + 10 + i,
    );
    assert.deepEqual(failures, []);
  });
});
