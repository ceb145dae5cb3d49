// The child process behind isolated.ts: runs one job of reader cases (seeded mutations, or one hostile file) or of
// ONNX models (imported and run once: mutated files, attributes at boundary values, one hostile model), and reports
// each case on stdout, one JSON line when it starts and one when it ends, with the process's peak resident set so far.
// It does nothing unless started by runIsolated (the test runner also loads every file under test/).
import { mkdtempSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { decodeCifarBatch } from '../../src/data/datasets/cifar.js';
import { decodeIdx } from '../../src/data/datasets/idx.js';
import { FormatError, ShapeError } from '../../src/errors.js';
import { OnnxModel } from '../../src/graph/model.js';
import {
  decodeCaffe,
  decodeCaffemodel,
  decodeNpy,
  decodePth,
  decodeSafetensors,
  parsePrototxt,
} from '../../src/io/index.js';
import { ZipArchive } from '../../src/io/pth/zip.js';
import { Hdf5Dataset, Hdf5File, Hdf5Group } from '../../src/io/hdf5/index.js';
import { kerasLayers } from '../../src/io/keras/layout.js';
import { kerasShapes } from '../../src/io/keras/index.js';
import { fixture, seeded, storedZip } from './helpers.js';
import { HOSTILE_FILES } from './hostile.js';
import { mutate } from './mutate.js';
import { HOSTILE_MODELS } from './onnx/hostile.js';
import { mutate as mutateProtobuf } from './onnx/mutate.js';
import { importAndRunOnce, runOnce } from './onnx/run-once.js';
import { MUTATED_MODELS, attributeCases } from './onnx/seeds.js';

export const WORKER_FLAG = 'CONVNETS_READ_WORKER';

/** Seeded mutations of `seeds`, each fed to every reader named; or the pickles of `seeds` mutated inside archives. */
export interface FuzzJob {
  kind: 'files' | 'pickles';
  seeds: string[];
  readers: ReaderName[];
  mutations: number;
  seed: number;
}

export interface HostileJob {
  kind: 'hostile';
  /** An index into HOSTILE_FILES. */
  file: number;
}

/** A case that misbehaves on purpose, to show the limits catch it: an untyped error, a hang, a crash, a gigabyte. */
export interface MisbehaveJob {
  kind: 'misbehave';
  how: 'throw' | 'hang' | 'crash' | 'allocate';
}

/** One hostile .onnx model, imported from a file and run once on its small input. */
export interface OnnxHostileJob {
  kind: 'onnx-hostile';
  /** An index into HOSTILE_MODELS. */
  model: number;
}

/**
 * Seeded mutations of the .onnx files named (MUTATED_MODELS), or every attribute case (attributeCases): each model
 * that imports is run once on a small input, under the budget `maxBytes`.
 */
export interface OnnxFuzzJob {
  kind: 'onnx-fuzz';
  cases: 'files' | 'attributes';
  seeds: string[];
  mutations: number;
  seed: number;
  maxBytes: number;
}

export type Job = FuzzJob | HostileJob | MisbehaveJob | OnnxHostileJob | OnnxFuzzJob;

/** A value, a typed error a job accepts (readers: FormatError only), or anything else ('error': a failure). */
export type Outcome = 'value' | 'FormatError' | 'ShapeError' | 'error';

/** One case's end: its outcome, and the peak resident set of the process so far, in bytes. */
export interface CaseEnd {
  case: number;
  reader: string;
  outcome: Outcome;
  message?: string;
  peakRss: number;
}

const disposeAll = (tensors: Iterable<{ dispose(): void }>): void => {
  for (const t of tensors) t.dispose();
};

const CIFAR10 = { labelBytes: 1, labelIndex: 0, numClasses: 10 } as const;
const CIFAR100 = { labelBytes: 2, labelIndex: 1, numClasses: 100 } as const;

const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
/** The Caffe fixture's two files, each read with a mutation of the other (test/fixtures/caffe/). */
const caffeFixture = (name: string) => () => fixture(`../caffe/${name}`);
const tinyPrototxt = caffeFixture('tiny.prototxt');
const tinyCaffemodel = caffeFixture('tiny.caffemodel');

/** Every attribute and dataset of an HDF5 file, a few levels deep (a mutated group may contain itself). */
function readHdf5Tree(group: Hdf5Group, depth = 0): void {
  for (const name of group.attributeNames()) group.attribute(name);
  if (depth > 4) return;
  for (const name of group.members().keys()) {
    const member = group.get(name);
    if (member instanceof Hdf5Group) readHdf5Tree(member, depth + 1);
    else if (member instanceof Hdf5Dataset) member.read();
  }
}

function readKerasHdf5(bytes: Uint8Array): void {
  const file = new Hdf5File(bytes);
  readHdf5Tree(file.root);
  for (const weights of kerasLayers(file).values()) for (const dataset of weights.values()) dataset.read();
}

const READERS = {
  hdf5: readKerasHdf5,
  // The mapping onto convnets' keys, names and shapes only (the layout fixtures' storage was never written).
  'keras shapes': (bytes: Uint8Array) => kerasShapes(bytes),
  npy: (bytes: Uint8Array) => decodeNpy(bytes).dispose(),
  safetensors: (bytes: Uint8Array) => disposeAll(decodeSafetensors(bytes).tensors.values()),
  pth: (bytes: Uint8Array) => disposeAll(decodePth(bytes).values()),
  'idx images': (bytes: Uint8Array) => decodeIdx(bytes, 'fuzz', 3),
  'idx labels': (bytes: Uint8Array) => decodeIdx(bytes, 'fuzz', 1),
  'cifar-10': (bytes: Uint8Array) => decodeCifarBatch(bytes, 'fuzz', CIFAR10),
  'cifar-100': (bytes: Uint8Array) => decodeCifarBatch(bytes, 'fuzz', CIFAR100),
  caffemodel: (bytes: Uint8Array) => decodeCaffemodel(bytes),
  prototxt: (bytes: Uint8Array) => parsePrototxt(text(bytes)),
  'caffe net': (bytes: Uint8Array) => decodeCaffe(text(bytes), tinyCaffemodel()),
  'caffe weights': (bytes: Uint8Array) => decodeCaffe(text(tinyPrototxt()), bytes),
};
export type ReaderName = keyof typeof READERS;

function idx(magic: number, dimensions: number[], values: (i: number) => number): Uint8Array {
  const header = new DataView(new ArrayBuffer(4 + 4 * dimensions.length));
  header.setUint32(0, magic);
  dimensions.forEach((d, i) => header.setUint32(4 + 4 * i, d));
  const count = dimensions.reduce((a, b) => a * b, 1);
  return Buffer.concat([
    new Uint8Array(header.buffer),
    Uint8Array.from({ length: count }, (_, i) => values(i)),
  ]);
}

function cifarRecords(labels: number[][]): Uint8Array {
  return Buffer.concat(
    labels.map((label, r) => Uint8Array.from([...label, ...Array(3072).fill(r * 40 + 7)])),
  );
}

/** Small, valid dataset files, plain and gzipped, to mutate. */
const DATASET_SEEDS: Record<string, () => Uint8Array> = {
  'images.idx': () => idx(0x803, [3, 4, 4], (i) => (i * 37) % 256),
  'labels.idx': () => idx(0x801, [3], (i) => i),
  'images.idx.gz': () => gzipSync(idx(0x803, [3, 4, 4], (i) => (i * 37) % 256)),
  'labels.idx.gz': () => gzipSync(idx(0x801, [3], (i) => i)),
  'cifar-10.bin': () => cifarRecords([[3], [9]]),
  'cifar-10.bin.gz': () => gzipSync(cifarRecords([[3], [9]])),
  'cifar-100.bin': () =>
    cifarRecords([
      [1, 42],
      [19, 99],
    ]),
};

function seedBytes(name: string): Uint8Array {
  if (name.endsWith('.h5'))
    return new Uint8Array(readFileSync(new URL(`../../../test/fixtures/keras/${name}`, import.meta.url)));
  return name in DATASET_SEEDS ? new Uint8Array(DATASET_SEEDS[name]()) : fixture(name);
}

/** A well-formed archive (CRCs right) around each mutation of the seed's data.pkl, so the pickle reader sees it. */
function* pickleMutants(name: string, random: () => number, count: number) {
  const archive = new ZipArchive(fixture(name));
  const entries = [...archive.entries.keys()].map((entry): [string, Uint8Array] => [
    entry,
    archive.read(entry),
  ]);
  const pickle = entries.findIndex(([entry]) => entry.endsWith('/data.pkl'));
  for (let m = 0; m < count; m++) {
    const { bytes, how } = mutate(entries[pickle][1], random);
    const mutated = entries.map(([entry, data], i): [string, Uint8Array] => [
      entry,
      i === pickle ? bytes : data,
    ]);
    yield { bytes: storedZip(mutated), how: `data.pkl ${how}` };
  }
}

function* fileMutants(name: string, random: () => number, count: number) {
  const original = seedBytes(name);
  for (let m = 0; m < count; m++) yield mutate(original, random);
}

const emit = (event: object): void => {
  writeSync(1, `${JSON.stringify(event)}\n`);
};

const peakRss = (): number => process.resourceUsage().maxRSS * 1024;

/**
 * The typed errors running an ONNX model may end in: FormatError (the file is malformed, or asks for what convnets
 * does not run) and ShapeError (its shapes do not fit each other or the input, or imply a value past the budget).
 * Anything else is a bug: a ValueError means a bad option of the caller's, which a file cannot be, a BackendError
 * that the runtime let through what the reference backend cannot run, or used a value after releasing it.
 */
const ONNX_ERRORS = [FormatError, ShapeError];

function describeError(error: unknown, accepted = [FormatError]): Pick<CaseEnd, 'outcome' | 'message'> {
  const type = accepted.find((kind) => error instanceof kind);
  if (type !== undefined)
    return { outcome: type.name as Outcome, message: (error as Error).message.slice(0, 400) };
  return {
    outcome: 'error',
    message: error instanceof Error ? `${error.name}: ${error.message}` : String(error),
  };
}

function runFuzz(job: FuzzJob): void {
  const random = seeded(job.seed);
  let index = 0;
  for (const name of job.seeds) {
    const mutants = job.kind === 'pickles' ? pickleMutants : fileMutants;
    for (const { bytes, how } of mutants(name, random, job.mutations)) {
      for (const reader of job.readers) {
        emit({ case: index, what: `${name}, ${how}, ${reader}` });
        let end: Pick<CaseEnd, 'outcome' | 'message'> = { outcome: 'value' };
        try {
          READERS[reader](bytes);
        } catch (error) {
          end = describeError(error);
        }
        // FormatErrors are expected by the thousand: only other errors carry their message.
        if (end.outcome === 'FormatError') delete end.message;
        emit({ case: index, reader, ...end, peakRss: peakRss() });
        index++;
      }
    }
  }
}

async function runHostile(job: HostileJob): Promise<void> {
  const file = HOSTILE_FILES[job.file];
  const dir = mkdtempSync(join(tmpdir(), 'convnets-hostile-'));
  try {
    const path = join(dir, 'file');
    const bytes = file.build();
    writeFileSync(path, bytes);
    emit({ case: 0, what: file.name, size: bytes.length, rssBeforeReading: peakRss() });
    let end: Pick<CaseEnd, 'outcome' | 'message'> = { outcome: 'value' };
    try {
      await file.read(path);
    } catch (error) {
      end = describeError(error);
    }
    emit({ case: 0, reader: file.name, ...end, peakRss: peakRss() });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function runOnnxHostile(job: OnnxHostileJob): Promise<void> {
  const hostile = HOSTILE_MODELS[job.model];
  const dir = mkdtempSync(join(tmpdir(), 'convnets-hostile-'));
  try {
    const path = join(dir, 'model.onnx');
    const bytes = hostile.build();
    writeFileSync(path, bytes);
    emit({ case: 0, what: hostile.name, size: bytes.length, rssBeforeReading: peakRss() });
    let end: Pick<CaseEnd, 'outcome' | 'message'> = { outcome: 'value' };
    try {
      await importAndRunOnce(path, seeded(job.model), {}, hostile.input.shape);
    } catch (error) {
      end = describeError(error, ONNX_ERRORS);
    }
    emit({ case: 0, reader: hostile.name, ...end, peakRss: peakRss() });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Runs one ONNX case: emits its start and its end (the message only for failures, which are few). */
async function runOnnxCase(
  index: number,
  reader: string,
  what: string,
  run: () => Promise<void> | void,
): Promise<void> {
  emit({ case: index, what: `${reader}, ${what}` });
  let end: Pick<CaseEnd, 'outcome' | 'message'> = { outcome: 'value' };
  try {
    await run();
  } catch (error) {
    end = describeError(error, ONNX_ERRORS);
  }
  if (end.outcome !== 'error') delete end.message;
  emit({ case: index, reader, ...end, peakRss: peakRss() });
}

async function runOnnxFuzz(job: OnnxFuzzJob): Promise<void> {
  const random = seeded(job.seed);
  const options = { maxBytes: job.maxBytes };
  let index = 0;
  if (job.cases === 'attributes') {
    for (const c of attributeCases()) {
      await runOnnxCase(index++, c.seed, c.what, () => runOnce(new OnnxModel(c.build(), options), random));
    }
    return;
  }
  for (const name of job.seeds) {
    const original = MUTATED_MODELS[name]();
    for (let m = 0; m < job.mutations; m++) {
      const { bytes, how } = mutateProtobuf(original, random);
      await runOnnxCase(index++, name, how, () => importAndRunOnce(bytes, random, options));
    }
  }
}

function runMisbehave(job: MisbehaveJob): void {
  emit({ case: 0, what: `misbehave: ${job.how}` });
  let end: Pick<CaseEnd, 'outcome' | 'message'> = { outcome: 'value' };
  try {
    if (job.how === 'throw') throw new TypeError('not a FormatError');
    if (job.how === 'crash') process.kill(process.pid, 'SIGSEGV');
    if (job.how === 'hang') for (;;);
    // Touched memory is resident: 8 × 128 MiB, held until the case ends.
    const held = Array.from({ length: 8 }, () => Buffer.alloc(2 ** 27, 1));
    const wait = Date.now() + 2000;
    while (Date.now() < wait && held.length > 0);
  } catch (error) {
    end = describeError(error);
  }
  emit({ case: 0, reader: 'misbehave', ...end, peakRss: peakRss() });
}

if (process.env[WORKER_FLAG] === '1') {
  const job = JSON.parse(process.argv[2]) as Job;
  if (job.kind === 'hostile') await runHostile(job);
  else if (job.kind === 'onnx-hostile') await runOnnxHostile(job);
  else if (job.kind === 'onnx-fuzz') await runOnnxFuzz(job);
  else if (job.kind === 'misbehave') runMisbehave(job);
  else runFuzz(job);
  emit({ done: true });
}
